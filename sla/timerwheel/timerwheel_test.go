package timerwheel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// testRedis returns miniredis, or the real Redis named by
// WEIBAO_TEST_REDIS_URL; a real Redis that cannot be reached fails the test.
func testRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	if url := os.Getenv("WEIBAO_TEST_REDIS_URL"); url != "" {
		opt, err := redis.ParseURL(url)
		if err != nil {
			t.Fatalf("WEIBAO_TEST_REDIS_URL: %v", err)
		}
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { rdb.Close() })
		if err := rdb.Ping(context.Background()).Err(); err != nil {
			t.Fatalf("real Redis %s: %v", url, err)
		}
		return rdb
	}
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// testPrefix is unique per test and its keys are deleted afterwards.
func testPrefix(t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	p := fmt.Sprintf("weibao-test:{%s-%d}:", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
	t.Cleanup(func() { rdb.Del(context.Background(), p+"due", p+"pl") })
	return p
}

func newWheel(t *testing.T, rdb redis.UniversalClient, opt Options) *Wheel {
	t.Helper()
	w, err := New(rdb, opt)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// fakeClock is the wheel's Now, moved by the test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

var base = time.UnixMilli(1_760_000_000_000)

func ids(ts []Timer) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func mustClaim(t *testing.T, w *Wheel) claim {
	t.Helper()
	c, err := w.claim(context.Background(), w.opt.Batch)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ok(context.Context, Timer) error { return nil }

func TestNeverEarly(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), Now: clk.Now})
	ctx := context.Background()
	due := base.Add(1500*time.Millisecond + 500*time.Microsecond)
	if err := w.Schedule(ctx, Timer{ID: "a", Due: due, Payload: []byte("p:1")}); err != nil {
		t.Fatal(err)
	}
	for _, now := range []time.Duration{0, 1500 * time.Millisecond, 1500*time.Millisecond + 900*time.Microsecond} {
		clk.Set(base.Add(now))
		c := mustClaim(t, w)
		if len(c.timers) != 0 {
			t.Fatalf("at +%v claimed %v, due +1500.5ms", now, ids(c.timers))
		}
		if want := base.Add(1501 * time.Millisecond); !c.next.Equal(want) {
			t.Errorf("next = %v, want %v", c.next, want)
		}
	}
	clk.Set(base.Add(1501 * time.Millisecond))
	c := mustClaim(t, w)
	want := []Timer{{ID: "a", Due: base.Add(1501 * time.Millisecond), Payload: []byte("p:1")}}
	if diff := cmp.Diff(want, c.timers); diff != "" {
		t.Errorf("claim (-want +got):\n%s", diff)
	}
}

func TestLeaseRedelivers(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), Now: clk.Now, Lease: 10 * time.Second})
	ctx := context.Background()
	if err := w.Schedule(ctx, Timer{ID: "a", Due: base}); err != nil {
		t.Fatal(err)
	}
	first := mustClaim(t, w) // this replica "dies" without acking
	if len(first.timers) != 1 {
		t.Fatalf("first claim %v", ids(first.timers))
	}
	clk.Set(base.Add(10*time.Second - time.Millisecond))
	if c := mustClaim(t, w); len(c.timers) != 0 {
		t.Fatalf("claimed %v inside the lease", ids(c.timers))
	}
	clk.Set(base.Add(10 * time.Second))
	second := mustClaim(t, w)
	if len(second.timers) != 1 {
		t.Fatalf("after the lease claimed %v, want a", ids(second.timers))
	}
	if !second.timers[0].Due.Equal(base) {
		t.Errorf("redelivered due = %v, want the original %v", second.timers[0].Due, base)
	}
	// The dead replica's late ack must not remove the live claim.
	w.handle(ctx, ok, first, make(chan struct{}, 1))
	if n, _ := w.Pending(ctx); n != 1 {
		t.Fatalf("stale ack removed the timer: pending %d", n)
	}
	w.handle(ctx, ok, second, make(chan struct{}, 1))
	if n, _ := w.Pending(ctx); n != 0 {
		t.Errorf("pending after ack = %d", n)
	}
}

