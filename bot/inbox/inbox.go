// Package inbox is the inbound pipeline between a chat channel and the bot:
// a verified event is deduplicated (a Redis key that outlives WeCom's retry
// window, with the database's unique key as the backstop), stored, and only
// then acknowledged; workers hand it to the bot asynchronously. Events left
// unhandled by a crash are claimed again when their lease ends, including at
// start-up, so nothing acknowledged is lost.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"weibao/bot"
)

// Handler is the bot: it must be idempotent, events arrive at least once.
type Handler func(ctx context.Context, m bot.Message) error

// ParseFunc turns a stored payload back into a message (wecom.Parse).
type ParseFunc func(source string, payload []byte, now time.Time) (bot.Message, error)

// Options configure an Inbox.
type Options struct {
	Store   bot.Inbox
	Redis   redis.UniversalClient
	Handler Handler
	Parse   ParseFunc
	Clock   bot.Clock
	Logger  *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer

	Workers     int           // concurrent handlers, default 8
	Queue       int           // events buffered for the workers, default 4096
	Lease       time.Duration // how long a claimed event is ours, default 2 min
	Timeout     time.Duration // per handling, default 30 s
	Sweep       time.Duration // how often leftovers are claimed, default 5 s
	DedupeTTL   time.Duration // life of a dedupe key, default 15 min (WeCom retries within ~20 s)
	MaxAttempts int           // attempts before an event is given up, default 10
	KeyPrefix   string        // Redis key prefix, default "weibao:inbox:"
}

// Inbox accepts events and runs the workers.
type Inbox struct {
	opt   Options
	queue chan item

	// Group commit: concurrent Accepts share INSERTs. A caller that finds
	// fewer than writers flushes running writes the pending events itself.
	mu       sync.Mutex
	pending  []*call
	flushing int

	done chan string
	m    metrics
}

// writers bounds the concurrent batch INSERTs of Accept.
const writers = 4

// call is one Accept waiting for its event to be written.
type call struct {
	ev   bot.InboundEvent
	done chan error
}

type item struct {
	ev bot.InboundEvent
	m  bot.Message
}

type metrics struct {
	accepted   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	handled    *prometheus.CounterVec
	depth      prometheus.GaugeFunc
}

// New checks opt and fills defaults.
func New(opt Options) (*Inbox, error) {
	if opt.Store == nil || opt.Redis == nil || opt.Handler == nil || opt.Parse == nil || opt.Logger == nil {
		return nil, errors.New("inbox: Store, Redis, Handler, Parse and Logger are required")
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.Lease, 2*time.Minute)
	def(&opt.Timeout, 30*time.Second)
	def(&opt.Sweep, 5*time.Second)
	def(&opt.DedupeTTL, 15*time.Minute)
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.Queue <= 0 {
		opt.Queue = 4096
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 10
	}
	if opt.KeyPrefix == "" {
		opt.KeyPrefix = "weibao:inbox:"
	}
	in := &Inbox{opt: opt, queue: make(chan item, opt.Queue), done: make(chan string, opt.Queue)}
	in.m = metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_inbox_accepted_total",
			Help: "Inbound events stored, by source."}, []string{"source"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_inbox_duplicates_total",
			Help: "Inbound events dropped as retries, by where they were caught."}, []string{"by"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_inbox_handled_total",
			Help: "Handling attempts, by result (ok, retry, dead)."}, []string{"result"}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weibao_inbox_queue_depth",
			Help: "Events waiting for a worker in this process."}, func() float64 { return float64(len(in.queue)) }),
	}
	if opt.Registerer != nil {
		for _, c := range []prometheus.Collector{in.m.accepted, in.m.duplicates, in.m.handled, in.m.depth} {
			if err := opt.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("inbox metrics: %w", err)
			}
		}
	}
	return in, nil
}

// ErrDuplicate reports an event already accepted; answer the channel as for
// a success and do nothing else.
var ErrDuplicate = errors.New("inbox: duplicate event")

