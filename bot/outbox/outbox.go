// Package outbox delivers the messages weibao has committed to its outbox:
// it claims due messages under a lease, most urgent first, sends each
// destination's messages in order through a channel's Deliverer, merges
// plain messages queued for the same destination, waits out rate limits,
// and retries failures with a capped exponential backoff until they
// succeed, can never succeed, or their rule (bot.Rule) drops them: too old
// to be of use, or covered by the ticket's next page. A destination that
// fails is left alone behind a breaker and probed once per interval; its
// messages wait untouched until the probe gets through. A success is
// recorded at once and never sent again.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"weibao/bot"
)

// Deliverer sends one message (wecom.Sender). Errors may implement
// Temporary() bool (false: give up; the network's own errors are always
// retried, see temporary), RetryAfter() time.Duration (a rate
// limit: wait, not a failure) and Unroutable() bool (true: no route to the
// destination exists; given up and counted apart).
type Deliverer interface {
	Deliver(ctx context.Context, m bot.Outgoing) (ref string, err error)
}

// Router is a Deliverer that names the service a message goes to (the app
// API, a robot webhook, a response_url host), which is what a breaker
// guards. Without it, a message's chat or recipients are its destination.
type Router interface {
	Destination(m bot.Outgoing) string
}

// Options configure a Worker.
type Options struct {
	Store      bot.Outbox
	Deliverer  Deliverer
	Clock      bot.Clock
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	Poll        time.Duration // idle wait between claims, default 1 s
	Batch       int           // messages claimed at once, default 100
	Lease       time.Duration // how long a claim is ours, default 1 min
	Timeout     time.Duration // per delivery, default 15 s
	FileTimeout time.Duration // per delivery of a file message (upload included), default 3 min
	Parallel    int           // destinations served at once, default 8
	MergeLimit  int           // bytes of merged text, default 2048
	// Probe is how often a destination whose breaker is open is tried,
	// default 10 s; Hold how long its other messages wait before they are
	// looked at again should no probe get through (a replica that held
	// them died), default 10 min.
	Probe time.Duration
	Hold  time.Duration
}

// Worker runs deliveries.
type Worker struct {
	opt      Options
	kick     chan struct{}
	breakers *breakers
	m        struct {
		results  *prometheus.CounterVec
		duration prometheus.Histogram
		merged   prometheus.Counter
		open     prometheus.Gauge
	}
}

// New checks opt and fills defaults.
func New(opt Options) (*Worker, error) {
	if opt.Store == nil || opt.Deliverer == nil || opt.Logger == nil {
		return nil, errors.New("outbox: Store, Deliverer and Logger are required")
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.Poll, time.Second)
	def(&opt.Lease, time.Minute)
	def(&opt.Timeout, 15*time.Second)
	def(&opt.FileTimeout, 3*time.Minute)
	def(&opt.Probe, 10*time.Second)
	def(&opt.Hold, 10*time.Minute)
	for p, v := range map[*int]int{&opt.Batch: 100, &opt.Parallel: 8, &opt.MergeLimit: 2048} {
		if *p <= 0 {
			*p = v
		}
	}
	w := &Worker{opt: opt, kick: make(chan struct{}, 1), breakers: &breakers{open: map[string]*trip{}}}
	w.m.results = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_outbox_deliveries_total",
		Help: "Messages by result (sent, retry, rate_limited, held, failed, unroutable, expired, covered)."}, []string{"result"})
	w.m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weibao_outbox_delivery_seconds",
		Help: "Time of one delivery call.", Buckets: prometheus.DefBuckets})
	w.m.merged = prometheus.NewCounter(prometheus.CounterOpts{Name: "weibao_outbox_merged_total",
		Help: "Messages merged into another one to the same destination."})
	w.m.open = prometheus.NewGauge(prometheus.GaugeOpts{Name: "weibao_outbox_breakers_open",
		Help: "Destinations this replica leaves alone but for a probe."})
	if opt.Registerer != nil {
		for _, c := range []prometheus.Collector{w.m.results, w.m.duration, w.m.merged, w.m.open} {
			if err := opt.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("outbox metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Committed is the worker's subscription to storage's feed: a commit that
// queued messages wakes it instead of waiting for the poll.
func (w *Worker) Committed(_ context.Context, c bot.Committed) {
	if c.Queued > 0 {
		w.Kick()
	}
}

// Kick makes the worker look for due messages now.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.kick:
		}
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.opt.Logger.Error("outbox claim", "err", err)
		}
		next := w.opt.Poll
		if n == w.opt.Batch {
			next = 0 // more are due
		}
		t.Reset(next)
		if next > 0 {
			// Every committed reply kicks: claiming at most every kickGap
			// turns thousands of kicks a second into a hundred queries while
			// replies still leave within milliseconds.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(kickGap):
			}
		}
	}
}

