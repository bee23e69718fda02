// Package inbox is the inbound pipeline between a chat channel and the bot:
// a verified event is synced to a local journal and only then acknowledged;
// behind the answer a mover deduplicates it (a Redis key that outlives
// WeCom's retry window, with the database's unique key as the backstop) and
// stores it, and workers hand it to the bot. The answer waits on neither the
// database nor Redis, so their stalls and outages do not reach WeCom. Events
// left in the journal or unhandled in the database by a crash are picked up
// at start-up, so nothing acknowledged is lost.
//
// The database is the queue between replicas: an event that finds this
// process's queue full is released there at once, and whichever replica has
// a worker free claims it (this one as soon as its queue runs low, the others
// at their next sweep). Held events are leased for seconds and the lease is
// renewed while they wait or run, so a crashed replica's events are taken
// over after one short lease.
package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"weibao/bot"
)

// Handler is the bot: it must be idempotent, events arrive at least once.
type Handler func(ctx context.Context, m bot.Message) error

// ParseFunc turns a payload into its message (wecom.Parse). The inbox needs
// it only for events kept without their message, by a version that stored
// payloads alone: records of its journal and rows of its inbox table.
type ParseFunc func(source string, payload []byte, now time.Time) (bot.Message, error)

// Deduper remembers keys across replicas for a while (redisstore.Values).
type Deduper interface {
	// ClaimAll marks each key for ttl; first[i] tells whether keys[i] was
	// not marked yet. On an error no key may be taken as seen.
	ClaimAll(ctx context.Context, keys []string, ttl time.Duration) (first []bool, err error)
}

// Options configure an Inbox.
type Options struct {
	Store bot.Inbox
	// Journal is the local write-ahead file's path, one per process.
	Journal string
	// Dedupe catches WeCom's retries before the database does.
	Dedupe  Deduper
	Handler Handler
	Parse   ParseFunc
	Clock   bot.Clock
	Logger  *slog.Logger
	// Registerer receives the metrics; nil registers none.
	Registerer prometheus.Registerer

	Workers     int           // concurrent handlers, default 8
	Queue       int           // events held for the workers, default 256; the rest wait in the database
	Lease       time.Duration // how long a held event is ours unless renewed, default 10 s
	Timeout     time.Duration // per handling, default 30 s
	Sweep       time.Duration // how often other replicas' leftovers are looked for, default 1 s
	DedupeTTL   time.Duration // life of a dedupe key, default 15 min (WeCom retries within ~20 s)
	MaxAttempts int           // attempts before an event is given up, default 10
	KeyPrefix   string        // Redis key prefix, default "weibao:inbox:"
	// Retention is how long handled events stay as dedupe keys, default 7
	// days. WeCom retries a callback within about 20 s, so a retry never
	// outlives its row.
	Retention time.Duration
}

// Inbox accepts events and runs the mover and the workers.
type Inbox struct {
	opt   Options
	queue chan item
	j     *journal

	// Group commit: Accepts queue their events in pending, and the
	// journal writer writes all that is pending with one fdatasync.
	mu        sync.Mutex
	pending   []*call
	closed    bool
	writeErr  error  // the last journal write's, nil once one succeeds
	unmoved   []item // journaled, for the mover
	inFlight  int    // journaled events not yet in the database
	writeWake chan struct{}
	written   chan struct{} // closed when the journal writer has stopped
	moverWake chan struct{}

	// held is what this process leases (queued or running); the keeper
	// renews it.
	held map[string]struct{}
	// more says the database may hold claimable events (this process released
	// some): a worker that finds the queue low wakes the sweep.
	more      atomic.Bool
	sweepWake chan struct{}

	done chan string
	m    metrics
}

// call is one Accept waiting for its event to be journaled.
type call struct {
	it   item
	done chan error
}

type item struct {
	ev bot.InboundEvent
	m  bot.Message
	// again marks an event that may have been stored already (read back
	// from the journal, or retried after a failed store): it skips the
	// Redis dedupe key, which may be set without the event being stored,
	// and relies on the database's unique key alone.
	again bool
}

type metrics struct {
	accepted   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	handled    *prometheus.CounterVec
	depth      prometheus.GaugeFunc
	unstored   prometheus.GaugeFunc
}