func TestHandlerErrorAndPanicRetry(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), Now: clk.Now, Lease: time.Second})
	ctx := context.Background()
	if err := w.Schedule(ctx, Timer{ID: "err", Due: base}, Timer{ID: "panic", Due: base}); err != nil {
		t.Fatal(err)
	}
	w.handle(ctx, func(_ context.Context, t Timer) error {
		if t.ID == "panic" {
			panic("boom")
		}
		return errors.New("db down")
	}, mustClaim(t, w), make(chan struct{}, 1))
	clk.Set(base.Add(time.Second))
	c := mustClaim(t, w)
	if diff := cmp.Diff([]string{"err", "panic"}, ids(c.timers)); diff != "" {
		t.Errorf("redelivered (-want +got):\n%s", diff)
	}
}

func TestCancelAndReschedule(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), Now: clk.Now})
	ctx := context.Background()
	err := w.Schedule(ctx,
		Timer{ID: "keep", Due: base.Add(time.Second)},
		Timer{ID: "drop", Due: base.Add(time.Second)},
		Timer{ID: "move", Due: base.Add(time.Second), Payload: []byte("old")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Cancel(ctx, "drop", "never-scheduled"); err != nil {
		t.Fatal(err)
	}
	if err := w.Schedule(ctx, Timer{ID: "move", Due: base.Add(2 * time.Second), Payload: []byte("new")}); err != nil {
		t.Fatal(err)
	}
	clk.Set(base.Add(time.Second))
	c := mustClaim(t, w)
	if diff := cmp.Diff([]string{"keep"}, ids(c.timers)); diff != "" {
		t.Errorf("claim at +1s (-want +got):\n%s", diff)
	}
	w.handle(ctx, ok, c, make(chan struct{}, 1))
	clk.Set(base.Add(2 * time.Second))
	c = mustClaim(t, w)
	want := []Timer{{ID: "move", Due: base.Add(2 * time.Second), Payload: []byte("new")}}
	if diff := cmp.Diff(want, c.timers); diff != "" {
		t.Errorf("claim at +2s (-want +got):\n%s", diff)
	}
}

func TestRescheduleInFlightSurvivesAck(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), Now: clk.Now})
	ctx := context.Background()
	if err := w.Schedule(ctx, Timer{ID: "a", Due: base}); err != nil {
		t.Fatal(err)
	}
	c := mustClaim(t, w)
	// While the handler runs, the ticket moves the timer (e.g. reclassified).
	w.handle(ctx, func(ctx context.Context, _ Timer) error {
		return w.Schedule(ctx, Timer{ID: "a", Due: base.Add(time.Minute)})
	}, c, make(chan struct{}, 1))
	if n, _ := w.Pending(ctx); n != 1 {
		t.Fatalf("ack removed a rescheduled timer: pending %d", n)
	}
	clk.Set(base.Add(time.Minute))
	if c := mustClaim(t, w); len(c.timers) != 1 {
		t.Errorf("rescheduled timer did not fire: %v", ids(c.timers))
	}
}

func TestReconcile(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	prefix := testPrefix(t, rdb)
	w := newWheel(t, rdb, Options{Prefix: prefix, Now: clk.Now})
	ctx := context.Background()
	a := Timer{ID: "a", Due: base, Payload: []byte("x")}
	b := Timer{ID: "b", Due: base.Add(time.Second)}
	if err := w.Schedule(ctx, a); err != nil {
		t.Fatal(err)
	}
	mustClaim(t, w) // a is in flight
	n, err := w.Reconcile(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("reconcile wrote %d, want 1 (b only)", n)
	}
	if c := mustClaim(t, w); len(c.timers) != 0 {
		t.Errorf("reconcile re-armed an in-flight timer: %v", ids(c.timers))
	}
	// Redis loses everything; the database's view brings it back.
	if err := rdb.Del(ctx, prefix+"due", prefix+"pl").Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := w.Reconcile(ctx, a, b); n != 2 {
		t.Errorf("after flush reconcile wrote %d, want 2", n)
	}
	clk.Set(base.Add(time.Second))
	if diff := cmp.Diff([]string{"a", "b"}, ids(mustClaim(t, w).timers)); diff != "" {
		t.Errorf("after flush (-want +got):\n%s", diff)
	}
}