const kickGap = 10 * time.Millisecond

// RunOnce claims one batch and delivers it; it returns how many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	now := w.opt.Clock.Now()
	ds, err := w.opt.Store.ClaimDeliveries(ctx, now, now.Add(w.opt.Lease), w.opt.Batch)
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	var order []string
	groups := map[string][]bot.Delivery{}
	for _, d := range ds {
		if w.expired(ctx, d, now) {
			continue
		}
		if d.Attempts > routeAttempts {
			d.Message = unrouted(d.Message)
		}
		k := destination(d.Message)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], d)
	}
	var g errgroup.Group
	g.SetLimit(w.opt.Parallel)
	for _, k := range order {
		g.Go(func() error { w.deliverGroup(ctx, groups[k], now.Add(w.opt.Lease)); return nil })
	}
	g.Wait()
	return len(ds), nil
}

// expired drops d when its rule says it is too old to be of use.
func (w *Worker) expired(ctx context.Context, d bot.Delivery, now time.Time) bool {
	ttl := d.Message.Rule().TTL
	if ttl == 0 || now.Sub(d.CreatedAt) < ttl {
		return false
	}
	reason := fmt.Sprintf("expired: a %s is of no use %s after it was queued", d.Message.Class(), ttl)
	w.m.results.WithLabelValues("expired").Inc()
	w.opt.Logger.Warn("outbox: message expired by rule, dropped", "key", d.Message.Key, "attempts", d.Attempts-1, "reason", reason)
	w.record(d, w.opt.Store.DeliveryExpired(context.WithoutCancel(ctx), d.ID, reason))
	return true
}

// unrouted is m without its reply route, sent proactively (webhook, app)
// instead: a reply whose response_url or req_id failed twice, or whose
// route's breaker is open, goes another way, or the Deliverer says there is
// none. A card update has no other way and keeps its route.
func unrouted(m bot.Outgoing) bot.Outgoing {
	if m.CardUpdate == nil {
		m.ReplyTo, m.Route = "", ""
	}
	return m
}

const routeAttempts = 2

// dest is the breaker's name for where m goes.
func (w *Worker) dest(m bot.Outgoing) string {
	if r, ok := w.opt.Deliverer.(Router); ok {
		return r.Destination(m)
	}
	return destination(m)
}

