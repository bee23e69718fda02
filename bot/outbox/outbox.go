// Package outbox delivers the messages weibao has committed to its outbox:
// it claims due messages under a lease, sends each destination's messages in
// order through a channel's Deliverer, merges plain messages queued for the
// same destination, waits out rate limits, and retries failures with
// exponential backoff until they succeed or can never succeed. A success is
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
	MaxBackoff  time.Duration // default 10 min
	Parallel    int           // destinations served at once, default 8
	MergeLimit  int           // bytes of merged text, default 2048
	MaxAttempts int           // attempts before a temporary failure is given up, 0 = never
}

// Worker runs deliveries.
type Worker struct {
	opt  Options
	kick chan struct{}
	m    struct {
		results  *prometheus.CounterVec
		duration prometheus.Histogram
		merged   prometheus.Counter
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
	def(&opt.MaxBackoff, 10*time.Minute)
	for p, v := range map[*int]int{&opt.Batch: 100, &opt.Parallel: 8, &opt.MergeLimit: 2048} {
		if *p <= 0 {
			*p = v
		}
	}
	w := &Worker{opt: opt, kick: make(chan struct{}, 1)}
	w.m.results = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_outbox_deliveries_total",
		Help: "Delivery attempts by result (sent, retry, rate_limited, failed, unroutable)."}, []string{"result"})
	w.m.duration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "weibao_outbox_delivery_seconds",
		Help: "Time of one delivery call.", Buckets: prometheus.DefBuckets})
	w.m.merged = prometheus.NewCounter(prometheus.CounterOpts{Name: "weibao_outbox_merged_total",
		Help: "Messages merged into another one to the same destination."})
	if opt.Registerer != nil {
		for _, c := range []prometheus.Collector{w.m.results, w.m.duration, w.m.merged} {
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
		k := destination(d.Message)
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], d)
	}
	var g errgroup.Group
	g.SetLimit(w.opt.Parallel)
	for _, k := range order {
		g.Go(func() error { w.deliverGroup(ctx, groups[k]); return nil })
	}
	g.Wait()
	return len(ds), nil
}

// deliverGroup sends one destination's messages in order; after a failure
// the rest wait too, so they never overtake it.
func (w *Worker) deliverGroup(ctx context.Context, ds []bot.Delivery) {
	for len(ds) > 0 {
		m, n := w.merge(ds)
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
		store := context.WithoutCancel(ctx)
		now := w.opt.Clock.Now()
		var ra interface{ RetryAfter() time.Duration }
		switch {
		case err == nil:
			w.m.results.WithLabelValues("sent").Add(float64(n))
			w.m.merged.Add(float64(n - 1))
			for _, d := range done {
				w.record(d, w.opt.Store.DeliverySent(store, d.ID, now, ref))
			}
			ds = rest
			continue
		case errors.As(err, &ra):
			w.m.results.WithLabelValues("rate_limited").Add(float64(len(ds)))
			w.retry(store, ds, now.Add(ra.RetryAfter()), err)
			return
		case unroutable(err):
			// A configuration gap (e.g. a ward group without a robot webhook
			// key): nobody hears this message, so say so where operators look.
			w.m.results.WithLabelValues("unroutable").Add(float64(n))
			w.opt.Logger.Error("outbox: message has no route, given up", "key", m.Key, "ticket", m.TicketNo,
				"dest", destination(m), "err", err)
			for _, d := range done {
				w.record(d, w.opt.Store.DeliveryFailed(store, d.ID, err.Error()))
			}
			ds = rest
			continue
		case !temporary(err) || (w.opt.MaxAttempts > 0 && ds[0].Attempts >= w.opt.MaxAttempts):
			w.m.results.WithLabelValues("failed").Add(float64(n))
			w.opt.Logger.Error("outbox: message given up", "key", ds[0].Message.Key, "attempts", ds[0].Attempts, "err", err)
			for _, d := range done {
				w.record(d, w.opt.Store.DeliveryFailed(store, d.ID, err.Error()))
			}
			ds = rest
			continue
		default:
			w.m.results.WithLabelValues("retry").Add(float64(len(ds)))
			w.opt.Logger.Warn("outbox: delivery failed, will retry", "key", ds[0].Message.Key, "attempts", ds[0].Attempts, "err", err)
			w.retry(store, ds, now.Add(backoff(ds[0].Attempts, w.opt.MaxBackoff)), err)
			return
		}
	}
}

func (w *Worker) retry(ctx context.Context, ds []bot.Delivery, at time.Time, cause error) {
	for _, d := range ds {
		w.record(d, w.opt.Store.DeliveryRetry(ctx, d.ID, at, cause.Error()))
	}
}

func (w *Worker) record(d bot.Delivery, err error) {
	if err != nil {
		// The lease ends and the message is claimed again: at least once.
		w.opt.Logger.Error("outbox: record delivery", "key", d.Message.Key, "err", err)
	}
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
