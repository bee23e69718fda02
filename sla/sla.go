// Package sla turns the tender's service levels into deadlines. It knows no
// tickets: callers describe a fault's history as an Input and get back the
// acknowledge, resolve and on-site deadlines, the reminder points to arm
// timers for, and how late a clock ran.
//
// Clocks. Each clock has a start, a budget and a stop:
//
//	ack      ReportedAt → AcknowledgedAt, budget Targets.Ack of the class
//	resolve  ReportedAt (or the last ReopenedAt) → ResolvedAt, budget Targets.Resolve
//	onsite   RemoteFailedAt, or AcknowledgedAt for urgent (P1) faults → ArrivedAt
//	         or ResolvedAt, budget Policy.OnSite; only for urgent faults or
//	         once remote help has failed
//
// Urgent faults and the on-site clock run 7×24; other clocks consume only the
// Calendar's working time. Pauses stop every running clock for their span;
// while a pause is open the clocks have no deadline. Budgets are always
// counted from the clock's start, so reclassifying a fault recomputes its
// deadlines from the original report time.
package sla

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"gopkg.in/yaml.v3"
)

// Class is the tender's difficulty class (二.2).
type Class string

const (
	Simple  Class = "simple"  // 简单: fixed at once
	Routine Class = "routine" // 日常: within half an hour
	Other   Class = "other"   // 其他: within an hour
)

// Clock names one of a fault's clocks.
type Clock string

const (
	ClockAck     Clock = "ack"
	ClockResolve Clock = "resolve"
	ClockOnSite  Clock = "onsite"
)

// Calendar is working time for non-urgent clocks; *calendar.Calendar
// implements it.
type Calendar interface {
	// Add returns the instant at which d of working time has passed since t.
	Add(t time.Time, d time.Duration) time.Time
	// Between returns the working time in [from, to).
	Between(from, to time.Time) time.Duration
}

// Targets are one class's budgets.
type Targets struct {
	Ack     time.Duration `yaml:"ack"`
	Resolve time.Duration `yaml:"resolve"`
}

// Policy holds the budgets of configs/sla.yaml (section `policy`).
type Policy struct {
	Classes map[Class]Targets `yaml:"classes"`
	// OnSite is the on-site budget for urgent faults (二.1: 2 h).
	OnSite time.Duration `yaml:"onsite"`
	// Reminders are percentages of each clock, ascending, below 100; the
	// breach point 100 is implied.
	Reminders []int `yaml:"reminders"`
	// Calendar is the working time of non-urgent clocks. Nil means none is
	// configured and every clock runs 7×24, which only tightens deadlines.
	Calendar Calendar `yaml:"-"`
}

// DefaultPolicy equals the policy section of configs/sla.yaml; the reasons
// for each number are written beside them there.
func DefaultPolicy() Policy {
	return Policy{
		Classes: map[Class]Targets{
			Simple:  {Ack: 5 * time.Minute, Resolve: 10 * time.Minute},
			Routine: {Ack: 10 * time.Minute, Resolve: 30 * time.Minute},
			Other:   {Ack: 15 * time.Minute, Resolve: time.Hour},
		},
		OnSite:    2 * time.Hour,
		Reminders: []int{50, 80},
	}
}