// deliverGroup sends one destination's messages in order; after a failure,
// a rate limit or while the destination's breaker is open, the rest wait
// too, so they never overtake it.
func (w *Worker) deliverGroup(ctx context.Context, ds []bot.Delivery, leaseEnd time.Time) {
	store := context.WithoutCancel(ctx)
	for len(ds) > 0 {
		// Slow deliveries (a hung Redis or WeCom) must not outlive the claim:
		// past it another replica may claim the rest and send them too. What
		// is left is due again when the lease ends, untouched by us.
		if leaseEnd.Sub(w.opt.Clock.Now()) < w.opt.Timeout {
			w.opt.Logger.Warn("outbox: claim running out, rest left for the next claim", "left", len(ds))
			return
		}
		m, n := w.merge(ds)
		dest := w.dest(m)
		probe, ok := w.breakers.admit(dest, w.opt.Clock.Now())
		if !ok && m.ReplyTo != "" && unrouted(m).ReplyTo == "" {
			ds[0].Message = unrouted(m) // a reply is not merged: n is 1
			continue
		}
		if !ok {
			w.hold(store, ds, dest, probe)
			return
		}
		timeout := w.opt.Timeout
		if m.File != nil {
			timeout = w.opt.FileTimeout
		}
		dctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		ref, err := safely(func() (string, error) { return w.opt.Deliverer.Deliver(dctx, m) })
		cancel()
		w.m.duration.Observe(time.Since(start).Seconds())
		done, rest := ds[:n], ds[n:]
		now := w.opt.Clock.Now()
		var ra interface{ RetryAfter() time.Duration }
		switch {
		case err == nil:
			w.up(store, dest, now)
			w.m.results.WithLabelValues("sent").Add(float64(n))
			w.m.merged.Add(float64(n - 1))
			for _, d := range done {
				w.record(d, w.opt.Store.DeliverySent(store, d.ID, now, ref))
			}
			w.cover(store, done[n-1])
			ds = rest
			continue
		case errors.As(err, &ra):
			// Not a failure: the rest wait untried for the limit, which the
			// Deliverer shares out by rank (bot.Rule). Nor a success: our
			// own limiter said it, so a probe is merely not made.
			w.breakers.release(dest)
			w.m.results.WithLabelValues("rate_limited").Add(float64(len(ds)))
			for _, d := range ds {
				w.record(d, w.opt.Store.DeliveryHeld(store, d.ID, now.Add(ra.RetryAfter()), dest))
			}
			return
		case unroutable(err):
			// A configuration gap (e.g. a ward group without a robot webhook
			// key): nobody hears this message, so say so where operators look.
			w.breakers.release(dest)
			w.m.results.WithLabelValues("unroutable").Add(float64(n))
			w.opt.Logger.Error("outbox: message has no route, given up", "key", m.Key, "ticket", m.TicketNo,
				"dest", destination(m), "err", err)
			for _, d := range done {
				w.record(d, w.opt.Store.DeliveryFailed(store, d.ID, err.Error()))
			}
			ds = rest
			continue
		case !temporary(err):
			w.breakers.release(dest)
			w.m.results.WithLabelValues("failed").Add(float64(n))
			w.opt.Logger.Error("outbox: message given up", "key", ds[0].Message.Key, "attempts", ds[0].Attempts, "err", err)
			for _, d := range done {
				w.record(d, w.opt.Store.DeliveryFailed(store, d.ID, err.Error()))
			}
			ds = rest
			continue
		default:
			var probeAt time.Time
			var open bool
			var local interface{ Local() bool }
			if errors.As(err, &local) && local.Local() {
				// weibao's own store failed (the Redis behind rate limits),
				// not the destination: retry, and leave its breaker alone.
				w.breakers.release(dest)
			} else {
				var opened bool
				probeAt, open, opened = w.breakers.fail(dest, now, w.opt.Probe, ds[0].ID)
				if opened {
					w.m.open.Inc()
					w.opt.Logger.Warn("outbox: destination down, breaker open", "dest", dest, "probe", w.opt.Probe, "err", err)
				}
			}
			w.m.results.WithLabelValues("retry").Add(float64(n))
			w.opt.Logger.Warn("outbox: delivery failed, will retry", "key", m.Key, "dest", dest,
				"attempts", ds[0].Attempts, "err", err)
			// What was tried waits by its rule's backoff, and for the next
			// probe; the rest was not tried: held for the breaker, or
			// behind the failed one.
			var next time.Time
			for _, d := range done {
				next = w.until(d, later(now.Add(backoff(d.Attempts-1, d.Message.Rule().MaxBackoff)), probeAt))
				w.record(d, w.opt.Store.DeliveryRetry(store, d.ID, next, dest, err.Error()))
			}
			if open {
				w.hold(store, rest, dest, probeAt)
				return
			}
			for _, d := range rest {
				w.record(d, w.opt.Store.DeliveryHeld(store, d.ID, w.until(d, next), dest))
			}
			return
		}
	}
}

