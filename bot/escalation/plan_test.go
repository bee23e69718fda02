package escalation

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/sla"
)

// plan arms only the points whose effect is not yet on the ticket, so that
// the periodic reconcile never re-fires reminders and breaches.
func TestPlanSkipsHandledPoints(t *testing.T) {
	e := &Engine{opt: Options{SLA: sla.DefaultPolicy(), Policy: DefaultPolicy()}}
	reported := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	base := bot.Ticket{No: "F20261126-0001", Status: bot.StatusAcknowledged, ReportedAt: reported,
		AcknowledgedAt: reported.Add(time.Minute),
		Classification: bot.Classification{Priority: bot.P3, SLAClass: "routine"}}
	ids := func(tk bot.Ticket, timeline []bot.Event) []string {
		var out []string
		for _, tm := range e.plan(&tk, timeline) {
			out = append(out, tm.ID)
		}
		return out
	}
	remind := func(c bot.SLAClock, at time.Time) bot.Event {
		return bot.Event{Kind: bot.EventReminded, Clock: c, At: at}
	}
	// Resolve clock of a routine fault: 30 min from the report (no calendar: 7×24).
	half, most := reported.Add(15*time.Minute), reported.Add(24*time.Minute)
	breached := base
	breached.Late.Resolve = time.Minute
	tests := []struct {
		name     string
		tk       bot.Ticket
		timeline []bot.Event
		want     []string
	}{
		{"nothing fired yet", base, nil,
			[]string{"F20261126-0001/resolve/50", "F20261126-0001/resolve/80", "F20261126-0001/resolve/100"}},
		{"50 % reminded", base, []bot.Event{remind(bot.ClockResolve, half)},
			[]string{"F20261126-0001/resolve/80", "F20261126-0001/resolve/100"}},
		{"80 % reminded covers 50 %", base, []bot.Event{remind(bot.ClockResolve, most)},
			[]string{"F20261126-0001/resolve/100"}},
		{"a reminder of another clock does not count", base, []bot.Event{remind(bot.ClockAck, most)},
			[]string{"F20261126-0001/resolve/50", "F20261126-0001/resolve/80", "F20261126-0001/resolve/100"}},
		{"a reminder before the point does not count", base, []bot.Event{remind(bot.ClockResolve, half.Add(-time.Second))},
			[]string{"F20261126-0001/resolve/50", "F20261126-0001/resolve/80", "F20261126-0001/resolve/100"}},
		{"breached: nothing left", breached, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ids(tt.tk, tt.timeline)); diff != "" {
				t.Errorf("armed timers (-want +got):\n%s", diff)
			}
		})
	}
}

// The phone rings at once only for P1; other urgent faults climb after the
// policy's delays, around the clock.
func TestEscalationStepTimes(t *testing.T) {
	e := &Engine{opt: Options{SLA: sla.DefaultPolicy(), Policy: DefaultPolicy()}}
	reported := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC) // 23:00 in Shanghai
	tests := []struct {
		name   string
		class  bot.Classification
		level1 time.Duration
	}{
		{"P1", bot.Classification{Priority: bot.P1, SLAClass: "other", Urgent: true}, 0},
		{"urgent P2", bot.Classification{Priority: bot.P2, SLAClass: "routine", Urgent: true}, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := bot.Ticket{No: "F20261126-0002", Status: bot.StatusNew, ReportedAt: reported, Classification: tt.class}
			for _, tm := range e.plan(&tk, nil) {
				if tm.ID == tk.No+"/esc/1" {
					if got := tm.Due.Sub(reported); got != tt.level1 {
						t.Errorf("level 1 after %v, want %v", got, tt.level1)
					}
					return
				}
			}
			t.Error("no level-1 timer armed")
		})
	}
}

// A transferred ticket waits for its new engineer's 接单 from the transfer on,
// as a new ticket does from its report: its escalation does not fire at once
// for the hours it was worked on before.
func TestTransferRestartsEscalation(t *testing.T) {
	e := &Engine{opt: Options{SLA: sla.DefaultPolicy(), Policy: DefaultPolicy()}}
	reported := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	moved := reported.Add(2 * time.Hour)
	tk := bot.Ticket{No: "F20261126-0003", Status: bot.StatusNew, ReportedAt: reported, AcknowledgedAt: reported.Add(time.Minute),
		AssigneeID: "eng2", Classification: bot.Classification{Priority: bot.P2, SLAClass: "routine", Urgent: true}}
	timeline := []bot.Event{{Kind: bot.EventReported, At: reported}, {Kind: bot.EventAcknowledged, At: reported.Add(time.Minute)},
		{Kind: bot.EventAssigned, At: moved}}
	for _, tm := range e.plan(&tk, timeline) {
		if tm.ID == tk.No+"/esc/1" {
			if want := moved.Add(5 * time.Minute); !tm.Due.Equal(want) {
				t.Errorf("level 1 due %v, want %v", tm.Due, want)
			}
			return
		}
	}
	t.Error("no level-1 timer armed")
}
