// Package timerwheel keeps many one-shot timers in Redis and fires each one
// once across any number of replicas.
//
// A timer is an opaque id with a due time and a payload. Redis holds a sorted
// set (id → due, unix ms) and a hash (id → due and payload). Run claims due
// timers with a Lua script that moves their score to now+lease in the same
// step: the replica that claimed them handles them and acks (removes) them;
// if its handler fails or the replica dies, the lease runs out and another
// replica claims them again. Delivery is therefore at least once: handlers
// must be idempotent. Redis is an index, not the truth: callers rebuild it
// from their database with Reconcile after a restart or flush.
//
// All keys share the prefix's {hash tag}, so the scripts touch one slot and
// work on Redis Cluster. Due times have millisecond precision and a timer
// never fires before its due time by the Now clock (replicas should share
// NTP time).
package timerwheel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Timer is one scheduled timer.
type Timer struct {
	ID string
	// Due is rounded up to the millisecond when stored.
	Due     time.Time
	Payload []byte
}

// Handler handles a due timer. A nil error acks the timer; an error (or a
// panic) leaves it to be claimed again after the lease. The context ends
// when the lease does.
type Handler func(ctx context.Context, t Timer) error

// Options configure a Wheel. Zero values take the defaults given.
type Options struct {
	// Prefix starts every key and must contain a {hash tag}, e.g.
	// "weibao:{sla}:".
	Prefix string
	// Lease is how long a claim lasts before the timer can be claimed again
	// (default 30 s). Handlers must finish well within it.
	Lease time.Duration
	// Batch is how many timers one claim takes (default 500, max 2000: the
	// script unpacks them onto the Lua stack).
	Batch int
	// Concurrency is how many handlers run at once per Run loop (default 16).
	Concurrency int
	// MaxPoll bounds the sleep between claims (default 1 s). Run sleeps
	// until the earliest due time and is woken early by this process's
	// Schedule; MaxPoll is how soon it notices timers other processes
	// scheduled earlier than that.
	MaxPoll time.Duration
	// Now is the clock that decides what is due (default time.Now).
	Now func() time.Time
	// Logger receives claim and handler errors (default: discarded).
	Logger *slog.Logger
}

// Wheel schedules and fires timers. It is safe for concurrent use; Run may
// be called from several goroutines.
type Wheel struct {
	rdb  redis.UniversalClient
	opt  Options
	keys []string

	mu   sync.Mutex
	wake chan struct{} // closed and replaced to wake sleeping Run loops

	pending  prometheus.Gauge
	lag      prometheus.Histogram
	fired    prometheus.Counter
	failures prometheus.Counter
}

var hashTag = regexp.MustCompile(`\{[^{}]+\}`)

// New returns a Wheel on rdb.
func New(rdb redis.UniversalClient, opt Options) (*Wheel, error) {
	if !hashTag.MatchString(opt.Prefix) {
		return nil, fmt.Errorf("timerwheel: prefix %q needs a {hash tag}", opt.Prefix)
	}
	if opt.Batch > 2000 {
		return nil, fmt.Errorf("timerwheel: batch %d above 2000", opt.Batch)
	}
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&opt.Lease, 30*time.Second)
	def(&opt.MaxPoll, time.Second)
	if opt.Batch <= 0 {
		opt.Batch = 500
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = 16
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Wheel{
		rdb:  rdb,
		opt:  opt,
		keys: []string{opt.Prefix + "due", opt.Prefix + "pl"},
		wake: make(chan struct{}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weibao_timers_pending",
			Help: "Timers scheduled and not yet acked, as of the last claim.",
		}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weibao_timer_fire_lag_seconds",
			Help:    "Time from a timer's due time to its handler starting.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		fired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weibao_timers_fired_total",
			Help: "Timers handled successfully.",
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weibao_timer_failures_total",
			Help: "Handler errors and panics; the timer fires again after its lease.",
		}),
	}, nil
}

// Collectors returns the wheel's metrics for main to register.
func (w *Wheel) Collectors() []prometheus.Collector {
	return []prometheus.Collector{w.pending, w.lag, w.fired, w.failures}
}

// chunk is how many timers go into one Redis command or script call.
const chunk = 500