// Accept stores ev (whose payload parses to m) and queues it for the
// workers. It returns ErrDuplicate for a retry; any other error means the
// event is not stored and the channel should deliver it again.
func (in *Inbox) Accept(ctx context.Context, ev bot.InboundEvent, m bot.Message) error {
	now := in.opt.Clock.Now()
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = now
	}
	ev.Attempts = 1 // this replica handles it first
	if err := in.add(ctx, ev, now.Add(in.opt.Lease)); err != nil {
		switch {
		case errors.Is(err, errSeen):
			in.m.duplicates.WithLabelValues("redis").Inc()
			return ErrDuplicate
		case errors.Is(err, bot.ErrConflict):
			in.m.duplicates.WithLabelValues("database").Inc()
			return ErrDuplicate
		}
		return fmt.Errorf("inbox: store %s: %w", ev.ID, err)
	}
	in.m.accepted.WithLabelValues(ev.Source).Inc()
	select {
	case in.queue <- item{ev, m}:
	default:
		// Workers are behind: the stored event is claimed by the sweep once
		// its lease ends.
	}
	return nil
}

// errSeen marks an event whose dedupe key was already set.
var errSeen = errors.New("inbox: dedupe key set")

// add writes ev in a batch with whatever other Accepts are waiting.
func (in *Inbox) add(ctx context.Context, ev bot.InboundEvent, leaseUntil time.Time) error {
	c := &call{ev: ev, done: make(chan error, 1)}
	in.mu.Lock()
	in.pending = append(in.pending, c)
	if in.flushing < writers {
		in.flushing++
		for len(in.pending) > 0 {
			batch := in.pending[:min(len(in.pending), 200)]
			in.pending = in.pending[len(batch):]
			in.mu.Unlock()
			in.write(ctx, batch, leaseUntil)
			in.mu.Lock()
		}
		in.flushing--
	}
	in.mu.Unlock()
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write dedupes a batch with one pipelined round trip to Redis, then stores
// the fresh events with one INSERT.
func (in *Inbox) write(ctx context.Context, batch []*call, leaseUntil time.Time) {
	// Other callers' events ride on this write: it must not die with our request.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	pipe := in.opt.Redis.Pipeline()
	seen := make([]*redis.BoolCmd, len(batch))
	for i, c := range batch {
		seen[i] = pipe.SetNX(wctx, in.opt.KeyPrefix+c.ev.ID, 1, in.opt.DedupeTTL)
	}
	if _, err := pipe.Exec(wctx); err != nil && !errors.Is(err, redis.Nil) {
		// Redis only speeds dedupe up; the inbox's unique key still holds.
		in.opt.Logger.Warn("inbox dedupe keys", "events", len(batch), "err", err)
	}
	var fresh []*call
	for i, c := range batch {
		if ok, err := seen[i].Result(); err == nil && !ok {
			c.done <- errSeen
			continue
		}
		fresh = append(fresh, c)
	}
	if len(fresh) == 0 {
		return
	}
	evs := make([]bot.InboundEvent, len(fresh))
	for i, c := range fresh {
		evs[i] = c.ev
	}
	errs := in.opt.Store.AddInbound(wctx, leaseUntil, evs...)
	for i, c := range fresh {
		if errs[i] != nil && !errors.Is(errs[i], bot.ErrConflict) {
			// Not stored: let WeCom's retry through the dedupe key.
			in.opt.Redis.Del(wctx, in.opt.KeyPrefix+c.ev.ID)
		}
		c.done <- errs[i]
	}
}

// Run works until ctx ends: it first claims what a previous run left, then
// handles queued events and sweeps for leftovers.
func (in *Inbox) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range in.opt.Workers {
		wg.Go(func() { in.work(ctx) })
	}
	flushed := make(chan struct{})
	go func() { in.flushDone(ctx); close(flushed) }()
	in.sweep(ctx)
	t := time.NewTicker(in.opt.Sweep)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			in.sweep(ctx)
		}
	}
	wg.Wait()
	// Every worker has stopped: nothing sends on done any more, so flushDone
	// can mark the last handled events and end.
	close(in.done)
	<-flushed
	in.release()
	return nil
}

