package storage_test

import (
	"context"
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
	if err := db.DeliveryRetry(ctx, got[1].ID, now.Add(5*time.Second), "45009"); err != nil {
		t.Fatal(err)
	}
	// A late retry of the sent message changes nothing.
	db.DeliveryRetry(ctx, got[0].ID, now, "late")
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