// ParsePolicy reads the `policy` section of an sla.yaml file strictly
// (unknown keys are errors) and validates it.
func ParsePolicy(data []byte) (Policy, error) {
	var file struct {
		Policy yaml.Node `yaml:"policy"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return Policy{}, fmt.Errorf("sla: parse policy: %w", err)
	}
	if file.Policy.Kind == 0 {
		return Policy{}, errors.New("sla: parse policy: no policy section")
	}
	// Node.Decode has no strict mode: re-encode and decode with KnownFields.
	b, err := yaml.Marshal(&file.Policy)
	if err != nil {
		return Policy{}, fmt.Errorf("sla: parse policy: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var p Policy
	if err := dec.Decode(&p); err != nil {
		return Policy{}, fmt.Errorf("sla: parse policy: %w", err)
	}
	return p, p.Validate()
}

// Validate checks that every class has positive budgets and the reminders
// are usable.
func (p Policy) Validate() error {
	for _, c := range []Class{Simple, Routine, Other} {
		t, ok := p.Classes[c]
		if !ok || t.Ack <= 0 || t.Resolve <= 0 {
			return fmt.Errorf("sla: class %q needs positive ack and resolve budgets", c)
		}
	}
	if len(p.Classes) != 3 {
		return errors.New("sla: only classes simple, routine and other are known")
	}
	if p.OnSite <= 0 {
		return errors.New("sla: onsite budget must be positive")
	}
	for i, r := range p.Reminders {
		if r <= 0 || r >= 100 || (i > 0 && r <= p.Reminders[i-1]) {
			return fmt.Errorf("sla: reminders %v must ascend within 1..99", p.Reminders)
		}
	}
	return nil
}

// Pause is a span in which the clocks stand still, e.g. waiting for a part
// or for the hospital. A zero To is a pause still open. Reason is shown in
// reports.
type Pause struct {
	From   time.Time
	To     time.Time
	Reason string
}

// Duration is how long the pause lasted, or has lasted by now if open.
func (p Pause) Duration(now time.Time) time.Duration {
	if p.To.IsZero() {
		return now.Sub(p.From)
	}
	return p.To.Sub(p.From)
}

// Input is what sla needs to know about a fault. Zero times mean "not yet".
type Input struct {
	Class Class
	// Urgent faults (P1, or any fault remote help cannot fix) run 7×24 and
	// get an on-site clock from acknowledgement.
	Urgent         bool
	ReportedAt     time.Time
	AcknowledgedAt time.Time
	// RemoteFailedAt is when the engineer said remote help failed; it starts
	// the on-site clock.
	RemoteFailedAt time.Time
	ArrivedAt      time.Time
	// ReopenedAt is the last reopen; if it is after ResolvedAt the fault is
	// open again with a fresh resolve budget.
	ReopenedAt time.Time
	ResolvedAt time.Time
	Pauses     []Pause
}

// Point is a reminder (Percent < 100) or the breach (100) of a clock.
type Point struct {
	Clock   Clock
	Percent int
	At      time.Time
}

// Deadlines are a fault's due times. A zero time means the clock does not
// apply or has not started (on-site), or is paused.
type Deadlines struct {
	Ack     time.Time
	Resolve time.Time
	OnSite  time.Time
	// Paused is set while a pause is open: no deadline runs.
	Paused bool
	// Points of the clocks still running, in time order; stopped clocks
	// have none, so these are exactly the timers to arm.
	Points []Point
}

// span is one clock's start, stop and budget.
type span struct {
	start, stop time.Time
	budget      time.Duration
	cal         Calendar
}

// span returns clock c of in, or false if it does not apply (yet).
func (p Policy) span(in Input, c Clock) (span, bool) {
	t := p.Classes[in.Class]
	s := span{cal: p.Calendar}
	if in.Urgent || p.Calendar == nil {
		s.cal = always{}
	}
	switch c {
	case ClockAck:
		s.start, s.stop, s.budget = in.ReportedAt, in.AcknowledgedAt, t.Ack
	case ClockResolve:
		s.start, s.budget = in.ReportedAt, t.Resolve
		if !in.ReopenedAt.IsZero() {
			s.start = in.ReopenedAt
		}
		if !in.ResolvedAt.IsZero() && !in.ResolvedAt.Before(s.start) {
			s.stop = in.ResolvedAt
		}
	case ClockOnSite:
		s.start, s.budget, s.cal = in.RemoteFailedAt, p.OnSite, always{}
		if in.Urgent && !in.AcknowledgedAt.IsZero() && (s.start.IsZero() || in.AcknowledgedAt.Before(s.start)) {
			s.start = in.AcknowledgedAt
		}
		s.stop = in.ArrivedAt
		if s.stop.IsZero() || (!in.ResolvedAt.IsZero() && in.ResolvedAt.Before(s.stop)) {
			s.stop = in.ResolvedAt
		}
	}
	return s, !s.start.IsZero() && s.budget > 0
}

// Deadlines computes the fault's due times and the points to arm.
func (p Policy) Deadlines(in Input) Deadlines {
	var d Deadlines
	pauses := merge(in.Pauses)
	d.Paused = len(pauses) > 0 && pauses[len(pauses)-1].To.IsZero()
	for _, c := range []Clock{ClockAck, ClockResolve, ClockOnSite} {
		s, ok := p.span(in, c)
		if !ok {
			continue
		}
		due := s.due(s.budget, pauses)
		switch c {
		case ClockAck:
			d.Ack = due
		case ClockResolve:
			d.Resolve = due
		case ClockOnSite:
			d.OnSite = due
		}
		if !s.stop.IsZero() || due.IsZero() {
			continue
		}
		for _, pct := range append(slices.Clone(p.Reminders), 100) {
			at := s.due(s.budget*time.Duration(pct)/100, pauses)
			d.Points = append(d.Points, Point{Clock: c, Percent: pct, At: at})
		}
	}
	sort.SliceStable(d.Points, func(i, j int) bool { return d.Points[i].At.Before(d.Points[j].At) })
	return d
}

// Late is how far clock c ran past its deadline by at, in the clock's own
// time: working time for non-urgent clocks, 7×24 otherwise, pauses excluded.
// at is the clock's stop (e.g. ResolvedAt) or now for a running clock; it is
// capped at the stop. Zero if the clock was not late or does not apply.
func (p Policy) Late(in Input, c Clock, at time.Time) time.Duration {
	s, ok := p.span(in, c)
	if !ok {
		return 0
	}
	if !s.stop.IsZero() && s.stop.Before(at) {
		at = s.stop
	}
	pauses := merge(in.Pauses)
	due := s.due(s.budget, pauses)
	if due.IsZero() || !at.After(due) {
		return 0
	}
	return s.elapsed(due, at, pauses)
}

// Breach is a clock that ran past its deadline.
type Breach struct {
	Clock Clock
	Due   time.Time
	Late  time.Duration
	// Final is set when the clock has stopped, so Late will not grow.
	Final bool
}

// Breaches lists the clocks late at now, for recording on the ticket and
// counting in reports.
func (p Policy) Breaches(in Input, now time.Time) []Breach {
	var out []Breach
	d := p.Deadlines(in)
	for _, c := range []struct {
		clock Clock
		due   time.Time
	}{{ClockAck, d.Ack}, {ClockResolve, d.Resolve}, {ClockOnSite, d.OnSite}} {
		late := p.Late(in, c.clock, now)
		if late <= 0 {
			continue
		}
		s, _ := p.span(in, c.clock)
		out = append(out, Breach{Clock: c.clock, Due: c.due, Late: late, Final: !s.stop.IsZero() && !s.stop.After(now)})
	}
	return out
}

// due returns the instant budget d of clock time has passed since the start,
// skipping pauses that began before the clock stopped; zero if an open pause
// stops the clock first.
func (s span) due(d time.Duration, pauses []Pause) time.Time {
	cur, left := s.start, d
	for _, p := range pauses {
		if !s.stop.IsZero() && !p.From.Before(s.stop) {
			break // the clock had stopped; later pauses are not its own
		}
		if !p.To.IsZero() && !p.To.After(cur) {
			continue
		}
		at := s.cal.Add(cur, left)
		if !p.From.Before(at) {
			return at
		}
		if p.From.After(cur) {
			left -= s.cal.Between(cur, p.From)
		}
		if p.To.IsZero() {
			return time.Time{}
		}
		cur = p.To
	}
	return s.cal.Add(cur, left)
}

// elapsed is the clock time in [from, to) outside pauses.
func (s span) elapsed(from, to time.Time, pauses []Pause) time.Duration {
	sum := s.cal.Between(from, to)
	for _, p := range pauses {
		pf, pt := p.From, p.To
		if pt.IsZero() || pt.After(to) {
			pt = to
		}
		if pf.Before(from) {
			pf = from
		}
		if pt.After(pf) {
			sum -= s.cal.Between(pf, pt)
		}
	}
	return sum
}

// merge sorts pauses and joins overlapping ones so each instant is paused
// at most once; an open pause swallows everything after it.
func merge(in []Pause) []Pause {
	ps := slices.Clone(in)
	sort.Slice(ps, func(i, j int) bool { return ps[i].From.Before(ps[j].From) })
	var out []Pause
	for _, p := range ps {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.To.IsZero() {
				break
			}
			if !p.From.After(last.To) {
				if p.To.IsZero() || p.To.After(last.To) {
					last.To = p.To
				}
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// always is the 7×24 calendar of urgent clocks.
type always struct{}

func (always) Add(t time.Time, d time.Duration) time.Time { return t.Add(d) }

func (always) Between(from, to time.Time) time.Duration {
	if to.Before(from) {
		return 0
	}
	return to.Sub(from)
}