func TestLargeBatches(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), Now: clk.Now, Batch: 2000})
	ctx := context.Background()
	const n = 20_000
	timers := make([]Timer, n)
	cancel := make([]string, 0, n/2)
	for i := range timers {
		timers[i] = Timer{ID: fmt.Sprintf("t%05d", i), Due: base.Add(time.Duration(i) * time.Millisecond)}
		if i%2 == 1 {
			cancel = append(cancel, timers[i].ID)
		}
	}
	if err := w.Schedule(ctx, timers...); err != nil {
		t.Fatal(err)
	}
	if got, _ := w.Pending(ctx); got != n {
		t.Fatalf("pending = %d, want %d", got, n)
	}
	if err := w.Cancel(ctx, cancel...); err != nil {
		t.Fatal(err)
	}
	clk.Set(base.Add(n * time.Millisecond))
	seen := map[string]bool{}
	for {
		c := mustClaim(t, w)
		if len(c.timers) == 0 {
			break
		}
		for _, tm := range c.timers {
			if seen[tm.ID] {
				t.Fatalf("%s claimed twice", tm.ID)
			}
			seen[tm.ID] = true
		}
		w.handle(ctx, ok, c, make(chan struct{}, 1))
	}
	if len(seen) != n/2 {
		t.Errorf("fired %d, want %d", len(seen), n/2)
	}
	if got, _ := w.Pending(ctx); got != 0 {
		t.Errorf("pending after all acked = %d", got)
	}
}

// Three replicas share one Redis: every timer is handled exactly once and
// never before it is due.
func TestRunExactlyOnce(t *testing.T) {
	rdb := testRedis(t)
	prefix := testPrefix(t, rdb)
	const n = 3000
	var (
		mu    sync.Mutex
		count = map[string]int{}
		early atomic.Int64
		done  = make(chan struct{})
	)
	handler := func(_ context.Context, tm Timer) error {
		if time.Now().Before(tm.Due) {
			early.Add(1)
		}
		mu.Lock()
		defer mu.Unlock()
		count[tm.ID]++
		if len(count) == n {
			close(done)
		}
		return nil
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wheels := make([]*Wheel, 3)
	for i := range wheels {
		wheels[i] = newWheel(t, rdb, Options{Prefix: prefix, Batch: 100, MaxPoll: 20 * time.Millisecond})
		wg.Go(func() {
			if err := wheels[i].Run(ctx, handler); err != nil {
				t.Error(err)
			}
		})
	}
	start := time.Now()
	timers := make([]Timer, n)
	for i := range timers {
		timers[i] = Timer{ID: fmt.Sprint(i), Due: start.Add(time.Duration(i%300) * time.Millisecond)}
	}
	if err := wheels[0].Schedule(context.Background(), timers...); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("timed out")
	}
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for id, c := range count {
		if c != 1 {
			t.Errorf("timer %s fired %d times", id, c)
		}
	}
	if len(count) != n {
		t.Errorf("fired %d distinct timers, want %d", len(count), n)
	}
	if e := early.Load(); e != 0 {
		t.Errorf("%d timers fired early", e)
	}
}