// journalReset is the size past which a busy journal is emptied whenever
// the database holds everything in it; an idle one is emptied as soon as
// it does, so a restart never replays stored events into a database that
// was restored or purged since.
const journalReset = 1 << 20

// New checks opt, fills defaults and opens the journal; events a previous
// process journaled but did not store are moved first when Run starts.
func New(opt Options) (*Inbox, error) {
	if opt.Store == nil || opt.Dedupe == nil || opt.Handler == nil || opt.Parse == nil || opt.Logger == nil || opt.Journal == "" {
		return nil, errors.New("inbox: Store, Dedupe, Handler, Parse, Logger and Journal are required")
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.Lease, 10*time.Second)
	def(&opt.Timeout, 30*time.Second)
	def(&opt.Sweep, time.Second)
	def(&opt.DedupeTTL, 15*time.Minute)
	def(&opt.Retention, 7*24*time.Hour)
	if opt.Workers <= 0 {
		opt.Workers = 8
	}
	if opt.Queue <= 0 {
		opt.Queue = 256
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = 10
	}
	if opt.KeyPrefix == "" {
		opt.KeyPrefix = "weibao:inbox:"
	}
	in := &Inbox{opt: opt, queue: make(chan item, opt.Queue), done: make(chan string, opt.Queue), writeWake: make(chan struct{}, 1),
		written: make(chan struct{}), moverWake: make(chan struct{}, 1),
		held: map[string]struct{}{}, sweepWake: make(chan struct{}, 1)}
	in.m = metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_inbox_accepted_total",
			Help: "Inbound events journaled and acknowledged, by source."}, []string{"source"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_inbox_duplicates_total",
			Help: "Inbound events dropped as retries, by where they were caught."}, []string{"by"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_inbox_handled_total",
			Help: "Handling attempts, by result (ok, retry, dead)."}, []string{"result"}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weibao_inbox_queue_depth",
			Help: "Events waiting for a worker in this process."}, func() float64 { return float64(len(in.queue)) }),
		unstored: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "weibao_inbox_unstored",
			Help: "Events journaled and acknowledged but not yet in the database."}, func() float64 {
			in.mu.Lock()
			defer in.mu.Unlock()
			return float64(in.inFlight)
		}),
	}
	if opt.Registerer != nil {
		for _, c := range []prometheus.Collector{in.m.accepted, in.m.duplicates, in.m.handled, in.m.depth, in.m.unstored} {
			if err := opt.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("inbox metrics: %w", err)
			}
		}
	}
	j, left, cut, err := openJournal(opt.Journal)
	if err != nil {
		return nil, err
	}
	if cut > 0 {
		opt.Logger.Warn("inbox journal: cut off a torn record (a write the crash interrupted, never acknowledged)", "bytes", cut)
	}
	in.j = j
	for _, ev := range left {
		m, err := in.message(ev)
		if err != nil {
			opt.Logger.Error("inbox: journaled event does not parse; dropped", "msg_id", ev.ID, "err", err)
			continue
		}
		ev.Message = &m
		in.unmoved = append(in.unmoved, item{ev: ev, m: m, again: true})
	}
	in.inFlight = len(in.unmoved)
	if len(left) > 0 {
		opt.Logger.Info("inbox: journal from the last run read; storing what the database lacks", "events", len(left))
	}
	go in.writeJournal()
	return in, nil
}

// ErrClosed is Accept's answer after Close.
var ErrClosed = errors.New("inbox: closed")

// Close stops accepting and releases the journal; call it after Run has
// returned.
func (in *Inbox) Close() error {
	in.mu.Lock()
	if !in.closed {
		in.closed = true
		close(in.writeWake)
	}
	in.mu.Unlock()
	<-in.written
	return in.j.close()
}

// Ready reports whether Accept can keep events: the inbox is open and its
// last journal write succeeded. This is weibao's readiness: with the
// database or Redis down, callbacks are still journaled and acknowledged.
func (in *Inbox) Ready(context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return ErrClosed
	}
	return in.writeErr
}

