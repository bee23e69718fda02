package bot

import (
	"slices"
	"strconv"
	"time"
)

// EventKind names one entry of a ticket's timeline.
type EventKind string

// Kinds that Ticket.Apply accepts (EventReported comes from NewTicket).
const (
	EventReported     EventKind = "reported"
	EventAcknowledged EventKind = "acknowledged"
	EventRemoteFailed EventKind = "remote_failed"
	EventArrived      EventKind = "arrived"
	EventWorkaround   EventKind = "workaround"
	EventResolved     EventKind = "resolved"
	EventConfirmed    EventKind = "confirmed"
	EventClosed       EventKind = "closed"
	EventReopened     EventKind = "reopened"
	EventCancelled    EventKind = "cancelled"
	EventMerged       EventKind = "merged"
	EventAssigned     EventKind = "assigned"
	EventReclassified EventKind = "reclassified"
	EventNoted        EventKind = "noted"
	EventLinked       EventKind = "linked"   // another reporter joined (same fault reported twice)
	EventAttached     EventKind = "attached" // a photo or file from the reporter
	EventRated        EventKind = "rated"    // the reporter's satisfaction, 1–5
	EventPaged        EventKind = "paged"    // a page went out (channel, provider, result in Detail)
	EventEscalated    EventKind = "escalated"
	EventReminded     EventKind = "reminded" // an SLA clock passed a reminder point
	EventBreached     EventKind = "breached" // an SLA clock ran out
	EventPaused       EventKind = "paused"   // SLA clocks stopped, with a reason
	EventResumed      EventKind = "resumed"
	// The coordinated response to a hospital-wide or P1 fault (tender 二.2,
	// 二.4): the war-room group chat opened (members' names in Detail), a
	// member's first action on the ticket (his user id in Detail), the
	// fallback plan sent to the affected wards (their names in Detail).
	EventWarRoom      EventKind = "war_room"
	EventJoined       EventKind = "joined"
	EventFallbackSent EventKind = "fallback_sent"
)

// Event is one append-only timeline entry: who did what, when.
type Event struct {
	ID       int64
	TicketNo string
	Kind     EventKind
	Actor    string // a person's user id, or "system"
	At       time.Time
	From, To Status // equal when the status did not change
	// Detail is masked text as people read it (note, reason, cause and
	// solution; the use cases word assignments, reclassifications, breaches
	// and escalations from the catalogue), except where code reads it back:
	// the user id of EventLinked and EventJoined, the reason of EventPaused.
	Detail string
	Clock  SLAClock // the clock an EventReminded or EventBreached is about
}

// ActorSystem marks changes weibao made on its own (timeouts, auto-confirmation).
const ActorSystem = "system"

// Change is a request to change a ticket. Which fields matter depends on Kind.
type Change struct {
	Kind       EventKind
	Actor      string
	At         time.Time
	Text       string // note, workaround, reason for cancel/reclass/reopen
	Assignee   string // EventAssigned
	Cause      string // EventResolved
	Solution   string // EventResolved
	MergedInto string // EventMerged
	Class      Classification
	// EventReclassified may also correct the category and the ward (a
	// reporter's answers after a fast-path ticket); empty keeps them.
	Category string
	WardCode string
	Level    int           // EventEscalated: the level reached
	Clock    SLAClock      // EventReminded, EventBreached
	Late     time.Duration // EventBreached: how late the clock is
	Rating   int           // EventRated
}

type rule struct {
	from  []Status
	to    Status // "" keeps the status
	check func(t *Ticket, c *Change) error
	apply func(t *Ticket, c *Change)
}

var active = ActiveStatuses
var worked = []Status{StatusAcknowledged, StatusInProgress, StatusOnSite}

// accept is 接单: whoever accepts takes the ticket, also one transferred to
// someone else. A ticket acknowledged before a transfer keeps its first
// acknowledgement: the response clock was met then. Accepting confirms a
// 待分诊 guess too.
func accept(t *Ticket, c *Change) {
	t.Triage = false
	if t.AcknowledgedAt.IsZero() {
		t.AcknowledgedAt = c.At
	}
	t.AssigneeID = c.Actor
}

// claim records an implicit acknowledgement: an engineer who arrives or
// resolves without typing 接单 first has still taken the ticket, and has
// seen what a 待分诊 guess said.
func claim(t *Ticket, c *Change) {
	t.Triage = false
	if t.AcknowledgedAt.IsZero() {
		t.AcknowledgedAt = c.At
	}
	if t.AssigneeID == "" {
		t.AssigneeID = c.Actor
	}
}

func need(field, v string) error {
	if v == "" {
		return Errorf(ErrInvalid, "err.change_needs", map[string]any{"field": field}, "change needs %s", field)
	}
	return nil
}

