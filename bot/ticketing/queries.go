package ticketing

import (
	"context"
	"strings"
	"time"

	"weibao/bot"
)

// Ticket returns a ticket by number.
func (s *Service) Ticket(ctx context.Context, no string) (*bot.Ticket, error) {
	if !bot.ValidTicketNo(no) {
		return nil, bot.Errorf(bot.ErrNotFound, "err.not_found", map[string]any{"no": no}, "bad ticket number %q", no)
	}
	return s.opt.Store.Ticket(ctx, no)
}

// Active lists the open tickets that engineer works on (assigned to them).
func (s *Service) Active(ctx context.Context, engineer string) ([]*bot.Ticket, error) {
	return s.opt.Store.Tickets(ctx, bot.TicketFilter{AssigneeID: engineer,
		Statuses: bot.ActiveStatuses})
}

// Unclaimed lists new tickets nobody acknowledged yet, in ward (all if "").
func (s *Service) Unclaimed(ctx context.Context, ward string) ([]*bot.Ticket, error) {
	ts, err := s.opt.Store.Tickets(ctx, bot.TicketFilter{WardCode: ward, Statuses: []bot.Status{bot.StatusNew}})
	if err != nil {
		return nil, err
	}
	out := ts[:0]
	for _, t := range ts {
		if t.AssigneeID == "" {
			out = append(out, t)
		}
	}
	return out, nil
}

// Reported lists the tickets a person reported or was linked to.
func (s *Service) Reported(ctx context.Context, user string, statuses ...bot.Status) ([]*bot.Ticket, error) {
	return s.opt.Store.ReportedTickets(ctx, user, statuses...)
}

// OpenInWard lists the ward's open tickets of a category reported since.
func (s *Service) OpenInWard(ctx context.Context, ward, category string, since time.Time) ([]*bot.Ticket, error) {
	return s.opt.Store.Tickets(ctx, bot.TicketFilter{WardCode: ward, Category: category, From: since,
		Statuses: bot.ActiveStatuses})
}

// Progress renders a ticket's status for anyone in its ward: status,
// assignee, and the time left on each running clock.
func (s *Service) Progress(ctx context.Context, t *bot.Ticket) string {
	ppl, _ := s.people(ctx)
	f := s.fields(t, ppl)
	f["category"], f["ward"] = s.category(ctx, t.Category).Name, s.wardName(ctx, t.WardCode)
	if t.AssigneeID == "" {
		f["assignee"] = s.text("msg.nobody_yet", nil)
	}
	lines := []string{s.text("msg.progress", f)}
	now := s.now()
	clock := func(name string, due time.Time, running bool) {
		if due.IsZero() || !running {
			return
		}
		left := due.Sub(now)
		key := "msg.clock_left"
		if left < 0 {
			key, left = "msg.clock_over", -left
		}
		lines = append(lines, s.text(key, map[string]any{"clock": name, "due": s.clock(due), "left": left}))
	}
	if t.Status.Active() {
		clock("ack", t.Due.Ack, t.AcknowledgedAt.IsZero())
		clock("resolve", t.Due.Resolve, true)
		clock("onsite", t.Due.OnSite, t.OnSiteAt.IsZero())
	}
	if !t.PausedAt.IsZero() {
		lines = append(lines, s.text("msg.clocks_paused", nil))
	}
	return strings.Join(lines, "\n")
}

// Line renders a ticket in one line for lists (我的).
func (s *Service) Line(ctx context.Context, t *bot.Ticket) string {
	f := s.fields(t, nil)
	f["category"], f["ward"] = s.category(ctx, t.Category).Name, s.wardName(ctx, t.WardCode)
	return s.text("msg.ticket_line", f)
}

// Reporters returns the ticket's reporter and everyone linked to it.
func (s *Service) Reporters(ctx context.Context, no string) ([]string, error) {
	return s.opt.Store.Reporters(ctx, no)
}
