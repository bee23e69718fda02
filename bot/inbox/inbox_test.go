package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/inbox"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

func parse(_ string, payload []byte, now time.Time) (bot.Message, error) {
	return bot.Message{ID: string(payload), At: now}, nil
}

func TestAcceptDedupesAndReplaysAfterCrash(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	rdb, _ := redistest.Open(t)
	prefix := redistest.Prefix()
	got := make(chan string, 10)
	newInbox := func(h inbox.Handler) *inbox.Inbox {
		in, err := inbox.New(inbox.Options{Store: db, Redis: rdb, Handler: h, Parse: parse, Logger: slog.New(slog.DiscardHandler),
			Lease: 50 * time.Millisecond, Sweep: 10 * time.Millisecond, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	// First process: accepts, then "crashes" before handling (no Run).
	crashed := newInbox(func(context.Context, bot.Message) error { return errors.New("unreachable") })
	ev := bot.InboundEvent{ID: "robot:r1", Source: "robot", Payload: []byte("robot:r1")}
	if err := crashed.Accept(ctx, ev, bot.Message{ID: ev.ID}); err != nil {
		t.Fatal(err)
	}
	if err := crashed.Accept(ctx, ev, bot.Message{ID: ev.ID}); !errors.Is(err, inbox.ErrDuplicate) {
		t.Fatalf("retry Accept err = %v, want ErrDuplicate", err)
	}
	// Second process: replays the stored event once its lease has ended.
	in := newInbox(func(_ context.Context, m bot.Message) error { got <- m.ID; return nil })
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { in.Run(rctx); close(done) }()
	select {
	case id := <-got:
		if id != "robot:r1" {
			t.Errorf("replayed %q", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("event not replayed")
	}
	cancel()
	<-done
	if evs, _ := db.ClaimInbound(ctx, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10); len(evs) != 0 {
		t.Errorf("event still pending after handling: %v", evs)
	}
}

func TestAcceptGroupCommitsConcurrentEvents(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	rdb, _ := redistest.Open(t)
	in, err := inbox.New(inbox.Options{Store: db, Redis: rdb, Handler: func(context.Context, bot.Message) error { return nil },
		Parse: parse, Logger: slog.New(slog.DiscardHandler), KeyPrefix: redistest.Prefix()})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 100)
	for i := range 100 {
		go func() {
			id := fmt.Sprintf("robot:c%d", i%50) // every event twice
			errs <- in.Accept(ctx, bot.InboundEvent{ID: id, Source: "robot", Payload: []byte(id)}, bot.Message{ID: id})
		}()
	}
	var ok, dup int
	for range 100 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.Is(err, inbox.ErrDuplicate):
			dup++
		default:
			t.Fatal(err)
		}
	}
	if ok != 50 || dup != 50 {
		t.Errorf("accepted %d, duplicates %d; want 50 and 50", ok, dup)
	}
}
