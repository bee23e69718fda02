package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage"
	"weibao/storage/storagetest"
)

var t0 = time.Date(2026, 11, 26, 1, 2, 3, 456789000, time.UTC) // 09:02 in Shanghai

func newTicket(t *testing.T, at time.Time) *bot.Ticket {
	t.Helper()
	tk, _, err := bot.NewTicket(bot.Ticket{ReporterID: "nurse1", WardCode: "med-icu", ChatID: "wr1", Category: "login",
		Description: "护士站电脑登不上重症系统", Classification: bot.Classification{Scope: bot.ScopeDepartment,
			Type: bot.TypeSoftware, Severity: bot.SeverityClinical, Difficulty: bot.DifficultyRoutine, Priority: bot.P2,
			SLAClass: "routine"}, Due: bot.Deadlines{Ack: at.Add(10 * time.Minute), Resolve: at.Add(30 * time.Minute)}},
		"nurse1", at)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func create(t *testing.T, db *storage.DB, at time.Time) *bot.Ticket {
	t.Helper()
	tk := newTicket(t, at)
	ev := bot.Event{Kind: bot.EventReported, Actor: "nurse1", At: at, To: bot.StatusNew, Detail: tk.Description}
	err := db.CreateTicket(context.Background(), tk, bot.Effects{Events: []bot.Event{ev},
		Messages: []bot.Outgoing{{Key: fmt.Sprintf("created:%d", at.UnixNano()), ToChat: "wr1", Text: "已收到"}}})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestCreateAndLoad(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	tk := create(t, db, t0)
	if tk.No != "F20261126-0001" || tk.ID == 0 || tk.Version != 1 {
		t.Fatalf("created ticket: no=%s id=%d version=%d", tk.No, tk.ID, tk.Version)
	}
	got, err := db.Ticket(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tk, got); diff != "" {
		t.Errorf("loaded ticket differs from created (-created +loaded):\n%s", diff)
	}
	// 16:30 UTC is already the next day in Shanghai: numbering follows local days.
	next := create(t, db, time.Date(2026, 11, 26, 16, 30, 0, 0, time.UTC))
	if next.No != "F20261127-0001" {
		t.Errorf("local-day numbering: got %s", next.No)
	}
	if _, err := db.Ticket(ctx, "F20261126-9999"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown ticket: err = %v, want ErrNotFound", err)
	}
	if _, err := db.Timeline(ctx, "F20261126-9999"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown ticket's timeline: err = %v, want ErrNotFound", err)
	}
}

func TestConcurrentNumbersAreUnique(t *testing.T) {
	db := storagetest.Open(t)
	const n = 40
	var wg sync.WaitGroup
	nos := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := newTicket(t, t0.Add(time.Duration(i)*time.Millisecond))
			if err := db.CreateTicket(context.Background(), tk, bot.Effects{}); err != nil {
				errs <- err
				return
			}
			nos <- tk.No
		}()
	}
	wg.Wait()
	close(nos)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for no := range nos {
		if seen[no] {
			t.Errorf("number %s given twice", no)
		}
		seen[no] = true
	}
	for i := 1; i <= n; i++ {
		if no := fmt.Sprintf("F20261126-%04d", i); !seen[no] {
			t.Errorf("number %s missing", no)
		}
	}
}

func TestUpdateAppendsTimeline(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	tk := create(t, db, t0)
	apply := func(c bot.Change) (*bot.Ticket, error) {
		return db.UpdateTicket(ctx, tk.No, func(t *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
			ev, err := t.Apply(c)
			return bot.Effects{Events: []bot.Event{ev}}, err
		})
	}
	at := t0
	for _, c := range []bot.Change{
		{Kind: bot.EventAcknowledged, Actor: "eng1"},
		{Kind: bot.EventWorkaround, Actor: "eng1", Text: "先用纸质护理记录"},
		{Kind: bot.EventResolved, Actor: "eng1", Cause: "证书过期", Solution: "更新证书"},
		{Kind: bot.EventConfirmed, Actor: "nurse1"},
		{Kind: bot.EventClosed, Actor: bot.ActorSystem},
	} {
		at = at.Add(time.Minute)
		c.At = at
		if _, err := apply(c); err != nil {
			t.Fatalf("%s: %v", c.Kind, err)
		}
	}
	// An illegal change is refused and leaves no trace.
	before, _ := db.Ticket(ctx, tk.No)
	if _, err := apply(bot.Change{Kind: bot.EventAcknowledged, Actor: "eng2", At: at}); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("ack of closed ticket: err = %v", err)
	}
	after, _ := db.Ticket(ctx, tk.No)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("refused change altered the ticket:\n%s", diff)
	}
	evs, err := db.Timeline(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []bot.EventKind
	for _, e := range evs {
		kinds = append(kinds, e.Kind)
	}
	want := []bot.EventKind{bot.EventReported, bot.EventAcknowledged, bot.EventWorkaround, bot.EventResolved,
		bot.EventConfirmed, bot.EventClosed}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if after.Status != bot.StatusClosed || after.Version != 6 || after.Cause != "证书过期" || evs[3].Detail != "证书过期 / 更新证书" {
		t.Errorf("final ticket %+v, resolve event %+v", after, evs[3])
	}
}