var rules = map[EventKind]rule{
	EventAcknowledged: {from: []Status{StatusNew}, to: StatusAcknowledged, apply: accept},
	EventRemoteFailed: {from: []Status{StatusAcknowledged, StatusInProgress}, to: StatusInProgress,
		check: func(t *Ticket, c *Change) error {
			if !t.RemoteFailedAt.IsZero() {
				return Errorf(ErrInvalid, "err.onsite_clock_running", nil, "on-site clock already running")
			}
			return nil
		},
		apply: func(t *Ticket, c *Change) { t.RemoteFailedAt = c.At }},
	EventArrived: {from: []Status{StatusNew, StatusAcknowledged, StatusInProgress}, to: StatusOnSite,
		apply: func(t *Ticket, c *Change) { claim(t, c); t.OnSiteAt = c.At }},
	EventWorkaround: {from: worked,
		check: func(t *Ticket, c *Change) error { return need("text", c.Text) },
		apply: func(t *Ticket, c *Change) { t.Workaround, t.WorkaroundAt = c.Text, c.At }},
	EventResolved: {from: active, to: StatusResolved,
		check: func(t *Ticket, c *Change) error {
			if err := need("cause", c.Cause); err != nil {
				return err
			}
			return need("solution", c.Solution)
		},
		apply: func(t *Ticket, c *Change) {
			claim(t, c)
			t.ResolvedAt, t.Cause, t.Solution = c.At, c.Cause, c.Solution
			c.Text = c.Cause + " / " + c.Solution
		}},
	EventConfirmed: {from: []Status{StatusResolved}, to: StatusConfirmed,
		apply: func(t *Ticket, c *Change) { t.ConfirmedAt = c.At }},
	EventClosed: {from: []Status{StatusConfirmed}, to: StatusClosed,
		apply: func(t *Ticket, c *Change) { t.ClosedAt = c.At }},
	EventReopened: {from: []Status{StatusResolved}, to: StatusInProgress,
		apply: func(t *Ticket, c *Change) { t.ResolvedAt = time.Time{}; t.ReopenCount++ }},
	EventCancelled: {from: active, to: StatusCancelled,
		check: func(t *Ticket, c *Change) error { return need("reason", c.Text) },
		apply: func(t *Ticket, c *Change) { t.ClosedAt = c.At }},
	EventMerged: {from: active, to: StatusMerged,
		check: func(t *Ticket, c *Change) error {
			if !ValidTicketNo(c.MergedInto) || c.MergedInto == t.No {
				return Errorf(ErrInvalid, "err.merge_target", map[string]any{"no": c.MergedInto}, "cannot merge %s into %q", t.No, c.MergedInto)
			}
			return nil
		},
		apply: func(t *Ticket, c *Change) { t.MergedInto, t.ClosedAt = c.MergedInto, c.At; c.Text = c.MergedInto }},
	// A transfer hands the ticket to someone who has not accepted it yet: it
	// waits for his 接单 again (待接单), whatever the last engineer had done.
	EventAssigned: {from: active, to: StatusNew,
		check: func(t *Ticket, c *Change) error {
			if err := need("assignee", c.Assignee); err != nil {
				return err
			}
			if c.Assignee == t.AssigneeID {
				return Errorf(ErrInvalid, "err.already_assigned", map[string]any{"user": c.Assignee}, "already assigned to %s", c.Assignee)
			}
			return nil
		},
		apply: func(t *Ticket, c *Change) { t.AssigneeID = c.Assignee }},
	EventReclassified: {from: append(slices.Clone(active), StatusResolved),
		check: func(t *Ticket, c *Change) error {
			if err := need("reason", c.Text); err != nil {
				return err
			}
			return c.Class.Validate()
		},
		apply: func(t *Ticket, c *Change) {
			if c.Category != "" {
				t.Category = c.Category
			}
			if c.WardCode != "" {
				t.WardCode = c.WardCode
			}
			t.Classification = c.Class
			// An engineer's class is no longer a guess; the reporter's own
			// later answers do not confirm it.
			if c.Actor != t.ReporterID {
				t.Triage = false
			}
		}},
	EventNoted: {from: everything,
		check: func(t *Ticket, c *Change) error { return need("text", c.Text) }},
	EventLinked: {from: append(slices.Clone(active), StatusResolved),
		check: func(t *Ticket, c *Change) error { return need("reporter", c.Text) }},
	EventAttached: {from: everything,
		check: func(t *Ticket, c *Change) error { return need("text", c.Text) }},
	EventRated: {from: []Status{StatusConfirmed, StatusClosed},
		check: func(t *Ticket, c *Change) error {
			if c.Rating < 1 || c.Rating > 5 || t.Rating != 0 {
				return Errorf(ErrInvalid, "err.rating", nil, "rating %d refused (current %d)", c.Rating, t.Rating)
			}
			return nil
		},
		apply: func(t *Ticket, c *Change) { t.Rating = c.Rating; c.Text = joinDetail(strconv.Itoa(c.Rating), c.Text) }},
	EventPaged: {from: append(slices.Clone(active), StatusResolved),
		check: func(t *Ticket, c *Change) error { return need("text", c.Text) }},
	EventEscalated: {from: active,
		check: func(t *Ticket, c *Change) error {
			if c.Level <= t.EscalationLevel {
				return Errorf(ErrInvalid, "err.escalation_level", map[string]any{"level": t.EscalationLevel},
					"already at escalation level %d", t.EscalationLevel)
			}
			return nil
		},
		apply: func(t *Ticket, c *Change) { t.EscalationLevel = c.Level }},
	EventReminded: {from: active,
		check: func(t *Ticket, c *Change) error { return checkClock(c.Clock) }},
	EventBreached: {from: active,
		check: func(t *Ticket, c *Change) error {
			if err := checkClock(c.Clock); err != nil {
				return err
			}
			if *t.Late.of(c.Clock) != 0 {
				return Errorf(ErrInvalid, "err.already_breached", nil, "clock %s already breached", c.Clock)
			}
			return nil
		},
		apply: func(t *Ticket, c *Change) {
			// A breach at the deadline itself is still a breach: at least 1 ms late.
			*t.Late.of(c.Clock) = max(c.Late, time.Millisecond)
		}},
	EventWarRoom: {from: OpenStatuses,
		check: func(t *Ticket, c *Change) error { return need("members", c.Text) }},
	EventJoined: {from: everything,
		check: func(t *Ticket, c *Change) error { return need("user", c.Text) }},
	EventFallbackSent: {from: OpenStatuses,
		check: func(t *Ticket, c *Change) error { return need("wards", c.Text) }},
	EventPaused: {from: worked,
		check: func(t *Ticket, c *Change) error {
			if !t.PausedAt.IsZero() {
				return Errorf(ErrInvalid, "err.already_paused", nil, "clocks already paused")
			}
			return need("reason", c.Text)
		},
		apply: func(t *Ticket, c *Change) { t.PausedAt = c.At }},
	EventResumed: {from: active,
		check: func(t *Ticket, c *Change) error {
			if t.PausedAt.IsZero() {
				return Errorf(ErrInvalid, "err.not_paused", nil, "clocks are not paused")
			}
			return nil
		},
		apply: func(t *Ticket, c *Change) { t.PausedAt = time.Time{} }},
}