// dueMS rounds up, so that "score <= now" never fires early.
func dueMS(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

func encode(ms int64, payload []byte) []byte {
	b := strconv.AppendInt(make([]byte, 0, 14+len(payload)), ms, 10)
	b = append(b, ':')
	return append(b, payload...)
}

// Schedule adds timers or moves existing ones (same id) to a new due time
// and payload. Each chunk is written in one MULTI so a claim never sees a
// half-written timer.
func (w *Wheel) Schedule(ctx context.Context, timers ...Timer) error {
	var earliest time.Time
	for start := 0; start < len(timers); start += chunk {
		part := timers[start:min(start+chunk, len(timers))]
		zs := make([]redis.Z, len(part))
		hv := make([]any, 0, 2*len(part))
		for i, t := range part {
			ms := dueMS(t.Due)
			zs[i] = redis.Z{Score: float64(ms), Member: t.ID}
			hv = append(hv, t.ID, encode(ms, t.Payload))
			if earliest.IsZero() || t.Due.Before(earliest) {
				earliest = t.Due
			}
		}
		if _, err := w.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, w.keys[1], hv...)
			p.ZAdd(ctx, w.keys[0], zs...)
			return nil
		}); err != nil {
			return fmt.Errorf("timerwheel: schedule: %w", err)
		}
	}
	w.wakeBefore(earliest)
	return nil
}

// Reconcile schedules the timers that are missing from Redis or differ from
// the given due time and payload, and leaves the others alone: a timer in
// flight keeps its lease instead of firing twice. It never removes timers,
// because a stale timer is harmless to an idempotent handler while deleting
// one a concurrent Schedule just wrote is not. It returns how many timers it
// wrote.
func (w *Wheel) Reconcile(ctx context.Context, timers ...Timer) (int, error) {
	var n int
	var earliest time.Time
	for start := 0; start < len(timers); start += chunk {
		part := timers[start:min(start+chunk, len(timers))]
		args := make([]any, 0, 3*len(part))
		for _, t := range part {
			ms := dueMS(t.Due)
			args = append(args, t.ID, ms, encode(ms, t.Payload))
			if earliest.IsZero() || t.Due.Before(earliest) {
				earliest = t.Due
			}
		}
		wrote, err := reconcileScript.Run(ctx, w.rdb, w.keys, args...).Int()
		if err != nil {
			return n, fmt.Errorf("timerwheel: reconcile: %w", err)
		}
		n += wrote
	}
	if n > 0 {
		w.wakeBefore(earliest)
	}
	return n, nil
}

// Cancel removes timers; unknown ids are ignored. A timer already claimed
// may still be handled once.
func (w *Wheel) Cancel(ctx context.Context, ids ...string) error {
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		members := make([]any, len(part))
		for i, id := range part {
			members[i] = id
		}
		if _, err := w.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.ZRem(ctx, w.keys[0], members...)
			p.HDel(ctx, w.keys[1], part...)
			return nil
		}); err != nil {
			return fmt.Errorf("timerwheel: cancel: %w", err)
		}
	}
	return nil
}

// Pending returns how many timers are scheduled and not yet acked,
// including those in flight.
func (w *Wheel) Pending(ctx context.Context) (int64, error) {
	n, err := w.rdb.ZCard(ctx, w.keys[0]).Result()
	if err != nil {
		return 0, fmt.Errorf("timerwheel: pending: %w", err)
	}
	return n, nil
}

// wakeBefore wakes sleeping Run loops when t may be earlier than what they
// sleep for: anything due within MaxPoll. A spurious wake costs one claim.
func (w *Wheel) wakeBefore(t time.Time) {
	if t.IsZero() || t.Sub(w.opt.Now()) >= w.opt.MaxPoll {
		return
	}
	w.mu.Lock()
	close(w.wake)
	w.wake = make(chan struct{})
	w.mu.Unlock()
}

func (w *Wheel) wakeChan() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.wake
}

// claim is one claim's result.
type claim struct {
	lease  string // the score the claimed timers hold; acks must match it
	timers []Timer
	next   time.Time // earliest score when nothing was due; zero if none
}

func (w *Wheel) claim(ctx context.Context, n int) (claim, error) {
	now := w.opt.Now().UnixMilli()
	// now+lease-0.5: claimable again exactly Lease later, and never equal
	// to the whole milliseconds Schedule writes (see claimScript).
	lease := strconv.FormatInt(now+w.opt.Lease.Milliseconds()-1, 10) + ".5"
	res, err := claimScript.Run(ctx, w.rdb, w.keys, now, lease, n).Slice()
	if err != nil {
		return claim{}, fmt.Errorf("timerwheel: claim: %w", err)
	}
	if len(res) < 2 {
		return claim{}, fmt.Errorf("timerwheel: claim: short reply %v", res)
	}
	pending, _ := res[0].(int64)
	w.pending.Set(float64(pending))
	var c claim
	if len(res) == 2 {
		if next, _ := res[1].(int64); next >= 0 {
			c.next = time.UnixMilli(next)
		}
		return c, nil
	}
	c.lease = lease
	for i := 2; i+1 < len(res); i += 2 {
		id, _ := res[i].(string)
		v, ok := res[i+1].(string)
		if !ok {
			// Schedule writes both keys in one MULTI, so this is a foreign
			// write; the entry stays leased and reappears after the lease.
			w.opt.Logger.Warn("timer without payload", "timer_id", id)
			continue
		}
		t, err := decode(id, v)
		if err != nil {
			w.opt.Logger.Warn("bad timer value", "timer_id", id, "err", err)
			continue
		}
		c.timers = append(c.timers, t)
	}
	return c, nil
}

