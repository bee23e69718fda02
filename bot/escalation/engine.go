// Package escalation runs the SLA clocks and the paging chain of every open
// ticket. Each ticket's reminder and breach points and its escalation steps
// are timers in sla/timerwheel; the database stays the truth, so Reconcile
// rebuilds the timers from the open tickets at start-up and periodically.
//
// A due timer is handled on a snapshot of the ticket: the handler reloads
// the ticket and its timeline, checks the timer is still wanted (its
// generation, the clock's deadline or the report time, rides in the
// payload), decides what to record, and commits through UpdateTicket only if
// the ticket's version is still the snapshot's. Reminders, breaches and
// escalations go on the timeline with their WeCom messages in the outbox in
// that one transaction; phone calls and SMS are placed after the commit,
// through sla/pager with a call guard, so a call is placed at most once per
// page across replicas and restarts.
package escalation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"weibao/bot"
	"weibao/sla"
	"weibao/sla/pager"
	"weibao/sla/timerwheel"
)

// Pager places pages (*pager.Registry).
type Pager interface {
	Page(ctx context.Context, p pager.Page) ([]pager.Attempt, error)
}

// Directory finds people and wards.
type Directory interface {
	Person(ctx context.Context, userID string) (*bot.Person, error)
	Ward(ctx context.Context, code string) (*bot.Ward, error)
}

// PageStore records pages, their attempts and pushed receipts (storage.DB).
type PageStore interface {
	OpenPage(ctx context.Context, p bot.PageRecord) (bot.PageRecord, bool, error)
	PageByMessage(ctx context.Context, provider, messageID string) (bot.PageRecord, error)
	AddPageAttempts(ctx context.Context, as ...bot.PageAttempt) error
	AddReceipts(ctx context.Context, rs ...bot.PageReceipt) error
	PendingReceipts(ctx context.Context, limit int) ([]bot.PageReceipt, error)
	ReceiptHandled(ctx context.Context, id int64, at time.Time) error
}

// Acknowledger acknowledges a ticket on behalf of a person (the ticketing
// service); a "1" pressed on a paging call calls it.
type Acknowledger interface {
	Acknowledge(ctx context.Context, actorUserID, no string) (*bot.Ticket, error)
}

// Texts renders catalogue entries (*catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Options are the engine's dependencies.
type Options struct {
	Tickets bot.TicketStore
	// Acknowledger takes a "1" pressed on a paging call as 接单 by the person
	// paged: the ticketing service, with its messages and card redraws.
	Acknowledger Acknowledger
	Pages        PageStore
	Directory    Directory
	Roster       bot.Roster
	Wheel        *timerwheel.Wheel
	Pager        Pager
	Texts        Texts
	SLA          sla.Policy
	Policy       Policy
	// Reconcile is how often the timers are rebuilt from the open tickets
	// (default 1 min).
	Reconcile time.Duration
	Clock     bot.Clock
	Location  *time.Location // for times in messages; default UTC
	Logger    *slog.Logger
}

// Engine arms, fires and cancels the tickets' timers and pages people. It
// follows storage's feed (Committed) to arm the timers a change wants.
type Engine struct {
	opt Options

	kick chan struct{} // wakes the receipt loop

	fires       *prometheus.CounterVec
	breaches    *prometheus.CounterVec
	reminders   *prometheus.CounterVec
	escalations *prometheus.CounterVec
	pageFails   *prometheus.CounterVec
	armed       prometheus.Gauge
}

// New checks the options and builds an engine.
func New(opt Options) (*Engine, error) {
	if opt.Tickets == nil || opt.Acknowledger == nil || opt.Pages == nil || opt.Directory == nil || opt.Roster == nil ||
		opt.Wheel == nil || opt.Pager == nil || opt.Texts == nil {
		return nil, errors.New("escalation: tickets, acknowledger, pages, directory, roster, wheel, pager and texts are required")
	}
	if err := opt.SLA.Validate(); err != nil {
		return nil, err
	}
	if err := opt.Policy.Validate(); err != nil {
		return nil, err
	}
	if opt.Reconcile <= 0 {
		opt.Reconcile = time.Minute
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opt: opt, kick: make(chan struct{}, 1),
		fires: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_escalation_timers_total",
			Help: "SLA and escalation timers handled, by result (acted, stale, error)."}, []string{"result"}),
		breaches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_sla_breaches_total",
			Help: "SLA clocks recorded as breached, by clock."}, []string{"clock"}),
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_sla_reminders_total",
			Help: "SLA reminder points recorded, by clock."}, []string{"clock"}),
		escalations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_escalations_total",
			Help: "Tickets escalated, by level reached."}, []string{"level"}),
		pageFails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_escalation_page_failures_total",
			Help: "Pages that reached nobody, by reason (no_target, no_mobile, undelivered, error)."}, []string{"reason"}),
		armed: prometheus.NewGauge(prometheus.GaugeOpts{Name: "weibao_escalation_armed_timers",
			Help: "Timers the open tickets want, as of the last reconcile."}),
	}
	return e, nil
}

