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
	// A handled event keeps no payload (nurses' words), only its key.
	stored, err := db.InboundEvent(ctx, "robot:m1")
	if err != nil || len(stored.Payload) != 0 || stored.Message != nil {
		t.Errorf("InboundEvent = %+v, %v; want the key without payload or message", stored, err)
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

// TestInboxLeases: a renewed lease keeps other claims off; a released event
// is claimable at once without its attempt counted; handled events past
// their retention are purged, pending ones never.
func TestInboxLeases(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	now := t0.Truncate(time.Millisecond)
	for _, id := range []string{"robot:l1", "robot:l2", "robot:l3"} {
		if errs := db.AddInbound(ctx, now.Add(10*time.Second), bot.InboundEvent{ID: id, Source: "robot", Payload: []byte("{}"), ReceivedAt: now, Attempts: 1}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	if err := db.RenewInbound(ctx, []string{"robot:l1"}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.ReleaseInbound(ctx, []string{"robot:l2"}, now); err != nil {
		t.Fatal(err)
	}
	got, err := db.ClaimInbound(ctx, now, now.Add(10*time.Second), 10)
	if err != nil || len(got) != 1 || got[0].ID != "robot:l2" || got[0].Attempts != 1 {
		t.Fatalf("claim now = %+v, %v; want robot:l2 alone at attempt 1", got, err)
	}
	later := now.Add(30 * time.Second)
	if got, _ := db.ClaimInbound(ctx, later, later.Add(time.Minute), 10); len(got) != 2 || got[0].ID != "robot:l2" || got[1].ID != "robot:l3" {
		t.Fatalf("claim after 30 s = %+v; want l2 and l3 (l1 renewed to a minute)", got)
	}
	if err := db.InboundHandled(ctx, []string{"robot:l2"}); err != nil {
		t.Fatal(err)
	}
	if err := db.InboundFailed(ctx, "robot:l3", "never parses", later, true); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PurgeInbound(ctx, later); err != nil || n != 0 {
		t.Fatalf("purge before the leases ended = %d, %v; want 0", n, err)
	}
	week := now.Add(8 * 24 * time.Hour)
	if n, err := db.PurgeInbound(ctx, week); err != nil || n != 2 {
		t.Fatalf("purge after a week = %d, %v; want the handled and the dead event", n, err)
	}
	if _, err := db.InboundEvent(ctx, "robot:l1"); err != nil {
		t.Errorf("pending event purged: %v", err)
	}
}
