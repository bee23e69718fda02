package escalation

import (
	"time"

	"weibao/bot"
	"weibao/sla"
)

// SLA computes a ticket's deadlines from the sla package's policy. It is
// the ticketing service's SLA dependency: pure, no I/O.
type SLA struct {
	Policy sla.Policy
}

// Deadlines returns the ticket's due times given its timeline (including
// the events of the change being made).
func (s SLA) Deadlines(t *bot.Ticket, timeline []bot.Event) bot.Deadlines {
	d := s.Policy.Deadlines(Input(t, timeline))
	return bot.Deadlines{Ack: d.Ack, Resolve: d.Resolve, OnSite: d.OnSite}
}

// Input describes the ticket to package sla. Pauses and the last reopen come
// from the timeline; an open pause the timeline lacks is taken from
// t.PausedAt. A class the policy does not know falls back to the ticket's
// difficulty, then to "other", so that no fault ever runs without a clock.
func Input(t *bot.Ticket, timeline []bot.Event) sla.Input {
	in := sla.Input{
		Class:          sla.Class(t.SLAClass),
		Urgent:         Urgent(t),
		ReportedAt:     t.ReportedAt,
		AcknowledgedAt: t.AcknowledgedAt,
		RemoteFailedAt: t.RemoteFailedAt,
		ArrivedAt:      t.OnSiteAt,
		ResolvedAt:     t.ResolvedAt,
	}
	switch in.Class {
	case sla.Simple, sla.Routine, sla.Other:
	default:
		in.Class = sla.Class(t.Difficulty)
		if in.Class != sla.Simple && in.Class != sla.Routine {
			in.Class = sla.Other
		}
	}
	var open *sla.Pause
	for _, e := range timeline {
		switch e.Kind {
		case bot.EventReopened:
			in.ReopenedAt = e.At
		case bot.EventPaused:
			if open == nil {
				in.Pauses = append(in.Pauses, sla.Pause{From: e.At, Reason: e.Detail})
				open = &in.Pauses[len(in.Pauses)-1]
			}
		case bot.EventResumed:
			if open != nil {
				open.To = e.At
				open = nil
			}
		}
	}
	switch {
	case t.PausedAt.IsZero() && open != nil:
		// The ticket says the clocks run: the resume is what the timeline lacks.
		open.To = open.From
	case !t.PausedAt.IsZero() && open == nil:
		in.Pauses = append(in.Pauses, sla.Pause{From: t.PausedAt})
	}
	return in
}

// Urgent reports whether a ticket runs on the urgent policy: 7×24 clocks
// and escalation without delay.
func Urgent(t *bot.Ticket) bool { return t.Urgent || t.Priority == bot.P1 }

func late(l bot.Late, c bot.SLAClock) time.Duration {
	switch c {
	case bot.ClockAck:
		return l.Ack
	case bot.ClockResolve:
		return l.Resolve
	}
	return l.OnSite
}