var everything = []Status{StatusNew, StatusAcknowledged, StatusInProgress, StatusOnSite, StatusResolved, StatusConfirmed,
	StatusClosed, StatusCancelled, StatusMerged}

func checkClock(c SLAClock) error {
	switch c {
	case ClockAck, ClockResolve, ClockOnSite:
		return nil
	}
	return Errorf(ErrInvalid, "err.change_needs", map[string]any{"field": "clock"}, "unknown clock %q", c)
}

func joinDetail(a, b string) string {
	if b == "" {
		return a
	}
	return a + ": " + b
}

// Deadliner computes a ticket's SLA deadlines from its timeline
// (escalation.SLA over package sla). Pure.
type Deadliner interface {
	Deadlines(t *Ticket, timeline []Event) Deadlines
}

// Step is how a stored ticket changes: it applies cs in order through the
// state machine (Apply) and recomputes the deadlines (t.Due) from timeline,
// the ticket's timeline before the change, plus the new events, which it
// returns to be appended in the same transaction. On error the caller drops
// the ticket (the transaction rolls back).
func (t *Ticket) Step(d Deadliner, timeline []Event, cs ...Change) ([]Event, error) {
	evs := make([]Event, 0, len(cs))
	for _, c := range cs {
		ev, err := t.Apply(c)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	t.Due = d.Deadlines(t, append(timeline[:len(timeline):len(timeline)], evs...))
	return evs, nil
}

// Apply is the ticket's one state machine. It checks c against the current
// status, applies it, and returns the timeline event to append with it. On
// error the ticket is left exactly as it was. Deadlines (t.Due) are derived
// from the timeline: Step applies and recomputes them in one step.
func (t *Ticket) Apply(c Change) (Event, error) {
	r, ok := rules[c.Kind]
	if !ok {
		return Event{}, Errorf(ErrInvalid, "err.unknown_change", map[string]any{"kind": c.Kind}, "unknown change %q", c.Kind)
	}
	if c.Actor == "" || c.At.IsZero() {
		return Event{}, Errorf(ErrInvalid, "err.change_needs", map[string]any{"field": "actor"}, "change %s needs actor and time", c.Kind)
	}
	if !slices.Contains(r.from, t.Status) {
		return Event{}, Errorf(ErrInvalid, "err.transition",
			map[string]any{"no": t.No, "status": t.Status, "kind": c.Kind},
			"ticket %s: cannot %s when %s", t.No, c.Kind, t.Status)
	}
	c.Text, c.Cause, c.Solution = Mask(c.Text), Mask(c.Cause), Mask(c.Solution)
	for _, s := range []string{c.Text, c.Cause, c.Solution} {
		if err := checkText(s); err != nil {
			return Event{}, err
		}
	}
	if r.check != nil {
		if err := r.check(t, &c); err != nil {
			return Event{}, err
		}
	}
	from := t.Status
	if r.apply != nil {
		r.apply(t, &c)
	}
	if r.to != "" {
		t.Status = r.to
	}
	ev := Event{TicketNo: t.No, Kind: c.Kind, Actor: c.Actor, At: c.At, From: from, To: t.Status, Detail: c.Text}
	if c.Kind == EventReminded || c.Kind == EventBreached {
		ev.Clock = c.Clock
	}
	return ev, nil
}