// Accept journals ev with m, the message its payload parses to, and hands
// it to the mover; m is stored with it and handled without parsing again.
// Once it returns nil the event survives a crash: acknowledge it. An error
// means it is not kept and the channel should deliver it again. Retries are
// accepted too; the mover drops them.
func (in *Inbox) Accept(ctx context.Context, ev bot.InboundEvent, m bot.Message) error {
	if ev.ReceivedAt.IsZero() {
		ev.ReceivedAt = in.opt.Clock.Now()
	}
	ev.Message = &m
	ev.Attempts = 1 // this replica handles it first
	c := &call{it: item{ev: ev, m: m}, done: make(chan error, 1)}
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return ErrClosed
	}
	in.pending = append(in.pending, c)
	select {
	case in.writeWake <- struct{}{}:
	default:
	}
	in.mu.Unlock()
	select {
	case err := <-c.done:
		if err != nil {
			return fmt.Errorf("inbox: keep %s: %w", ev.ID, err)
		}
		in.m.accepted.WithLabelValues(ev.Source).Inc()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writeJournal writes what Accepts left pending, a batch per fdatasync,
// until Close; then once more, so no Accept is left waiting.
func (in *Inbox) writeJournal() {
	defer close(in.written)
	for open := true; open; {
		_, open = <-in.writeWake
		in.mu.Lock()
		batch := in.pending
		in.pending = nil
		// Nothing journaled is waiting for the database: the file can start
		// over. Only this goroutine adds to inFlight.
		reset := in.inFlight == 0 && in.j.size > 0 && (len(batch) == 0 || in.j.size > journalReset)
		in.mu.Unlock()
		if len(batch) == 0 {
			if reset {
				in.resetJournal()
			}
			continue
		}
		err := in.append(batch, reset)
		in.mu.Lock()
		in.writeErr = err
		if err == nil {
			for _, c := range batch {
				in.unmoved = append(in.unmoved, c.it)
			}
			in.inFlight += len(batch)
			select {
			case in.moverWake <- struct{}{}:
			default:
			}
		}
		in.mu.Unlock()
		for _, c := range batch {
			c.done <- err
		}
	}
}

func (in *Inbox) resetJournal() {
	if err := in.j.reset(); err != nil {
		in.opt.Logger.Warn("inbox journal reset", "err", err)
	}
}

func (in *Inbox) append(batch []*call, reset bool) error {
	if reset {
		in.resetJournal()
	}
	evs := make([]bot.InboundEvent, len(batch))
	for i, c := range batch {
		evs[i] = c.it.ev
	}
	return in.j.append(evs)
}

// move copies journaled events into the database (first what a previous
// process left) until ctx ends, then once more for what is left, so a clean
// stop leaves nothing in the journal the database lacks.
func (in *Inbox) move(ctx context.Context) {
	var retry time.Duration
	for {
		for in.backlog() > 0 {
			if !in.moveOnce(ctx) {
				// The database is down: the events stay in the journal and
				// in memory; try again, backing off to 5 s.
				retry = min(max(2*retry, 100*time.Millisecond), 5*time.Second)
				break
			}
			retry = 0
		}
		// While backing off, new events wait for the timer: they must not
		// turn into a retry per callback against a database that is down.
		wake, wait := in.moverWake, (<-chan time.Time)(nil)
		if retry > 0 {
			wake, wait = nil, time.After(retry)
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			for in.backlog() > 0 && in.moveOnce(fctx) {
			}
			cancel()
			return
		case <-wake:
		case <-wait:
		}
	}
}

// backlog is how many journaled events wait for the mover.
func (in *Inbox) backlog() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.unmoved)
}

// moveOnce stores one batch of journaled events; it reports false when the
// store failed and the batch went back for a retry.
func (in *Inbox) moveOnce(ctx context.Context) bool {
	in.mu.Lock()
	batch := in.unmoved[:min(len(in.unmoved), 500)]
	in.unmoved = in.unmoved[len(batch):]
	in.mu.Unlock()
	if len(batch) == 0 {
		return true
	}
	stored, failed := in.store(ctx, batch)
	in.mu.Lock()
	in.inFlight -= len(batch) - len(failed)
	in.unmoved = append(failed, in.unmoved...)
	caughtUp := in.inFlight == 0
	in.mu.Unlock()
	if caughtUp {
		// Let the writer empty the journal if no callback is arriving.
		select {
		case in.writeWake <- struct{}{}:
		default:
		}
	}
	var over []string
	for _, it := range stored {
		if !in.offer(it) {
			over = append(over, it.ev.ID)
		}
	}
	if len(over) > 0 {
		// Workers are behind: the events wait in the database, free for the
		// first replica with a worker free, not for their lease to end.
		if err := in.opt.Store.ReleaseInbound(context.WithoutCancel(ctx), over, in.opt.Clock.Now()); err != nil {
			in.opt.Logger.Warn("inbox: release events beyond the queue; claimable when their lease ends", "events", len(over), "err", err)
		}
		in.more.Store(true)
		in.wakeSweep()
	}
	return len(failed) == 0
}

