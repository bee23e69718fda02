package sla

import (
	"errors"
	"slices"
	"time"
)

// Errors of the audited actions.
var (
	ErrNoReason    = errors.New("sla: a reason is required")
	ErrPaused      = errors.New("sla: clocks are already paused")
	ErrNotPaused   = errors.New("sla: clocks are not paused")
	ErrNotResolved = errors.New("sla: only a resolved fault can be reopened")
	ErrResolved    = errors.New("sla: the fault is resolved")
	ErrClass       = errors.New("sla: unknown class")
)

// Action names an audited change to a fault's clocks.
type Action string

const (
	ActionReclassify Action = "reclassify"
	ActionPause      Action = "pause"
	ActionResume     Action = "resume"
	ActionReopen     Action = "reopen"
)

// Record is the audit entry of an action, for the ticket's timeline: why,
// and how the deadlines moved.
type Record struct {
	Action Action
	At     time.Time
	Reason string
	// FromClass/ToClass and WasUrgent/Urgent differ only on reclassification.
	FromClass, ToClass Class
	WasUrgent, Urgent  bool
	Before, After      Deadlines
}

func (p Policy) record(a Action, at time.Time, reason string, before, after Input) Record {
	return Record{
		Action: a, At: at, Reason: reason,
		FromClass: before.Class, ToClass: after.Class,
		WasUrgent: before.Urgent, Urgent: after.Urgent,
		Before: p.Deadlines(before), After: p.Deadlines(after),
	}
}

func resolved(in Input) bool {
	return !in.ResolvedAt.IsZero() && !in.ResolvedAt.Before(in.ReopenedAt)
}

// Reclassify changes the class and urgency. The clocks keep their starts,
// so the new budgets count from the original report time.
func (p Policy) Reclassify(in Input, class Class, urgent bool, at time.Time, reason string) (Input, Record, error) {
	if _, ok := p.Classes[class]; !ok {
		return in, Record{}, ErrClass
	}
	if reason == "" {
		return in, Record{}, ErrNoReason
	}
	out := in
	out.Class, out.Urgent = class, urgent
	return out, p.record(ActionReclassify, at, reason, in, out), nil
}

// Pause stops the clocks from at until Resume.
func (p Policy) Pause(in Input, at time.Time, reason string) (Input, Record, error) {
	if reason == "" {
		return in, Record{}, ErrNoReason
	}
	if resolved(in) {
		return in, Record{}, ErrResolved
	}
	if n := len(in.Pauses); n > 0 && in.Pauses[n-1].To.IsZero() {
		return in, Record{}, ErrPaused
	}
	out := in
	out.Pauses = append(slices.Clone(in.Pauses), Pause{From: at, Reason: reason})
	return out, p.record(ActionPause, at, reason, in, out), nil
}

// Resume closes the open pause at at.
func (p Policy) Resume(in Input, at time.Time) (Input, Record, error) {
	n := len(in.Pauses)
	if n == 0 || !in.Pauses[n-1].To.IsZero() {
		return in, Record{}, ErrNotPaused
	}
	out := in
	out.Pauses = slices.Clone(in.Pauses)
	out.Pauses[n-1].To = at
	return out, p.record(ActionResume, at, out.Pauses[n-1].Reason, in, out), nil
}

// Reopen restarts the resolve clock with its full budget from at. The
// acknowledge and on-site clocks are history and stay as they were.
func (p Policy) Reopen(in Input, at time.Time, reason string) (Input, Record, error) {
	if reason == "" {
		return in, Record{}, ErrNoReason
	}
	if !resolved(in) {
		return in, Record{}, ErrNotResolved
	}
	out := in
	out.ReopenedAt = at
	return out, p.record(ActionReopen, at, reason, in, out), nil
}