// hold puts ds back untried while dest's breaker is open: the first for the
// next probe (probe) when the breaker wants one, the rest for Hold, which
// a successful probe cuts short (WakeDestination).
func (w *Worker) hold(ctx context.Context, ds []bot.Delivery, dest string, probe time.Time) {
	now := w.opt.Clock.Now()
	w.m.results.WithLabelValues("held").Add(float64(len(ds)))
	for i, d := range ds {
		next := now.Add(w.opt.Hold)
		if i == 0 && !probe.IsZero() && w.breakers.designate(dest) {
			next = probe
		}
		w.record(d, w.opt.Store.DeliveryHeld(ctx, d.ID, w.until(d, next), dest))
	}
}

// until is next, or d's expiry if that comes first, so an expiring message
// is dropped on time.
func (w *Worker) until(d bot.Delivery, next time.Time) time.Time {
	if ttl := d.Message.Rule().TTL; ttl > 0 {
		if exp := d.CreatedAt.Add(ttl); exp.Before(next) {
			return exp
		}
	}
	return next
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// up closes dest's breaker after a delivery got through, and wakes what
// waits for it.
func (w *Worker) up(ctx context.Context, dest string, now time.Time) {
	if !w.breakers.close(dest) {
		return
	}
	w.m.open.Dec()
	n, err := w.opt.Store.WakeDestination(ctx, dest, now)
	if err != nil {
		w.opt.Logger.Error("outbox: wake destination", "dest", dest, "err", err)
	}
	w.opt.Logger.Info("outbox: destination back, breaker closed", "dest", dest, "woken", n)
	w.Kick()
}

// cover drops the pages a delivered page or breach notice makes moot.
func (w *Worker) cover(ctx context.Context, d bot.Delivery) {
	if !d.Message.Rule().Covered || d.Message.TicketNo == "" {
		return
	}
	n, err := w.opt.Store.CoverPages(ctx, d.Message.TicketNo, d.ID, "covered: "+d.Message.Key+" was delivered")
	if err != nil {
		w.opt.Logger.Error("outbox: cover pages", "key", d.Message.Key, "err", err)
	}
	if n > 0 {
		w.m.results.WithLabelValues("covered").Add(float64(n))
		w.opt.Logger.Warn("outbox: undelivered pages covered by a later one, dropped", "ticket", d.Message.TicketNo,
			"by", d.Message.Key, "count", n)
	}
}

func (w *Worker) record(d bot.Delivery, err error) {
	if err != nil {
		// The lease ends and the message is claimed again: at least once.
		w.opt.Logger.Error("outbox: record delivery", "key", d.Message.Key, "err", err)
	}
}

// breakers are this replica's destinations that failed. They are per
// replica: a breaker only saves attempts, and what matters across replicas,
// that the waiting messages are not touched, lives in the database (held
// rows); so each replica probes on its own (one attempt per replica per
// Probe), and no Redis call is added to every delivery or needed to
// deliver at all.
type breakers struct {
	mu   sync.Mutex
	open map[string]*trip
}

// trip is a destination's failures. The breaker opens when two different
// messages fail in a row there, so that one message that keeps failing (a
// bad file, a payload WeCom chokes on) backs off alone and does not hold
// the destination's other messages.
type trip struct {
	last    int64     // the message that failed last
	open    bool      // two different messages failed in a row
	probeAt time.Time // when the next probe may go
	probing bool      // a probe is out
	waiting bool      // a held message is due at probeAt as the next probe
}

// admit says whether a message to dest may go now: always while dest's
// breaker is closed, else as the one probe once probeAt has come. When it
// may not, probe is when the next probe may go.
func (b *breakers) admit(dest string, now time.Time) (probe time.Time, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.open[dest]
	switch {
	case t == nil || !t.open:
		return time.Time{}, true
	case !t.probing && !now.Before(t.probeAt):
		t.probing, t.waiting = true, false
		return time.Time{}, true
	}
	return t.probeAt, false
}

// designate makes a held message the next probe unless one is already due
// for it; it reports whether it did.
func (b *breakers) designate(dest string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.open[dest]
	if t == nil || !t.open || t.waiting {
		return false
	}
	t.waiting = true
	return true
}

// fail records a transient failure of message id at dest: a second message
// failing opens the breaker (opened), a failed probe puts the next one off.
// probeAt is when the next probe may go, zero while the breaker is closed.
func (b *breakers) fail(dest string, now time.Time, every time.Duration, id int64) (probeAt time.Time, open, opened bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.open[dest]
	if t == nil {
		t = &trip{last: id}
		b.open[dest] = t
		return time.Time{}, false, false
	}
	if !t.open && t.last == id {
		return time.Time{}, false, false
	}
	opened = !t.open
	// The failed probe comes back by its own backoff; the next probe is
	// another held message where there is one (designate).
	t.last, t.open, t.probeAt, t.probing, t.waiting = id, true, now.Add(every), false, false
	return t.probeAt, true, opened
}

// release ends a probe that proved nothing either way (a rate limit, a
// message that can never be delivered): the next one may go at probeAt.
func (b *breakers) release(dest string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.open[dest]; t != nil {
		t.probing = false
	}
}

// close forgets dest's failures; it reports whether its breaker was open.
func (b *breakers) close(dest string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.open[dest]
	delete(b.open, dest)
	return ok && t.open
}

// merge joins the leading plain messages of ds (same format and mentions,
// no card, no file, no reply route) into one within MergeLimit bytes, so a backlog
// for one chat goes out as a digest instead of a burst.
func (w *Worker) merge(ds []bot.Delivery) (bot.Outgoing, int) {
	m := ds[0].Message
	if !mergeable(m) {
		return m, 1
	}
	n := 1
	for _, d := range ds[1:] {
		next := d.Message
		if !mergeable(next) || next.Format != m.Format || !slices.Equal(next.Mentions, m.Mentions) ||
			len(m.Text)+2+len(next.Text) > w.opt.MergeLimit {
			break
		}
		m.Text += "\n\n" + next.Text
		n++
	}
	return m, n
}

func mergeable(m bot.Outgoing) bool {
	return m.Card == nil && m.CardUpdate == nil && m.File == nil && m.ReplyTo == ""
}

// destination groups messages whose order matters.
func destination(m bot.Outgoing) string {
	if m.ToChat != "" {
		return "chat:" + m.ToChat
	}
	return "users:" + strings.Join(m.ToUsers, "|")
}

// unroutable reports a message that has no way to its destination at all
// (the Deliverer's error says Unroutable() true).
func unroutable(err error) bool {
	var u interface{ Unroutable() bool }
	return errors.As(err, &u) && u.Unroutable()
}

// temporary reports whether a failed delivery may succeed later. The first
// error in the chain with a Temporary method decides, except the network's
// own (url, dial, DNS errors, errnos): theirs is deprecated and false for a
// refused connection or a DNS not-found, which a proxy or resolver blip
// causes, so a failure to reach the other side is always retried and only
// the Deliverer's errors can say never.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	if !errors.As(err, &t) {
		return true
	}
	if _, transport := t.(net.Error); transport {
		return true
	}
	return t.Temporary()
}

// backoff is the wait after a message's attempt-th failed attempt: 1 s,
// doubling, capped by its rule.
func backoff(attempt int, ceiling time.Duration) time.Duration {
	d := time.Second << min(attempt, 20)
	return min(d, ceiling)
}

func safely(fn func() (string, error)) (ref string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn()
}
