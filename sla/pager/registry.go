package pager

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is the paging order, filled by the main program from YAML.
type Config struct {
	// Routes are tried in order until one delivers the page.
	Routes []Route `yaml:"routes"`
	// CallOnceTTL is how long a page's call claim is kept; it must outlive
	// every retry of the page. Default 48h.
	CallOnceTTL time.Duration `yaml:"call_once_ttl"`
}

// Route is one provider on one channel.
type Route struct {
	Provider string  `yaml:"provider"`
	Channel  Channel `yaml:"channel"`
}

// DefaultRoutes are the routes when none are configured: every notifier's
// voice, then every notifier's SMS, each in the notifiers' order.
func DefaultRoutes(ns ...Notifier) []Route {
	var out []Route
	for _, ch := range []Channel{Voice, SMS} {
		for _, n := range ns {
			if slices.Contains(n.Channels(), ch) {
				out = append(out, Route{Provider: n.Provider(), Channel: ch})
			}
		}
	}
	return out
}

// Options are the Registry's dependencies.
type Options struct {
	// Once guards calls; required.
	Once Once
	// Now defaults to time.Now.
	Now func() time.Time
	// Limiter keeps sends under each provider's per-number limits; nil is
	// an in-process Limiter (right for one replica only).
	Limiter Reserver
}

// Outcome classifies an Attempt for the timeline and metrics.
type Outcome string

// Outcomes.
const (
	OutcomeSent        Outcome = "sent"
	OutcomeFailed      Outcome = "failed"
	OutcomeThrottled   Outcome = "throttled"    // provider flow control
	OutcomeRateLimited Outcome = "rate_limited" // refused locally, nothing sent
	OutcomeDuplicate   Outcome = "duplicate"    // call already placed for this page
	OutcomeSkipped     Outcome = "skipped"      // a call may already be ringing, or the claim failed
)

// Attempt is the result of one route for one page.
type Attempt struct {
	Provider  string
	Channel   Channel
	At        time.Time
	Duration  time.Duration
	Outcome   Outcome
	MessageID string // provider id of the call or message when sent
	Err       error  // nil when sent
}

// Registry sends pages through the configured routes.
type Registry struct {
	routes    []Route
	notifiers map[string]Notifier
	once      Once
	onceTTL   time.Duration
	limiter   Reserver
	now       func() time.Time

	attempts *prometheus.CounterVec
	pages    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewRegistry checks every route against the notifiers' channels.
func NewRegistry(cfg Config, opts Options, notifiers ...Notifier) (*Registry, error) {
	if opts.Once == nil {
		return nil, errors.New("pager: Options.Once is required")
	}
	if opts.Limiter == nil {
		opts.Limiter = NewLimiter()
	}
	r := &Registry{
		routes:    cfg.Routes,
		notifiers: make(map[string]Notifier, len(notifiers)),
		once:      opts.Once,
		onceTTL:   cfg.CallOnceTTL,
		limiter:   opts.Limiter,
		now:       opts.Now,
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weibao_pager_attempts_total",
			Help: "Paging attempts by provider, channel and outcome (sent, failed, throttled, rate_limited, duplicate, skipped).",
		}, []string{"provider", "channel", "outcome"}),
		pages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weibao_pager_pages_total",
			Help: "Pages by result: delivered by some route, or undelivered after all routes.",
		}, []string{"result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "weibao_pager_send_duration_seconds",
			Help:    "Provider request latency.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"provider", "channel"}),
	}
	if r.onceTTL <= 0 {
		r.onceTTL = 48 * time.Hour
	}
	if r.now == nil {
		r.now = time.Now
	}
	for _, n := range notifiers {
		if _, dup := r.notifiers[n.Provider()]; dup {
			return nil, fmt.Errorf("pager: provider %q registered twice", n.Provider())
		}
		r.notifiers[n.Provider()] = n
	}
	if len(r.routes) == 0 {
		return nil, errors.New("pager: no routes configured")
	}
	for _, rt := range r.routes {
		n, ok := r.notifiers[rt.Provider]
		if !ok {
			return nil, fmt.Errorf("pager: route to unknown provider %q", rt.Provider)
		}
		if !slices.Contains(n.Channels(), rt.Channel) {
			return nil, fmt.Errorf("pager: provider %q does not support channel %q", rt.Provider, rt.Channel)
		}
	}
	return r, nil
}

