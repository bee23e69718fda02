package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage"
	"weibao/storage/storagetest"
)

func TestInbox(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	now := t0.Truncate(time.Millisecond)
	ev := bot.InboundEvent{ID: "robot:m1", Source: "robot", Payload: []byte(`{"msgid":"m1"}`), ReceivedAt: now, Attempts: 1}
	if errs := db.AddInbound(ctx, now.Add(time.Minute), ev); errs[0] != nil {
		t.Fatal(errs[0])
	}
	// In a batch, the known event conflicts and the new one is stored.
	ev2 := bot.InboundEvent{ID: "robot:m2", Source: "robot", Payload: []byte(`{}`), ReceivedAt: now, Attempts: 1}
	errs := db.AddInbound(ctx, now.Add(time.Minute), ev2, ev)
	if errs[0] != nil || !errors.Is(errs[1], bot.ErrConflict) {
		t.Fatalf("batch AddInbound = %v, want [nil, ErrConflict]", errs)
	}
	db.InboundHandled(ctx, []string{"robot:m2"})
	// Leased to the receiver: nobody else claims it yet.
	if got, err := db.ClaimInbound(ctx, now, now.Add(time.Minute), 10); err != nil || len(got) != 0 {
		t.Fatalf("claim during lease = %v, %v; want nothing", got, err)
	}
	// After a crash the lease ends and the event is claimed again.
	later := now.Add(2 * time.Minute)
	got, err := db.ClaimInbound(ctx, later, later.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []bot.InboundEvent{{ID: "robot:m1", Source: "robot", Payload: []byte(`{"msgid":"m1"}`), ReceivedAt: now, Attempts: 2}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("claimed (-want +got):\n%s", diff)
	}
	if err := db.InboundFailed(ctx, "robot:m1", "boom", later, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ClaimInbound(ctx, later, later.Add(time.Minute), 10); len(got) != 1 {
		t.Fatalf("claim after failure = %d events, want 1", len(got))
	}
	if err := db.InboundHandled(ctx, []string{"robot:m1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ClaimInbound(ctx, later.Add(time.Hour), later.Add(2*time.Hour), 10); len(got) != 0 {
		t.Errorf("claim after handled = %d events, want 0", len(got))
	}
	stored, err := db.InboundEvent(ctx, "robot:m1")
	if err != nil || string(stored.Payload) != `{"msgid":"m1"}` {
		t.Errorf("InboundEvent = %+v, %v", stored, err)
	}
	if _, err := db.InboundEvent(ctx, "robot:nope"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("InboundEvent(unknown) err = %v, want ErrNotFound", err)
	}
}

func TestInboxDeadEventIsNotClaimed(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	now := t0.Truncate(time.Millisecond)
	db.AddInbound(ctx, now, bot.InboundEvent{ID: "app:1", Source: "app", Payload: []byte("<xml/>"), ReceivedAt: now})
	if err := db.InboundFailed(ctx, "app:1", "never parses", now, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.ClaimInbound(ctx, now.Add(time.Hour), now.Add(2*time.Hour), 10); len(got) != 0 {
		t.Errorf("claimed a dead event: %+v", got)
	}
}

// TestInboxKeepsTheMessage: an event's parsed message is stored beside its
// payload, also in a database migrated from before 0006_inbox_message,
// whose rows have none.
func TestInboxKeepsTheMessage(t *testing.T) {
	ctx := context.Background()
	driver, dsn := storagetest.DSN(t)
	now := t0.Truncate(time.Millisecond)
	db, err := storage.Open(ctx, driver, dsn, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := bot.InboundEvent{ID: "robot:old", Source: "robot", Payload: []byte(`{"msgid":"old"}`), ReceivedAt: now, Attempts: 1}
	if errs := db.AddInbound(ctx, now, old); errs[0] != nil {
		t.Fatal(errs[0])
	}
	db.Close()
	// Back to the schema before 0006.
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ALTER TABLE inbox DROP COLUMN message", "DELETE FROM schema_migrations WHERE id = '0006_inbox_message'"} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	db, err = storage.Open(ctx, driver, dsn, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := &bot.Message{ID: "robot:new", Channel: "robot", From: "nurse1", ChatType: bot.ChatSingle, Text: "黑屏", At: now,
		Button: &bot.ButtonClick{Key: "ack:F1", TaskID: "t1"}, Route: `{"ReqID":"r1"}`}
	ev := bot.InboundEvent{ID: "robot:new", Source: "robot", Payload: []byte(`{"msgid":"new"}`), ReceivedAt: now, Attempts: 1, Message: m}
	if errs := db.AddInbound(ctx, now, ev); errs[0] != nil {
		t.Fatal(errs[0])
	}
	got, err := db.ClaimInbound(ctx, now, now.Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	old.Attempts, ev.Attempts = 2, 2
	if diff := cmp.Diff([]bot.InboundEvent{old, ev}, got); diff != "" {
		t.Errorf("claimed (-want +got):\n%s", diff)
	}
}
