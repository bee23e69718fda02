package wecom_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"weibao/storage/redisstore/redistest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// TestLongConnKickedStaysOff: when a second connection subscribes with the
// same bot, WeCom sends the first disconnected_event; the first then stays
// off (the official SDK makes 0 subscribes after a kick), tells Kicked until
// when, and every replica sharing the hold stays off too, until an operator
// deletes the hold (weibao wecom resume).
func TestLongConnKickedStaysOff(t *testing.T) {
	fake := wecomtest.New(t)
	st, _ := redistest.Open(t)
	hold := st.Values(redistest.Prefix() + "longconn:")
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	kicked := make(chan time.Time, 4)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	run := func(h wecom.Hold, told chan time.Time) *wecom.LongConn {
		opt := wecom.LongConnOptions{URL: fake.WSURL(), BotID: wecomtest.BotID, Secret: wecomtest.BotSecret, Inbox: discard{},
			Clock: &clock{t: t0}, Standby: 10 * time.Millisecond, Cooldown: time.Hour, Hold: h}
		if told != nil {
			opt.Kicked = func(_ context.Context, until time.Time) { told <- until }
		}
		c, err := wecom.NewLongConn(opt, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { c.Run(ctx) })
		return c
	}
	first := run(hold, kicked)
	if !fake.WaitSubscribed(1, 5*time.Second) {
		t.Fatal("first connection did not subscribe")
	}
	// The other holder of the bot (a staging copy): no shared hold.
	run(nil, nil)
	if !fake.WaitSubscribed(2, 5*time.Second) {
		t.Fatal("second connection did not subscribe")
	}
	select {
	case until := <-kicked:
		if want := t0.Add(time.Hour); !until.Equal(want) {
			t.Errorf("Kicked until %v, want %v (the cool-down)", until, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Kicked was not told")
	}
	// weibao's backoff after a lost connection is 1 s: wait past it.
	time.Sleep(1500 * time.Millisecond)
	if n := fake.Subscriptions(); n != 2 || first.Connected() {
		t.Fatalf("after the kick: %d subscriptions, first connected %v; want 2 and false", n, first.Connected())
	}
	// A replica sharing the hold does not take the bot back either.
	run(hold, nil)
	time.Sleep(100 * time.Millisecond)
	if n := fake.Subscriptions(); n != 2 {
		t.Fatalf("a replica sharing the hold subscribed: %d subscriptions", n)
	}
	// The operator's resume: both held connections may try again; one wins.
	if err := hold.Delete(context.Background(), wecom.HoldKey); err != nil {
		t.Fatal(err)
	}
	if !fake.WaitSubscribed(3, 5*time.Second) {
		t.Fatal("no subscription after the hold was deleted")
	}
}