// Two engineers press 接单 at the same moment: exactly one wins, the others
// are told why, and the timeline holds one acknowledgement.
func TestConcurrentAcknowledgeHasOneWinner(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	tk := create(t, db, t0)
	const n = 8
	var wg sync.WaitGroup
	results := make(chan error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := db.UpdateTicket(ctx, tk.No, func(t *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
				ev, err := t.Apply(bot.Change{Kind: bot.EventAcknowledged, Actor: fmt.Sprintf("eng%d", i), At: t0.Add(time.Minute)})
				return bot.Effects{Events: []bot.Event{ev}, Messages: []bot.Outgoing{{Key: "ack:" + tk.No, Text: "已接单"}}}, err
			})
			results <- err
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, bot.ErrInvalid), errors.Is(err, bot.ErrConflict):
			if key, _ := bot.UserText(err); key == "" {
				t.Errorf("loser got no explanation: %v", err)
			}
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d winners, want exactly 1", wins)
	}
	evs, _ := db.Timeline(ctx, tk.No)
	acks := 0
	for _, e := range evs {
		if e.Kind == bot.EventAcknowledged {
			acks++
		}
	}
	if acks != 1 {
		t.Errorf("%d acknowledgement events, want 1", acks)
	}
}

func TestOutboxKeyIsIdempotent(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	tk := create(t, db, t0)
	for range 3 {
		_, err := db.UpdateTicket(ctx, tk.No, func(t *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
			ev, err := t.Apply(bot.Change{Kind: bot.EventNoted, Actor: "eng1", At: t0, Text: "备注"})
			return bot.Effects{Events: []bot.Event{ev}, Messages: []bot.Outgoing{{Key: "same-key", Text: "x"}}}, err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.PendingOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the creation message and one "same-key"
		t.Errorf("outbox holds %d pending messages, want 2", n)
	}
}

func TestTicketsFilter(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	a := create(t, db, t0)
	create(t, db, t0.Add(time.Hour))
	db.UpdateTicket(ctx, a.No, func(t *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
		ev, err := t.Apply(bot.Change{Kind: bot.EventAcknowledged, Actor: "eng1", At: t0})
		return bot.Effects{Events: []bot.Event{ev}}, err
	})
	tests := []struct {
		name string
		f    bot.TicketFilter
		want int
	}{
		{"all", bot.TicketFilter{}, 2},
		{"new only", bot.TicketFilter{Statuses: []bot.Status{bot.StatusNew}}, 1},
		{"assignee", bot.TicketFilter{AssigneeID: "eng1"}, 1},
		{"ward", bot.TicketFilter{WardCode: "med-icu"}, 2},
		{"other ward", bot.TicketFilter{WardCode: "picu"}, 0},
		{"time window", bot.TicketFilter{From: t0.Add(time.Minute), To: t0.Add(2 * time.Hour)}, 1},
		{"limit", bot.TicketFilter{Limit: 1}, 1},
	}
	for _, tt := range tests {
		got, err := db.Tickets(ctx, tt.f)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != tt.want {
			t.Errorf("%s: %d tickets, want %d", tt.name, len(got), tt.want)
		}
	}
}

func TestSyncDirectory(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	d := storage.DirectoryData{
		Campuses: []bot.Campus{{Code: "dongjie", Name: "东街院区", Lat: 26.07, Lng: 119.3}},
		Wards:    []bot.Ward{{Code: "med-icu", Name: "内科ICU", CampusCode: "dongjie", ChatID: "wr1"}, {Code: "picu", Name: "小儿ICU"}},
		People: []bot.Person{{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"},
			{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer, Mobile: "13800000001"}},
		Categories: []bot.Category{{Code: "login", Name: "无法登录", Type: bot.TypeSoftware, Difficulty: bot.DifficultySimple,
			Keywords: []string{"登录", "密码"}, SelfHelp: "清除缓存"}, {Code: "other", Name: "其他", Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther}},
	}
	if err := db.SyncDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	// Run twice: the second run is an update, and eng1 leaves the roster.
	d.People = d.People[:1]
	d.People[0].Name = "王芳"
	if err := db.SyncDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	w, err := db.WardByChat(ctx, "wr1")
	if err != nil || w.Code != "med-icu" {
		t.Fatalf("WardByChat: %+v %v", w, err)
	}
	if _, err := db.WardByChat(ctx, "nope"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown chat: err = %v", err)
	}
	p, err := db.Person(ctx, "nurse1")
	if err != nil || p.Name != "王芳" || !p.Active {
		t.Errorf("updated person: %+v %v", p, err)
	}
	gone, err := db.Person(ctx, "eng1")
	if err != nil || gone.Active {
		t.Errorf("removed person must stay, inactive: %+v %v", gone, err)
	}
	engs, _ := db.People(ctx, bot.RoleEngineer)
	if len(engs) != 0 {
		t.Errorf("inactive engineer still listed: %+v", engs)
	}
	cats, err := db.Categories(ctx)
	if err != nil || len(cats) != 2 || cats[0].Code != "login" || cmp.Diff([]string{"登录", "密码"}, cats[0].Keywords) != "" {
		t.Errorf("categories: %+v %v", cats, err)
	}
	c, err := db.Campus(ctx, "dongjie")
	if err != nil || c.Lat != 26.07 {
		t.Errorf("campus: %+v %v", c, err)
	}
}
