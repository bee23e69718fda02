package storage_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage"
	"weibao/storage/storagetest"
)

func TestCreateTicketFunc(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(t *bot.Ticket) (bot.Effects, error)
		fail bool
	}{
		{"effects quote the number", func(t *bot.Ticket) (bot.Effects, error) {
			ev, err := t.Apply(bot.Change{Kind: bot.EventPaged, Actor: bot.ActorSystem, At: t.ReportedAt, Text: "L0 wecom eng1"})
			return bot.Effects{Events: []bot.Event{
				{Kind: bot.EventReported, Actor: "nurse1", At: t.ReportedAt, To: bot.StatusNew},
				ev},
				Messages: []bot.Outgoing{{Key: t.No + "/reported/1/nurse1", ToChat: "wr1", Text: "已登记工单 " + t.No}}}, err
		}, false},
		{"fn fails: nothing stored", func(t *bot.Ticket) (bot.Effects, error) {
			return bot.Effects{Messages: []bot.Outgoing{{Key: t.No + "/x", Text: "x"}}}, boom
		}, true},
		{"a message without key: nothing stored", func(t *bot.Ticket) (bot.Effects, error) {
			return bot.Effects{Events: []bot.Event{{Kind: bot.EventReported, Actor: "nurse1", At: t.ReportedAt, To: bot.StatusNew}},
				Messages: []bot.Outgoing{{Text: "x"}}}, nil
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := storagetest.Open(t)
			ctx := context.Background()
			tk := newTicket(t, t0)
			var seen string
			err := db.CreateTicketFunc(ctx, tk, func(x *bot.Ticket) (bot.Effects, error) {
				seen = x.No
				return tt.fn(x)
			})
			if (err != nil) != tt.fail {
				t.Fatalf("err = %v, want failure %v", err, tt.fail)
			}
			if seen != "F20261126-0001" {
				t.Errorf("fn saw number %q", seen)
			}
			ts, _ := db.Tickets(ctx, bot.TicketFilter{})
			if err != nil {
				if len(ts) != 0 {
					t.Errorf("a failed creation stored %d tickets", len(ts))
				}
				if n, _ := db.PendingOutbox(ctx); n != 0 {
					t.Errorf("a failed creation queued %d messages", n)
				}
				return
			}
			if tk.No != "F20261126-0001" || tk.Version != 1 || tk.ID == 0 || tk.Status != bot.StatusNew {
				t.Errorf("created %+v", tk)
			}
			tl, err := db.Timeline(ctx, tk.No)
			if err != nil || len(tl) != 2 || tl[1].Kind != bot.EventPaged || tl[1].TicketNo != tk.No {
				t.Errorf("timeline %+v, %v", tl, err)
			}
			out, err := db.OutboxEntries(ctx, tk.No)
			if err != nil || len(out) != 1 || out[0].Key != tk.No+"/reported/1/nurse1" || out[0].Status != "pending" {
				t.Errorf("outbox %+v, %v", out, err)
			}
		})
	}
}

// link records that user reported the same fault again, as ticketing.Link does.
func link(t *testing.T, db *storage.DB, no, user string, at time.Time) {
	t.Helper()
	_, err := db.UpdateTicket(context.Background(), no, func(tk *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
		ev, err := tk.Apply(bot.Change{Kind: bot.EventLinked, Actor: user, At: at, Text: user})
		return bot.Effects{Events: []bot.Event{ev}}, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestReporters(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	a := create(t, db, t0)
	b := create(t, db, t0.Add(time.Minute))
	link(t, db, a.No, "nurse3", t0.Add(2*time.Minute))
	link(t, db, a.No, "nurse2", t0.Add(3*time.Minute))
	link(t, db, a.No, "nurse3", t0.Add(4*time.Minute)) // linked twice
	link(t, db, a.No, "nurse1", t0.Add(5*time.Minute)) // the reporter herself
	tests := []struct {
		no      string
		want    []string
		wantErr error
	}{
		{a.No, []string{"nurse1", "nurse3", "nurse2"}, nil},
		{b.No, []string{"nurse1"}, nil},
		{"F20990101-0001", nil, bot.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.no, func(t *testing.T) {
			got, err := db.Reporters(ctx, tt.no)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reporters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReportedTickets(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	first := create(t, db, t0)                    // nurse1's
	second := create(t, db, t0.Add(time.Minute))  // nurse1's, resolved below
	third := create(t, db, t0.Add(2*time.Minute)) // nurse1's, nurse2 linked
	link(t, db, third.No, "nurse2", t0.Add(3*time.Minute))
	_, err := db.UpdateTicket(ctx, second.No, func(tk *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
		ev, err := tk.Apply(bot.Change{Kind: bot.EventResolved, Actor: "eng1", At: t0.Add(4 * time.Minute), Cause: "c", Solution: "s"})
		return bot.Effects{Events: []bot.Event{ev}}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		user     string
		statuses []bot.Status
		want     []string
	}{
		{"reporter, every status, newest first", "nurse1", nil, []string{third.No, second.No, first.No}},
		{"reporter, resolved only", "nurse1", []bot.Status{bot.StatusResolved}, []string{second.No}},
		{"linked reporter", "nurse2", nil, []string{third.No}},
		{"linked reporter, other statuses", "nurse2", []bot.Status{bot.StatusResolved}, nil},
		{"nobody", "nurse9", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := db.ReportedTickets(ctx, tt.user, tt.statuses...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, tk := range ts {
				got = append(got, tk.No)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tickets (-want +got):\n%s", diff)
			}
		})
	}
	if ts, _ := db.ReportedTickets(ctx, "nurse2"); len(ts) != 1 || !strings.HasPrefix(ts[0].No, "F2026") || ts[0].ReporterID != "nurse1" {
		t.Errorf("a linked reporter's ticket must load whole: %+v", ts)
	}
}