// offer queues it if there is room, holding its lease.
func (in *Inbox) offer(it item) bool {
	in.hold(it.ev.ID)
	select {
	case in.queue <- it:
		return true
	default:
		in.unhold(it.ev.ID)
		return false
	}
}

func (in *Inbox) hold(id string) {
	in.mu.Lock()
	in.held[id] = struct{}{}
	in.mu.Unlock()
}

func (in *Inbox) unhold(id string) {
	in.mu.Lock()
	delete(in.held, id)
	in.mu.Unlock()
}

func (in *Inbox) wakeSweep() {
	select {
	case in.sweepWake <- struct{}{}:
	default:
	}
}

// store dedupes a batch with one round trip to Redis, then stores the fresh
// events with one INSERT. It returns the events stored now and those to try
// again.
func (in *Inbox) store(ctx context.Context, batch []item) (stored, failed []item) {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var keys []string
	var checked []int // batch index of each key
	for i, it := range batch {
		if !it.again {
			keys = append(keys, in.opt.KeyPrefix+it.ev.ID)
			checked = append(checked, i)
		}
	}
	dup := make([]bool, len(batch))
	if len(keys) > 0 {
		first, err := in.opt.Dedupe.ClaimAll(wctx, keys, in.opt.DedupeTTL)
		if err != nil {
			// Redis only spares the database the retries; its unique key
			// still holds, so the whole batch goes there.
			in.opt.Logger.Warn("inbox dedupe keys", "events", len(batch), "err", err)
		}
		for k, i := range checked {
			dup[i] = err == nil && !first[k]
		}
	}
	var fresh []item
	for i, it := range batch {
		if dup[i] {
			in.m.duplicates.WithLabelValues("redis").Inc()
			continue
		}
		fresh = append(fresh, it)
	}
	if len(fresh) == 0 {
		return nil, nil
	}
	evs := make([]bot.InboundEvent, len(fresh))
	for i, it := range fresh {
		evs[i] = it.ev
	}
	leaseUntil := in.opt.Clock.Now().Add(in.opt.Lease)
	for i, err := range in.opt.Store.AddInbound(wctx, leaseUntil, evs...) {
		switch {
		case err == nil:
			stored = append(stored, fresh[i])
		case errors.Is(err, bot.ErrConflict):
			in.m.duplicates.WithLabelValues("database").Inc()
		default:
			if len(failed) == 0 {
				in.opt.Logger.Error("inbox: store journaled events", "events", len(fresh), "err", err)
			}
			it := fresh[i]
			it.again = true
			failed = append(failed, it)
		}
	}
	return stored, failed
}

// Run works until ctx ends: it first claims what a previous run left, then
// handles queued events and sweeps for leftovers.
func (in *Inbox) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range in.opt.Workers {
		wg.Go(func() { in.work(ctx) })
	}
	moved := make(chan struct{})
	go func() { in.move(ctx); close(moved) }()
	flushed := make(chan struct{})
	go func() { in.flushDone(ctx); close(flushed) }()
	kept := make(chan struct{})
	go func() { in.keep(ctx); close(kept) }()
	in.sweep(ctx)
	t := time.NewTicker(in.opt.Sweep)
	defer t.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-t.C:
			in.sweep(ctx)
		case <-in.sweepWake:
			in.sweep(ctx)
		}
	}
	wg.Wait()
	<-moved
	<-kept
	// Every worker has stopped: nothing sends on done any more, so flushDone
	// can mark the last handled events and end.
	close(in.done)
	<-flushed
	in.release()
	return nil
}