// Collectors returns the engine's metrics for main to register (the wheel
// and the pager registry have their own).
func (e *Engine) Collectors() []prometheus.Collector {
	return []prometheus.Collector{e.fires, e.breaches, e.reminders, e.escalations, e.pageFails, e.armed}
}

// Run fires timers, reconciles them periodically (at once first) and
// handles pushed receipts until ctx ends.
func (e *Engine) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return e.opt.Wheel.Run(ctx, e.fire) })
	g.Go(func() error { return e.every(ctx, e.opt.Reconcile, "reconcile", e.Reconcile) })
	g.Go(func() error { return e.receiptLoop(ctx) })
	return g.Wait()
}

// every runs fn now and then every d until ctx ends, logging failures.
func (e *Engine) every(ctx context.Context, d time.Duration, name string, fn func(context.Context) error) error {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			e.opt.Logger.Warn(name, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Committed is the engine's subscription to storage's feed: it arms the
// committed ticket's timers and cancels those it no longer wants. It never
// fails the change: errors are logged and the periodic reconcile repairs.
func (e *Engine) Committed(ctx context.Context, c bot.Committed) {
	if c.Ticket == nil {
		return
	}
	if err := e.arm(ctx, c.Ticket, c.Timeline); err != nil {
		e.opt.Logger.Warn("arm timers", "ticket", c.Ticket.No, "err", err)
	}
}

func (e *Engine) arm(ctx context.Context, t *bot.Ticket, timeline []bot.Event) error {
	want := e.plan(t, timeline)
	if len(want) > 0 {
		if _, err := e.opt.Wheel.Reconcile(ctx, want...); err != nil {
			return err
		}
	}
	var stale []string
	for _, id := range e.timerIDs(t.No) {
		if !wanted(want, id) {
			stale = append(stale, id)
		}
	}
	return e.opt.Wheel.Cancel(ctx, stale...)
}

// Reconcile re-arms the timers of every open ticket from the database, so a
// flushed or restarted Redis loses nothing. Timers already armed are left
// alone; late ones fire at once.
func (e *Engine) Reconcile(ctx context.Context) error {
	open, err := e.opt.Tickets.Tickets(ctx, bot.TicketFilter{Statuses: bot.ActiveStatuses})
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	var all []timerwheel.Timer
	for _, t := range open {
		timeline, err := e.opt.Tickets.Timeline(ctx, t.No)
		if err != nil {
			return fmt.Errorf("reconcile %s: %w", t.No, err)
		}
		all = append(all, e.plan(t, timeline)...)
	}
	e.armed.Set(float64(len(all)))
	n, err := e.opt.Wheel.Reconcile(ctx, all...)
	if n > 0 {
		e.opt.Logger.Info("timers re-armed", "count", n, "open_tickets", len(open))
	}
	return err
}

// A timer id is "<no>/<clock>/<percent>" for an SLA point or "<no>/esc/<level>"
// for an escalation step: stable, so that re-arming moves the timer instead
// of adding one, and a ticket's timers can be cancelled without tracking
// them. The payload is the generation: the clock's deadline, or the report
// time for escalation steps, in unix ms. A timer whose generation or due
// time the ticket no longer gives is stale and does nothing.
const escKind = "esc"

var clocks = []bot.SLAClock{bot.ClockAck, bot.ClockResolve, bot.ClockOnSite}

// timerIDs lists every id a ticket's timers can have.
func (e *Engine) timerIDs(no string) []string {
	var ids []string
	for _, c := range clocks {
		for _, pct := range append(append([]int(nil), e.opt.SLA.Reminders...), 100) {
			ids = append(ids, no+"/"+string(c)+"/"+strconv.Itoa(pct))
		}
	}
	for _, l := range e.opt.Policy.Levels {
		ids = append(ids, no+"/"+escKind+"/"+strconv.Itoa(l.Level))
	}
	return ids
}

func gen(t time.Time) []byte { return []byte(strconv.FormatInt(t.UnixMilli(), 10)) }

// plan lists the timers an active ticket wants now.
func (e *Engine) plan(t *bot.Ticket, timeline []bot.Event) []timerwheel.Timer {
	if !t.Status.Active() {
		return nil
	}
	d := e.opt.SLA.Deadlines(Input(t, timeline))
	var out []timerwheel.Timer
	for _, p := range d.Points {
		if pointDone(t, timeline, p) {
			continue
		}
		due := map[sla.Clock]time.Time{sla.ClockAck: d.Ack, sla.ClockResolve: d.Resolve, sla.ClockOnSite: d.OnSite}[p.Clock]
		out = append(out, timerwheel.Timer{ID: t.No + "/" + string(p.Clock) + "/" + strconv.Itoa(p.Percent),
			Due: p.At, Payload: gen(due)})
	}
	if t.Status == bot.StatusNew {
		since := waitingSince(t, timeline)
		for _, l := range e.opt.Policy.Levels {
			if l.Level > t.EscalationLevel && !silenced(t, l) {
				out = append(out, timerwheel.Timer{ID: t.No + "/" + escKind + "/" + strconv.Itoa(l.Level),
					Due: e.stepDue(t, since, l), Payload: gen(since)})
			}
		}
	}
	return out
}

// silenced reports whether level l must wait: a 待分诊 ticket's priority is a
// guess, and nobody's phone rings on a guess. Acknowledging or reclassifying
// clears the flag; the feed then re-arms the level, at once when overdue.
func silenced(t *bot.Ticket, l Level) bool { return t.Triage && len(l.Channels) > 0 }

// stepDue is when an unacknowledged ticket reaches level l: UrgentAfter for
// P1 (the tender's patient-safety and hospital-wide faults: the phone rings at
// once), After around the clock for other urgent faults, After in working
// time for the rest (nobody's phone rings at 3 a.m. for a slow printer).
func (e *Engine) stepDue(t *bot.Ticket, since time.Time, l Level) time.Time {
	switch {
	case t.Priority == bot.P1:
		return since.Add(l.UrgentAfter)
	case Urgent(t) || e.opt.SLA.Calendar == nil:
		return since.Add(l.After)
	}
	return e.opt.SLA.Calendar.Add(since, l.After)
}

// waitingSince is when an unacknowledged ticket started waiting for its
// engineer: its report, or its last transfer (转派), after which the new
// engineer's 接单 is awaited like a new ticket's.
func waitingSince(t *bot.Ticket, timeline []bot.Event) time.Time {
	since := t.ReportedAt
	for _, ev := range timeline {
		if ev.Kind == bot.EventAssigned && ev.At.After(since) {
			since = ev.At
		}
	}
	return since
}

// pointDone reports whether a reminder or breach point's effect is already
// on the ticket: a breach recorded for its clock, or a reminder of its clock
// at or after the point (a later reminder of the same clock covers it). Such a
// point wants no timer, so a reconcile never re-arms what has fired.
func pointDone(t *bot.Ticket, timeline []bot.Event, p sla.Point) bool {
	c := bot.SLAClock(p.Clock)
	if late(t.Late, c) != 0 {
		return true // a breach covers every point of its clock
	}
	if p.Percent >= 100 {
		return false
	}
	return slices.ContainsFunc(timeline, func(e bot.Event) bool {
		return e.Kind == bot.EventReminded && e.Clock == c && !e.At.Before(p.At)
	})
}

func wanted(ts []timerwheel.Timer, id string) bool {
	for _, t := range ts {
		if t.ID == id {
			return true
		}
	}
	return false
}

// timerRef is a parsed timer id.
type timerRef struct {
	no    string
	clock bot.SLAClock // "" for an escalation step
	pct   int
	level int
}

func parseTimerID(id string) (timerRef, error) {
	parts := strings.Split(id, "/")
	if len(parts) != 3 || !bot.ValidTicketNo(parts[0]) {
		return timerRef{}, fmt.Errorf("escalation: bad timer id %q", id)
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return timerRef{}, fmt.Errorf("escalation: bad timer id %q", id)
	}
	r := timerRef{no: parts[0]}
	switch c := bot.SLAClock(parts[1]); c {
	case bot.ClockAck, bot.ClockResolve, bot.ClockOnSite:
		r.clock, r.pct = c, n
	case escKind:
		r.level = n
	default:
		return timerRef{}, fmt.Errorf("escalation: bad timer id %q", id)
	}
	return r, nil
}
