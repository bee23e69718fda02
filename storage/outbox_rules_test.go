package storage_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"weibao/bot"
	"weibao/storage/storagetest"
)

// TestOutboxRuleRows: the claim takes the most urgent due rows first; a
// held row gets its attempt back; waking a destination makes its rows due;
// a delivered page covers the ticket's older pending pages; QueuedMessages lists
// what was dropped.
func TestOutboxRuleRows(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	card := &bot.Card{TaskID: "t"}
	if err := db.Enqueue(ctx,
		bot.Outgoing{Key: "digest", ToUsers: []string{"lead"}, Text: "日报"},
		bot.Outgoing{Key: "p3", TicketNo: "F3", Priority: bot.P3, ToUsers: []string{"eng1"}, Card: card},
		bot.Outgoing{Key: "reply", ReplyTo: "robot:m1", ToUsers: []string{"nurse1"}, Text: "哪个病区？"},
		bot.Outgoing{Key: "p1", TicketNo: "F1", Priority: bot.P1, ToUsers: []string{"eng1"}, Card: card},
		bot.Outgoing{Key: "p1/escalate", TicketNo: "F1", Priority: bot.P1, Kind: bot.KindBreach, ToUsers: []string{"lead"}, Card: card},
	); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Add(time.Second)
	ds, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, d := range ds {
		keys = append(keys, d.Message.Key)
	}
	if got, want := fmt.Sprint(keys), "[p1 p1/escalate reply digest p3]"; got != want {
		t.Errorf("claim order = %s, want %s", got, want)
	}
	id := map[string]int64{}
	for _, d := range ds {
		id[d.Message.Key] = d.ID
	}
	// Held for a breaker: untried, so not an attempt.
	if err := db.DeliveryHeld(ctx, id["digest"], now.Add(time.Hour), "app"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeliveryRetry(ctx, id["reply"], now.Add(time.Hour), "app", "refused"); err != nil {
		t.Fatal(err)
	}
	if n, err := db.WakeDestination(ctx, "app", now); err != nil || n != 2 {
		t.Fatalf("WakeDestination = %d, %v; want 2", n, err)
	}
	again, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 10)
	if err != nil || len(again) != 2 || again[0].Message.Key != "reply" || again[0].Attempts != 2 || again[1].Attempts != 1 {
		t.Fatalf("after waking: %+v, %v; want the reply (2nd attempt) and the digest (1st)", again, err)
	}
	// The escalation card went out: the ticket's older page is covered.
	if err := db.DeliverySent(ctx, id["p1/escalate"], now, ""); err != nil {
		t.Fatal(err)
	}
	if n, err := db.CoverPages(ctx, "F1", id["p1/escalate"], "covered: p1/escalate was delivered"); err != nil || n != 1 {
		t.Fatalf("CoverPages = %d, %v; want 1", n, err)
	}
	if err := db.DeliveryExpired(ctx, id["reply"], "expired: a reply is of no use 5m0s after it was queued"); err != nil {
		t.Fatal(err)
	}
	given, err := db.QueuedMessages(ctx, []string{"failed", "expired"}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range given {
		got = append(got, e.Key+":"+e.Status+":"+e.Kind)
	}
	slices.Sort(got)
	if want := "[p1:expired:page reply:expired:reply]"; fmt.Sprint(got) != want {
		t.Errorf("given up = %v, want %s", got, want)
	}
}
