package redisstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"weibao/sla/timerwheel"
	"weibao/storage/redisstore/redistest"
)

// Past one machine (issue 18): on a 3-node Redis Cluster, the timers, the
// inbox dedupe, the locks, the sessions and the rate windows work as on
// one server: every script and transaction keeps its keys in one slot.
func TestOnRedisCluster(t *testing.T) {
	st, _ := redistest.Cluster(t)
	ctx := context.Background()
	prefix := "weibao:" + redistest.Prefix()
	// What the hash tags avoid: the cluster refuses a script over two slots
	// ("a" and "b" are slots 15495 and 3300).
	if err := st.Client().Eval(ctx, "return 1", []string{"a", "b"}).Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("a script over two slots = %v; is this a cluster?", err)
	}

	t.Run("dedupe", func(t *testing.T) {
		v := st.Values(prefix + "inbox:")
		keys := make([]string, 200) // spread over every node's slots
		for i := range keys {
			keys[i] = fmt.Sprintf("robot:msg%d", i)
		}
		first, err := v.ClaimAll(ctx, keys, time.Minute)
		if err != nil || slices.Contains(first, false) {
			t.Fatalf("first ClaimAll = %v, %v; want all new", first, err)
		}
		again, err := v.ClaimAll(ctx, keys, time.Minute)
		if err != nil || slices.Contains(again, true) {
			t.Fatalf("second ClaimAll = %v, %v; want all seen", again, err)
		}
	})

	t.Run("locks", func(t *testing.T) {
		a, b := st.Lock(prefix+"lock:job", "a"), st.Lock(prefix+"lock:job", "b")
		if ok, err := a.Claim(ctx, time.Minute); !ok || err != nil {
			t.Fatalf("a.Claim = %v, %v", ok, err)
		}
		if ok, err := b.Claim(ctx, time.Minute); ok || err != nil {
			t.Fatalf("b.Claim of a held lock = %v, %v", ok, err)
		}
		if ok, err := b.Extend(ctx, time.Minute); ok || err != nil {
			t.Fatalf("b.Extend of a's lock = %v, %v", ok, err)
		}
		if ok, err := a.Extend(ctx, time.Minute); !ok || err != nil {
			t.Fatalf("a.Extend = %v, %v", ok, err)
		}
		if err := a.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, err := b.Claim(ctx, time.Minute); !ok || err != nil {
			t.Fatalf("b.Claim after release = %v, %v", ok, err)
		}
	})

	t.Run("sessions", func(t *testing.T) {
		s := st.Sessions(prefix + "conv:")
		unlock, err := s.Lock(ctx, "chat:nurse1", time.Minute, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Lock(ctx, "chat:nurse1", time.Minute, 50*time.Millisecond); err == nil {
			t.Error("a second Lock got a held lock")
		}
		unlock()
		if err := s.Save(ctx, "v:chat:nurse1", []byte("state"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if b, err := s.Load(ctx, "v:chat:nurse1"); err != nil || string(b) != "state" {
			t.Fatalf("Load = %q, %v", b, err)
		}
		now := time.Now()
		if err := s.Schedule(ctx, "survey", "m1", now.Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if due, err := s.Due(ctx, "survey", now, 10); err != nil || !slices.Equal(due, []string{"m1"}) {
			t.Fatalf("Due = %v, %v", due, err)
		}
	})

	t.Run("rate windows", func(t *testing.T) {
		r := st.RateLog(prefix + "rate:")
		now := time.Now()
		for i := range 3 {
			wait, err := r.Allow(ctx, "eng1", 2, time.Minute, now)
			if err != nil || (wait > 0) != (i == 2) {
				t.Fatalf("Allow #%d = %v, %v", i+1, wait, err)
			}
		}
	})

	t.Run("timers", func(t *testing.T) {
		w, err := timerwheel.New(st.Client(), timerwheel.Options{Prefix: prefix + "{sla}:", MaxPoll: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		var timers []timerwheel.Timer
		for i := range 50 {
			id := fmt.Sprintf("F%d:ack", i)
			ids = append(ids, id)
			timers = append(timers, timerwheel.Timer{ID: id, Due: time.Now().Add(-time.Second), Payload: []byte("x")})
		}
		if err := w.Schedule(ctx, timers...); err != nil {
			t.Fatal(err)
		}
		if n, err := w.Reconcile(ctx, timers...); err != nil || n != 0 {
			t.Fatalf("Reconcile of scheduled timers = %d, %v", n, err)
		}
		var mu sync.Mutex
		fired := map[string]int{}
		all := make(chan struct{})
		rctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for range 2 { // two replicas
			wg.Go(func() {
				w.Run(rctx, func(ctx context.Context, tm timerwheel.Timer) error {
					mu.Lock()
					defer mu.Unlock()
					fired[tm.ID]++
					if len(fired) == len(ids) {
						select {
						case <-all:
						default:
							close(all)
						}
					}
					return nil
				})
			})
		}
		select {
		case <-all:
		case <-time.After(10 * time.Second):
			t.Error("timers did not all fire")
		}
		cancel()
		wg.Wait()
		for _, id := range ids {
			if fired[id] != 1 {
				t.Errorf("timer %s fired %d times, want once", id, fired[id])
			}
		}
		if n, err := w.Pending(ctx); err != nil || n != 0 {
			t.Errorf("Pending after all fired = %d, %v", n, err)
		}
	})

	t.Run("flush", func(t *testing.T) {
		redistest.Flush(t, st, prefix)
		if b, err := st.Sessions(prefix+"conv:").Load(ctx, "v:chat:nurse1"); err != nil || b != nil {
			t.Errorf("Load after flush = %q, %v", b, err)
		}
	})
}

// Through Sentinel: the client asks the Sentinel for the master and works
// on it as on one server.
func TestOnRedisSentinel(t *testing.T) {
	st, _ := redistest.Sentinel(t)
	ctx := context.Background()
	prefix := "weibao:" + redistest.Prefix()
	v := st.Values(prefix + "inbox:")
	if first, err := v.ClaimAll(ctx, []string{"a", "b"}, time.Minute); err != nil || !first[0] || !first[1] {
		t.Fatalf("ClaimAll = %v, %v", first, err)
	}
	l := st.Lock(prefix+"lock", "me")
	if ok, err := l.Claim(ctx, time.Minute); !ok || err != nil {
		t.Fatalf("Claim = %v, %v", ok, err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