// sweep claims events whose lease ended (released beyond a full queue, a
// crashed replica's, a retry that is due) while the queue has room.
func (in *Inbox) sweep(ctx context.Context) {
	for ctx.Err() == nil {
		room := cap(in.queue) - len(in.queue)
		if room == 0 {
			return
		}
		limit := min(room, 500)
		// Cleared before the claim, so a release committed after the claim
		// looked sets it again and wakes the next sweep.
		in.more.Store(false)
		now := in.opt.Clock.Now()
		evs, err := in.opt.Store.ClaimInbound(ctx, now, now.Add(in.opt.Lease), limit)
		if err != nil {
			in.more.Store(true)
			if ctx.Err() == nil {
				in.opt.Logger.Error("inbox claim", "err", err)
			}
			return
		}
		if len(evs) == limit {
			in.more.Store(true)
		}
		for i, ev := range evs {
			m, err := in.message(ev)
			if err != nil {
				in.opt.Logger.Error("inbox: stored event does not parse", "msg_id", ev.ID, "err", err)
				in.opt.Store.InboundFailed(ctx, ev.ID, err.Error(), now, true)
				continue
			}
			in.hold(ev.ID)
			select {
			case in.queue <- item{ev: ev, m: m}:
			case <-ctx.Done():
				// Shutting down: what was claimed and not queued goes back.
				var back []string
				for _, ev := range evs[i:] {
					in.unhold(ev.ID)
					back = append(back, ev.ID)
				}
				in.opt.Store.ReleaseInbound(context.WithoutCancel(ctx), back, now)
				return
			}
		}
		if len(evs) < limit {
			return
		}
	}
}

// keep renews the lease of what this process holds, a third of a lease
// before it ends, and purges handled events past their retention hourly.
func (in *Inbox) keep(ctx context.Context) {
	renew := time.NewTicker(in.opt.Lease / 3)
	defer renew.Stop()
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	in.purge(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			in.mu.Lock()
			ids := make([]string, 0, len(in.held))
			for id := range in.held {
				ids = append(ids, id)
			}
			in.mu.Unlock()
			until := in.opt.Clock.Now().Add(in.opt.Lease)
			for len(ids) > 0 {
				n := min(len(ids), 1000)
				if err := in.opt.Store.RenewInbound(ctx, ids[:n], until); err != nil && ctx.Err() == nil {
					in.opt.Logger.Warn("inbox: renew leases; another replica may take these events over", "events", n, "err", err)
				}
				ids = ids[n:]
			}
		case <-purge.C:
			in.purge(ctx)
		}
	}
}

func (in *Inbox) purge(ctx context.Context) {
	n, err := in.opt.Store.PurgeInbound(ctx, in.opt.Clock.Now().Add(-in.opt.Retention))
	if err != nil && ctx.Err() == nil {
		in.opt.Logger.Warn("inbox purge", "err", err)
	}
	if n > 0 {
		in.opt.Logger.Info("inbox: purged handled events past retention", "events", n)
	}
}

// message is the event's stored message, or for an event kept without one
// (by an older version) its payload parsed.
func (in *Inbox) message(ev bot.InboundEvent) (bot.Message, error) {
	if ev.Message != nil {
		return *ev.Message, nil
	}
	return in.opt.Parse(ev.Source, ev.Payload, ev.ReceivedAt)
}

func (in *Inbox) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-in.queue:
			if in.more.Load() && len(in.queue) <= cap(in.queue)/2 {
				in.wakeSweep()
			}
			in.handle(ctx, it)
		}
	}
}

func (in *Inbox) handle(ctx context.Context, it item) {
	hctx, cancel := context.WithTimeout(ctx, in.opt.Timeout)
	defer cancel()
	err := safely(func() error { return in.opt.Handler(hctx, it.m) })
	in.unhold(it.ev.ID)
	if err == nil {
		in.m.handled.WithLabelValues("ok").Inc()
		in.done <- it.ev.ID
		return
	}
	if ctx.Err() != nil {
		in.opt.Store.ReleaseInbound(context.WithoutCancel(ctx), []string{it.ev.ID}, in.opt.Clock.Now())
		return // shutting down: the next start or another replica takes it
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
	var ids []string
	for len(in.queue) > 0 {
		it := <-in.queue
		ids = append(ids, it.ev.ID)
	}
	if err := in.opt.Store.ReleaseInbound(ctx, ids, in.opt.Clock.Now()); err != nil {
		in.opt.Logger.Warn("inbox: release queued events at shutdown; claimable when their lease ends", "events", len(ids), "err", err)
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