// A timer scheduled sooner than the loop's sleep wakes it: with an hour of
// MaxPoll it would otherwise wait that long.
func TestRunWakesOnSchedule(t *testing.T) {
	rdb := testRedis(t)
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), MaxPoll: time.Hour})
	fired := make(chan Timer, 1)
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		errc <- w.Run(ctx, func(_ context.Context, tm Timer) error { fired <- tm; return nil })
	}()
	// Far-off timer: the loop goes to sleep for MaxPoll.
	if err := w.Schedule(ctx, Timer{ID: "later", Due: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	due := time.Now().Add(30 * time.Millisecond)
	if err := w.Schedule(ctx, Timer{ID: "soon", Due: due}); err != nil {
		t.Fatal(err)
	}
	select {
	case tm := <-fired:
		if tm.ID != "soon" || time.Now().Before(due) {
			t.Errorf("fired %s at %v, due %v", tm.ID, time.Now(), due)
		}
	case <-time.After(5 * time.Second):
		t.Error("not woken")
	}
	stop()
	if err := <-errc; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// A slow handler must not hold up a timer coming due after it: one Run loop
// keeps claiming while earlier batches are still being handled.
func TestRunSlowHandlerDoesNotBlockLaterTimers(t *testing.T) {
	rdb := testRedis(t)
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), MaxPoll: 10 * time.Millisecond})
	release := make(chan struct{})
	fast := make(chan struct{})
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		errc <- w.Run(ctx, func(_ context.Context, tm Timer) error {
			if tm.ID == "slow" {
				<-release
				return nil
			}
			close(fast)
			return nil
		})
	}()
	now := time.Now()
	if err := w.Schedule(ctx, Timer{ID: "slow", Due: now}, Timer{ID: "fast", Due: now.Add(20 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fast:
	case <-time.After(5 * time.Second):
		t.Error("the later timer waited for the slow handler")
	}
	close(release)
	stop()
	if err := <-errc; err != nil {
		t.Errorf("Run = %v", err)
	}
	if n, _ := w.Pending(context.Background()); n != 0 {
		t.Errorf("pending after shutdown = %d: the slow timer's batch was not finished and acked", n)
	}
}

func TestRunRetriesAfterLease(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), Now: clk.Now, Lease: time.Minute, MaxPoll: 5 * time.Millisecond})
	ctx, stop := context.WithCancel(context.Background())
	calls := make(chan int, 2)
	var n atomic.Int32
	errc := make(chan error)
	go func() {
		errc <- w.Run(ctx, func(context.Context, Timer) error {
			calls <- int(n.Add(1))
			if n.Load() == 1 {
				return errors.New("transient")
			}
			return nil
		})
	}()
	if err := w.Schedule(ctx, Timer{ID: "a", Due: base}); err != nil {
		t.Fatal(err)
	}
	if got := <-calls; got != 1 {
		t.Fatalf("call %d", got)
	}
	clk.Set(base.Add(time.Minute)) // the lease runs out
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatal("not redelivered after the lease")
	}
	stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Run acks the batch in flight before it returns.
	if p, _ := w.Pending(context.Background()); p != 0 {
		t.Errorf("second delivery was not acked: pending %d", p)
	}
}

func TestCollectors(t *testing.T) {
	rdb := testRedis(t)
	clk := &fakeClock{t: base}
	w := newWheel(t, rdb, Options{Prefix: testPrefix(t, rdb), Now: clk.Now})
	reg := prometheus.NewPedanticRegistry()
	for _, c := range w.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := w.Schedule(ctx, Timer{ID: "a", Due: base}, Timer{ID: "b", Due: base}, Timer{ID: "c", Due: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	clk.Set(base.Add(250 * time.Millisecond))
	w.handle(ctx, func(_ context.Context, tm Timer) error {
		if tm.ID == "b" {
			return errors.New("fail")
		}
		return nil
	}, mustClaim(t, w), make(chan struct{}, 1))
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		switch {
		case m.Gauge != nil:
			got[mf.GetName()] = m.Gauge.GetValue()
		case m.Counter != nil:
			got[mf.GetName()] = m.Counter.GetValue()
		case m.Histogram != nil:
			got[mf.GetName()] = m.Histogram.GetSampleSum()
		}
	}
	want := map[string]float64{
		"weibao_timers_pending":         3,
		"weibao_timers_fired_total":     1,
		"weibao_timer_failures_total":   1,
		"weibao_timer_fire_lag_seconds": 0.5,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
}

func TestNewRejects(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, opt := range []Options{{Prefix: "weibao:timers:"}, {Prefix: "x:{}:"}, {Prefix: "w:{t}:", Batch: 5000}} {
		if _, err := New(rdb, opt); err == nil {
			t.Errorf("New(%+v) succeeded", opt)
		}
	}
	if _, err := New(rdb, Options{Prefix: "w:{t}:"}); err != nil {
		t.Error(err)
	}
}