func decode(id, v string) (Timer, error) {
	i := strings.IndexByte(v, ':')
	if i < 0 {
		return Timer{}, errors.New("no due prefix")
	}
	ms, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil {
		return Timer{}, err
	}
	return Timer{ID: id, Due: time.UnixMilli(ms), Payload: []byte(v[i+1:])}, nil
}

// Run claims and handles due timers until ctx is done, then waits for the
// handlers in flight, acks them and returns nil. Redis errors are logged and
// retried with backoff; the only error is a nil handler.
func (w *Wheel) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("timerwheel: nil handler")
	}
	backoff := 50 * time.Millisecond
	sleep := time.NewTimer(time.Hour)
	defer sleep.Stop()
	// Claimed batches are handled beside the claim loop, so a slow handler
	// never holds up a timer coming due after it. At most Batch timers are
	// claimed and unfinished at once (claims resume when half are done), so
	// none waits near its lease; slots bounds the handlers running at once.
	var (
		batches  sync.WaitGroup
		inflight atomic.Int64
		freed    = make(chan struct{}, 1)
		slots    = make(chan struct{}, w.opt.Concurrency)
	)
	defer batches.Wait() // a shutdown finishes what was claimed
	for ctx.Err() == nil {
		if inflight.Load() > int64(w.opt.Batch/2) {
			select {
			case <-ctx.Done():
				return nil
			case <-freed:
			}
			continue
		}
		// Taken before the claim, so a Schedule between the claim and the
		// sleep still wakes us.
		woken := w.wakeChan()
		// A claim is never cancelled half-way: what it leased is handled,
		// rather than left hidden until the lease runs out.
		c, err := w.claim(context.WithoutCancel(ctx), w.opt.Batch-int(inflight.Load()))
		var wait time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			w.opt.Logger.Warn("claim timers", "err", err)
			wait = backoff
			backoff = min(2*backoff, w.opt.MaxPoll)
		case c.lease != "":
			backoff = 50 * time.Millisecond
			inflight.Add(int64(len(c.timers)))
			batches.Go(func() {
				w.handle(ctx, h, c, slots)
				inflight.Add(-int64(len(c.timers)))
				select {
				case freed <- struct{}{}:
				default:
				}
			})
			continue
		default:
			backoff = 50 * time.Millisecond
			wait = w.opt.MaxPoll
			if !c.next.IsZero() {
				wait = min(wait, c.next.Sub(w.opt.Now()))
			}
		}
		if wait <= 0 {
			continue
		}
		sleep.Reset(wait)
		select {
		case <-ctx.Done():
		case <-woken:
			sleep.Stop() // since Go 1.23 no stale tick can follow
		case <-sleep.C:
		}
	}
	return nil
}

// handle runs the handlers of one claim, each holding one of slots while it
// runs, and acks those that succeeded. It ignores ctx's cancellation so a
// shutdown finishes the batch instead of leaving it to the lease.
func (w *Wheel) handle(ctx context.Context, h Handler, c claim, slots chan struct{}) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opt.Lease)
	defer cancel()
	ok := make([]bool, len(c.timers))
	var next atomic.Int64
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(c.timers) {
				return
			}
			slots <- struct{}{}
			ok[i] = w.call(hctx, h, c.timers[i])
			<-slots
		}
	}
	var wg sync.WaitGroup
	for range min(w.opt.Concurrency, len(c.timers)) {
		wg.Go(work)
	}
	wg.Wait()
	args := []any{c.lease}
	for i, t := range c.timers {
		if ok[i] {
			args = append(args, t.ID)
		}
	}
	if len(args) == 1 {
		return
	}
	if err := ackScript.Run(hctx, w.rdb, w.keys, args...).Err(); err != nil {
		// The timers come back after the lease; handlers are idempotent.
		w.opt.Logger.Warn("ack timers", "count", len(args)-1, "err", err)
	}
}

func (w *Wheel) call(ctx context.Context, h Handler, t Timer) (ok bool) {
	w.lag.Observe(w.opt.Now().Sub(t.Due).Seconds())
	defer func() {
		if r := recover(); r != nil {
			w.failures.Inc()
			w.opt.Logger.Error("timer handler panic", "timer_id", t.ID, "panic", r, "stack", string(debug.Stack()))
			ok = false
		}
	}()
	if err := h(ctx, t); err != nil {
		w.failures.Inc()
		w.opt.Logger.Warn("timer handler", "timer_id", t.ID, "err", err)
		return false
	}
	w.fired.Inc()
	return true
}
