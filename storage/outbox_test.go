package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage/storagetest"
)

func TestOutboxDelivery(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	now := time.Now().UTC().Truncate(time.Millisecond).Add(time.Second)
	a := bot.Outgoing{Key: "reply:robot:m1", TicketNo: "F0", ToChat: "wrdA", ReplyTo: "robot:m1", Format: bot.FormatText, Text: "已收到"}
	b := bot.Outgoing{Key: "page:F1:1", TicketNo: "F1", ToUsers: []string{"zhanggong"}, Card: &bot.Card{TaskID: "page-F1-1", Title: "新工单",
		Buttons: []bot.Button{{Key: "ack:F1", Text: "接单"}}}}
	if err := db.Enqueue(ctx, a, b, a); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.PendingOutbox(ctx); n != 2 {
		t.Fatalf("pending = %d, want 2 (one row per key)", n)
	}
	got, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []bot.Outgoing
	for _, d := range got {
		if d.Attempts != 1 {
			t.Errorf("delivery %d attempts = %d, want 1", d.ID, d.Attempts)
		}
		msgs = append(msgs, d.Message)
	}
	if diff := cmp.Diff([]bot.Outgoing{a, b}, msgs); diff != "" {
		t.Errorf("claimed (-want +got):\n%s", diff)
	}
	if again, _ := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10); len(again) != 0 {
		t.Errorf("claimed leased messages again: %d", len(again))
	}
	if err := db.DeliverySent(ctx, got[0].ID, now, "msg-1"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeliveryRetry(ctx, got[1].ID, now.Add(5*time.Second), "app", "45009"); err != nil {
		t.Fatal(err)
	}
	// A late retry of the sent message changes nothing.
	db.DeliveryRetry(ctx, got[0].ID, now, "app", "late")
	retry, err := db.ClaimDeliveries(ctx, now.Add(10*time.Second), now.Add(time.Minute), 10)
	if err != nil || len(retry) != 1 || retry[0].ID != got[1].ID || retry[0].Attempts != 2 {
		t.Fatalf("claim after retry = %+v, %v; want message %d on attempt 2", retry, err, got[1].ID)
	}
	if err := db.DeliveryFailed(ctx, retry[0].ID, "81013"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeliverySent(ctx, got[0].ID, now, "late-ref"); err != nil {
		t.Fatal(err)
	}
	entries, err := db.OutboxEntries(ctx, "F1")
	if err != nil || len(entries) != 1 || entries[0].Status != "failed" || entries[0].LastError != "81013" {
		t.Errorf("card entry = %+v, %v; want failed with 81013", entries, err)
	}
	// The channel's reference is kept, and a second "sent" does not replace it.
	entries, err = db.OutboxEntries(ctx, "F0")
	if err != nil || len(entries) != 1 || entries[0].Status != "sent" || entries[0].Ref != "msg-1" {
		t.Errorf("reply entry = %+v, %v; want sent with ref msg-1", entries, err)
	}
	if n, _ := db.PendingOutbox(ctx); n != 0 {
		t.Errorf("pending = %d, want 0", n)
	}
}

// TestOutboxCards: a typed command finds the ticket's 1:1 cards it may
// still redraw (pending, or sent within the response code's 72 h, not yet
// redrawn by a command), and the sender finds a sent card's code by task id.
func TestOutboxCards(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	now := time.Now().UTC().Truncate(time.Millisecond).Add(time.Second)
	card := func(key, task, user string) bot.Outgoing {
		return bot.Outgoing{Key: key, TicketNo: "F1", ToUsers: []string{user}, Card: &bot.Card{TaskID: task, Title: "新工单",
			Buttons: []bot.Button{{Key: "ack:F1", Text: "接单"}}}}
	}
	old, sent, failed := card("F1/page/1/eng0", "t-old", "eng0"), card("F1/page/1/eng1", "t-sent", "eng1"), card("F1/page/1/eng2", "t-failed", "eng2")
	redrawn, pending := card("F1/repage/2/eng3", "t-redrawn", "eng3"), card("F1/escalate/3/eng4", "t-pending", "eng4")
	group := bot.Outgoing{Key: "F1/page_group/1/eng1", TicketNo: "F1", ToChat: "wrdA", Card: &bot.Card{TaskID: "t-group"}}
	clickUpdate := bot.Outgoing{Key: "F1/card/2/eng1", TicketNo: "F1", ToUsers: []string{"eng1"}, ReplyTo: "app:click",
		CardUpdate: &bot.CardUpdate{TaskID: "t-sent", Replaced: "已由 张工 接单"}}
	cmdUpdate := bot.Outgoing{Key: "F1/repage/2/eng3/redraw/3", TicketNo: "F1", ToUsers: []string{"eng3"},
		CardUpdate: &bot.CardUpdate{TaskID: "t-redrawn", Replaced: "已由 张工 接单"}}
	if err := db.Enqueue(ctx, old, sent, failed, group, redrawn); err != nil {
		t.Fatal(err)
	}
	ds, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(ds) != 5 {
		t.Fatalf("claim = %d, %v", len(ds), err)
	}
	codes := map[string]string{"F1/page/1/eng0": "rc-old", "F1/page/1/eng1": "rc-sent", "F1/page_group/1/eng1": "", "F1/repage/2/eng3": "rc-redrawn"}
	for _, d := range ds {
		switch d.Message.Key {
		case failed.Key:
			db.DeliveryFailed(ctx, d.ID, "81013")
		case old.Key:
			db.DeliverySent(ctx, d.ID, now.Add(-73*time.Hour), codes[d.Message.Key])
		default:
			db.DeliverySent(ctx, d.ID, now, codes[d.Message.Key])
		}
	}
	if err := db.Enqueue(ctx, clickUpdate, cmdUpdate, pending); err != nil {
		t.Fatal(err)
	}
	got, err := db.RedrawableCards(ctx, "F1", now.Add(-72*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range got {
		keys = append(keys, c.Key)
	}
	if diff := cmp.Diff([]string{sent.Key, pending.Key}, keys); diff != "" {
		t.Errorf("redrawable cards (-want +got):\n%s", diff)
	}
	if code, err := db.CardCode(ctx, "F1", "t-sent"); code != "rc-sent" || err != nil {
		t.Errorf("CardCode(t-sent) = %q, %v", code, err)
	}
	for _, task := range []string{"t-failed", "t-pending", "t-group", "t-none"} {
		if _, err := db.CardCode(ctx, "F1", task); !errors.Is(err, bot.ErrNotFound) {
			t.Errorf("CardCode(%s) err = %v, want ErrNotFound", task, err)
		}
	}
}

// TestFeed: every commit that stored a ticket change or queued messages is
// handed to each subscriber once, after the commit, with the committed ticket,
// its whole timeline as stored, its new events and the number of messages; a write that fails or changes
// nothing is not.
func TestFeed(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	var got []string
	for _, name := range []string{"a", "b"} {
		db.Subscribe(func(ctx context.Context, c bot.Committed) {
			s := fmt.Sprintf("%s queued=%d", name, c.Queued)
			if c.Ticket != nil {
				stored, err := db.Ticket(ctx, c.Ticket.No)
				tl, _ := db.Timeline(ctx, c.Ticket.No)
				s += fmt.Sprintf(" %s v%d committed=%v timeline=%v", c.Ticket.Status, c.Ticket.Version,
					err == nil && stored.Version == c.Ticket.Version, cmp.Equal(tl, c.Timeline))
			}
			for _, e := range c.Events {
				s += fmt.Sprintf(" %s@%s", e.Kind, e.TicketNo)
			}
			got = append(got, s)
		})
	}
	step := func(name string, want []string, fn func() error) {
		t.Helper()
		got = nil
		err := fn()
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (err %v): feed (-want +got):\n%s", name, err, diff)
		}
	}
	step("enqueue", []string{"a queued=2", "b queued=2"}, func() error {
		return db.Enqueue(ctx, bot.Outgoing{Key: "k1", ToChat: "wr1", Text: "已收到"}, bot.Outgoing{Key: "k2", ToChat: "wr1", Text: "好"})
	})
	step("enqueue nothing", nil, func() error { return db.Enqueue(ctx) })
	step("enqueue without key", nil, func() error { return db.Enqueue(ctx, bot.Outgoing{ToChat: "wr1", Text: "x"}) })
	var no string
	step("create ticket", []string{"a queued=1 new v1 committed=true timeline=true reported@F20261126-0001", "b queued=1 new v1 committed=true timeline=true reported@F20261126-0001"},
		func() error { tk := create(t, db, t0); no = tk.No; return nil })
	step("update without messages", []string{"a queued=0 acknowledged v2 committed=true timeline=true acknowledged@" + no,
		"b queued=0 acknowledged v2 committed=true timeline=true acknowledged@" + no}, func() error {
		_, err := db.UpdateTicket(ctx, no, func(tk *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
			ev, err := tk.Apply(bot.Change{Kind: bot.EventAcknowledged, Actor: "eng1", At: t0.Add(time.Minute)})
			return bot.Effects{Events: []bot.Event{ev}}, err
		})
		return err
	})
	step("update with a message", []string{"a queued=1 acknowledged v3 committed=true timeline=true workaround@" + no,
		"b queued=1 acknowledged v3 committed=true timeline=true workaround@" + no}, func() error {
		_, err := db.UpdateTicket(ctx, no, func(tk *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
			ev, err := tk.Apply(bot.Change{Kind: bot.EventWorkaround, Actor: "eng1", Text: "先用纸质记录", At: t0.Add(2 * time.Minute)})
			return bot.Effects{Events: []bot.Event{ev}, Messages: []bot.Outgoing{{Key: "wa", ToChat: "wr1", Text: "临时方案"}}}, err
		})
		return err
	})
	step("rejected update", nil, func() error {
		_, err := db.UpdateTicket(ctx, no, func(tk *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
			return bot.Effects{Messages: []bot.Outgoing{{Key: "never", ToChat: "wr1", Text: "x"}}}, errors.New("refused")
		})
		return err
	})
}

// TestClaimLetsInsertsThrough: while a claim holds the rows it leases, a new
// message is queued without waiting on it (MySQL: the claim takes no gap
// locks, which blocked and deadlocked inserts into the due index).
func TestClaimLetsInsertsThrough(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	if db.Driver() != "mysql" {
		t.Skip("SQLite has one writer: a claim always holds the file")
	}
	if err := db.Enqueue(ctx, bot.Outgoing{Key: "a", ToUsers: []string{"eng1"}, Text: "a"}); err != nil {
		t.Fatal(err)
	}
	var insert error
	err := db.DuringClaim(func() {
		ictx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		insert = db.Enqueue(ictx, bot.Outgoing{Key: "b", ToUsers: []string{"eng2"}, Text: "b"})
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Add(time.Second)
	got, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim = %d deliveries, %v; want 1", len(got), err)
	}
	if insert != nil {
		t.Errorf("enqueue during a claim = %v, want it to pass", insert)
	}
}
