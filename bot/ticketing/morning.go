package ticketing

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"weibao/bot"
)

// morningWindow is how long after working time begins its hand-over is still
// owed: every replica asks every minute, and one that was down at 08:00 sends
// it when it is back.
const morningWindow = time.Hour

// morning is the start of working time for which the night rule holds a
// ticket of class c reported at at, and whether it holds it at all: a P3/P4
// that is not 7×24, reported outside working time, waits for the morning
// without an @ in the ward group.
func (s *Service) morning(c bot.Classification, at time.Time) (time.Time, bool) {
	if s.opt.Hours == nil || c.Urgent || (c.Priority != bot.P3 && c.Priority != bot.P4) {
		return time.Time{}, false
	}
	next := s.opt.Hours.Next(at)
	return next, !next.Equal(at)
}

// RunMorning queues the morning hand-over through enqueue every minute until
// ctx ends. A failed minute is logged and tried again the next.
func (s *Service) RunMorning(ctx context.Context, enqueue func(context.Context, ...bot.Outgoing) error) error {
	if s.opt.Hours == nil {
		return nil // always working: the night rule never holds a ticket
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		msgs, err := s.Morning(ctx, s.opt.Clock.Now())
		if err == nil && len(msgs) > 0 {
			err = enqueue(ctx, msgs...)
		}
		if err != nil && ctx.Err() == nil {
			s.opt.Logger.Warn("morning hand-over", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Morning returns the hand-over owed at now when working time began within
// the last hour: one message to the engineer on call at that start (the lead
// when nobody is) listing the tickets the night rule held for it that nobody
// has acknowledged yet. The ward groups hear nothing more: their nurses were
// told at the report. The key names the start, so every replica asking every
// minute queues it once.
func (s *Service) Morning(ctx context.Context, now time.Time) ([]bot.Outgoing, error) {
	if s.opt.Hours == nil {
		return nil, nil
	}
	from := now.Add(-morningWindow)
	start := s.opt.Hours.Next(from)
	if start.Equal(from) || start.After(now) {
		return nil, nil // no working time began within the window
	}
	ts, err := s.opt.Store.Tickets(ctx, bot.TicketFilter{Statuses: []bot.Status{bot.StatusNew}, To: start})
	if err != nil {
		return nil, fmt.Errorf("morning hand-over: %w", err)
	}
	var held []*bot.Ticket
	for _, t := range ts {
		if at, ok := s.morning(t.Classification, t.ReportedAt); ok && at.Equal(start) {
			held = append(held, t)
		}
	}
	if len(held) == 0 {
		return nil, nil
	}
	slices.Reverse(held) // the store lists newest first; the engineer reads the night in order
	oc, err := s.opt.Roster.OnCall(ctx, start)
	if err != nil {
		return nil, fmt.Errorf("morning hand-over: on call: %w", err)
	}
	to := oc.Primary
	if to == nil {
		to = oc.Lead
	}
	if to == nil {
		return nil, nil // nobody to tell; the escalation engine's levels still run
	}
	lines := make([]string, len(held))
	for i, t := range held {
		priority := string(t.Priority)
		if t.Triage {
			priority = s.text("msg.morning_triage", map[string]any{"priority": t.Priority})
		}
		lines[i] = s.text("msg.morning_line", map[string]any{"no": t.No, "ward": s.wardName(ctx, t.WardCode),
			"category": s.category(ctx, t.Category).Name, "priority": priority, "reported": s.clock(t.ReportedAt)})
	}
	text := s.text("msg.morning", map[string]any{"at": s.clock(start), "count": len(held), "tickets": strings.Join(lines, "\n")})
	return []bot.Outgoing{{Key: "handover/morning/" + strconv.FormatInt(start.Unix(), 10) + "/" + to.UserID,
		ToUsers: []string{to.UserID}, Format: bot.FormatText, Text: text}}, nil
}