// sweep claims events whose lease ended (a crash, a full queue, a retry
// that is due) and queues them.
func (in *Inbox) sweep(ctx context.Context) {
	for ctx.Err() == nil {
		room := cap(in.queue) - len(in.queue)
		if room == 0 {
			return
		}
		now := in.opt.Clock.Now()
		evs, err := in.opt.Store.ClaimInbound(ctx, now, now.Add(in.opt.Lease), min(room, 500))
		if err != nil {
			if ctx.Err() == nil {
				in.opt.Logger.Error("inbox claim", "err", err)
			}
			return
		}
		for _, ev := range evs {
			m, err := in.opt.Parse(ev.Source, ev.Payload, ev.ReceivedAt)
			if err != nil {
				in.opt.Logger.Error("inbox: stored event does not parse", "msg_id", ev.ID, "err", err)
				in.opt.Store.InboundFailed(ctx, ev.ID, err.Error(), now, true)
				continue
			}
			select {
			case in.queue <- item{ev, m}:
			case <-ctx.Done():
				return
			}
		}
		if len(evs) == 0 {
			return
		}
	}
}

func (in *Inbox) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-in.queue:
			in.handle(ctx, it)
		}
	}
}

func (in *Inbox) handle(ctx context.Context, it item) {
	hctx, cancel := context.WithTimeout(ctx, in.opt.Timeout)
	defer cancel()
	err := safely(func() error { return in.opt.Handler(hctx, it.m) })
	if err == nil {
		in.m.handled.WithLabelValues("ok").Inc()
		in.done <- it.ev.ID
		return
	}
	if ctx.Err() != nil {
		return // shutting down: release() puts it back
	}
	attempts := it.ev.Attempts
	dead := attempts >= in.opt.MaxAttempts
	result := "retry"
	if dead {
		result = "dead"
	}
	in.m.handled.WithLabelValues(result).Inc()
	in.opt.Logger.Error("inbox: handling failed", "msg_id", it.ev.ID, "attempt", attempts, "dead", dead, "err", err)
	retryAt := in.opt.Clock.Now().Add(backoff(attempts))
	if err := in.opt.Store.InboundFailed(context.WithoutCancel(ctx), it.ev.ID, err.Error(), retryAt, dead); err != nil {
		in.opt.Logger.Error("inbox: record failure", "msg_id", it.ev.ID, "err", err)
	}
}

// flushDone marks handled events in batches: one UPDATE for many events
// keeps the database writes per callback near one. It ends when Run closes
// done, after the workers have stopped, so no handled event goes unmarked.
func (in *Inbox) flushDone(ctx context.Context) {
	var batch []string
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if err := in.opt.Store.InboundHandled(context.WithoutCancel(ctx), batch); err != nil {
			// Left unmarked, they are handled again after their lease: the
			// handler is idempotent.
			in.opt.Logger.Error("inbox: mark handled", "events", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case id, ok := <-in.done:
			if !ok {
				flush()
				return
			}
			batch = append(batch, id)
			if len(batch) >= 200 {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}

// release hands the events still queued back to the store at once, so the
// next start (or another replica) need not wait for their lease.
func (in *Inbox) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := in.opt.Clock.Now()
	for {
		select {
		case it := <-in.queue:
			in.opt.Store.InboundFailed(ctx, it.ev.ID, "shutdown", now, false)
		default:
			return
		}
	}
}

func backoff(attempt int) time.Duration {
	d := time.Second << min(attempt, 10)
	return min(d, 10*time.Minute)
}

func safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}