// Collectors returns the Prometheus collectors for the caller to register.
func (r *Registry) Collectors() []prometheus.Collector {
	return []prometheus.Collector{r.attempts, r.pages, r.latency}
}

// CallKey is the Once key that guards the call for a page.
func CallKey(pageID string) string { return "pager:call:" + pageID }

// Page tries the routes in order and stops at the first that delivers. It
// returns every attempt, and an error wrapping ErrUndelivered and each
// attempt's error when none delivered.
//
// Calls are placed at most once per page: the first voice route claims
// CallKey(p.ID) through Once, and no call is placed when the claim is
// refused or errors. Within one Page call, a later voice route is tried
// only if the earlier ones certainly did not ring (NotSent); otherwise the
// caller's next escalation step covers a lost call.
func (r *Registry) Page(ctx context.Context, p Page) ([]Attempt, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	number, _ := NationalNumber(p.Mobile)
	var (
		attempts []Attempt
		errs     []error
		g        callGuard
	)
	for _, rt := range r.routes {
		if len(p.Channels) > 0 && !slices.Contains(p.Channels, rt.Channel) {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		a := r.try(ctx, rt, p, number, &g)
		attempts = append(attempts, a)
		r.attempts.WithLabelValues(a.Provider, string(a.Channel), string(a.Outcome)).Inc()
		if a.Outcome == OutcomeSent {
			r.pages.WithLabelValues("delivered").Inc()
			return attempts, nil
		}
		errs = append(errs, fmt.Errorf("%s %s: %w", a.Provider, a.Channel, a.Err))
	}
	r.pages.WithLabelValues("undelivered").Inc()
	return attempts, fmt.Errorf("page %s: %w", p.ID, errors.Join(append([]error{ErrUndelivered}, errs...)...))
}

// callGuard is the call state of one Page call.
type callGuard struct {
	claimed bool  // this Page call holds CallKey
	stop    error // why no further call may be placed
}

func (r *Registry) try(ctx context.Context, rt Route, p Page, number string, g *callGuard) Attempt {
	n := r.notifiers[rt.Provider]
	a := Attempt{Provider: rt.Provider, Channel: rt.Channel, At: r.now()}
	if rt.Channel == Voice && g.stop != nil {
		a.Outcome, a.Err = OutcomeSkipped, g.stop
		if errors.Is(g.stop, ErrDuplicate) {
			a.Outcome = OutcomeDuplicate
		}
		return a
	}
	cancel, err := r.limiter.Reserve(ctx, rt.Provider+"/"+string(rt.Channel)+"/"+number, n.Limit(rt.Channel), a.At)
	if err != nil {
		a.Outcome, a.Err = OutcomeRateLimited, err
		return a
	}
	if rt.Channel == Voice && !g.claimed {
		first, err := r.once.First(ctx, CallKey(p.ID), r.onceTTL)
		switch {
		case err != nil:
			cancel()
			g.stop = fmt.Errorf("claim call: %w", err)
			a.Outcome, a.Err = OutcomeSkipped, g.stop
			return a
		case !first:
			cancel()
			g.stop = ErrDuplicate
			a.Outcome, a.Err = OutcomeDuplicate, ErrDuplicate
			return a
		}
		g.claimed = true
	}
	start := time.Now()
	sent, err := n.Send(ctx, rt.Channel, p)
	a.Duration = time.Since(start)
	r.latency.WithLabelValues(rt.Provider, string(rt.Channel)).Observe(a.Duration.Seconds())
	switch {
	case err == nil:
		a.Outcome, a.MessageID = OutcomeSent, sent.MessageID
	case errors.Is(err, ErrThrottled):
		a.Outcome, a.Err = OutcomeThrottled, err
	default:
		a.Outcome, a.Err = OutcomeFailed, err
	}
	if err != nil && rt.Channel == Voice && !NotSent(err) {
		g.stop = ErrMaybePlaced
	}
	return a
}
