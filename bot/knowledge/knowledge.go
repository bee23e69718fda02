// Package knowledge is the fault-handling knowledge base (tender 二.5): each
// resolved ticket proposes an entry (category, symptom, cause, fix) to its
// engineer, who approves or edits it by command (知识库 通过/修改); anyone
// searches it (知识库 <关键词>; nurses see the FAQ entries only); FAQ entries
// are offered to a nurse whose report matches one; entries nobody reviewed
// for six months are listed to the lead.
package knowledge

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"weibao/bot"
	"weibao/bot/command"
)

// Texts is the message catalogue (catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Analyses finds a ticket's fault analysis (storage.DB); its cause and
// conclusion are more thorough than the resolve command's.
type Analyses interface {
	Analysis(ctx context.Context, no string) (*bot.FaultAnalysis, error)
}

// Options are the service's dependencies.
type Options struct {
	Store     bot.KnowledgeStore
	Outbox    bot.Outbox // the review list
	Tickets   bot.TicketStore
	Analyses  Analyses // nil: entries come from the ticket alone
	Directory bot.Directory
	Texts     Texts
	Clock     bot.Clock
	Location  *time.Location
	Logger    *slog.Logger
	// Lead gets the half-yearly review list and proposals of tickets nobody
	// was assigned.
	Lead string
	// ReviewAfter is how long an entry stays current (default 182 days:
	// the tender's "at least every six months").
	ReviewAfter time.Duration
	// SweepWindow is how far back Sweep looks for resolved tickets without
	// an entry (default 14 days).
	SweepWindow time.Duration
}

// Service runs the knowledge-base use cases.
type Service struct{ opt Options }

// New checks the required dependencies and fills defaults.
func New(opt Options) (*Service, error) {
	if opt.Store == nil || opt.Outbox == nil || opt.Tickets == nil || opt.Directory == nil || opt.Texts == nil {
		return nil, errors.New("knowledge: Store, Outbox, Tickets, Directory and Texts are required")
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
	if opt.ReviewAfter <= 0 {
		opt.ReviewAfter = 182 * 24 * time.Hour
	}
	if opt.SweepWindow <= 0 {
		opt.SweepWindow = 14 * 24 * time.Hour
	}
	return &Service{opt: opt}, nil
}

func (s *Service) text(key string, f map[string]any) string { return s.opt.Texts.Text(key, f) }

// Committed is the service's subscription to storage's feed: a committed
// resolve proposes the ticket's entry. One missed here is made up by Sweep.
func (s *Service) Committed(ctx context.Context, c bot.Committed) {
	if c.Ticket == nil || !c.Has(bot.EventResolved) {
		return
	}
	if err := s.Propose(ctx, c.Ticket); err != nil {
		s.opt.Logger.Warn("knowledge entry not proposed", "ticket_no", c.Ticket.No, "err", err)
	}
}

// Propose stores the entry a resolved ticket suggests and asks its engineer
// (the lead when nobody worked it) to approve or edit it; once per ticket.
func (s *Service) Propose(ctx context.Context, t *bot.Ticket) error {
	if t.Cause == "" || t.Solution == "" {
		return nil // cancelled or merged: nothing was fixed
	}
	e := bot.KBEntry{TicketNo: t.No, Category: t.Category, Symptom: t.Description, Cause: t.Cause, Fix: t.Solution,
		Status: bot.KBProposed, ProposedAt: s.opt.Clock.Now()}
	if t.Workaround != "" {
		e.Fix += s.text("kb.fix_workaround", map[string]any{"workaround": t.Workaround})
	}
	if s.opt.Analyses != nil {
		a, err := s.opt.Analyses.Analysis(ctx, t.No)
		switch {
		case err == nil && a.Status == bot.AnalysisComplete:
			if a.Cause != "" {
				e.Cause = a.Cause
			}
			if a.Conclusion != "" {
				e.Fix += s.text("kb.fix_prevention", map[string]any{"conclusion": a.Conclusion})
			}
		case err != nil && !errors.Is(err, bot.ErrNotFound):
			return err
		}
	}
	to := t.AssigneeID
	if to == "" {
		to = s.opt.Lead
	}
	cat := s.categoryName(ctx, e.Category)
	_, err := s.opt.Store.ProposeEntry(ctx, &e, func(e *bot.KBEntry) []bot.Outgoing {
		if to == "" {
			return nil
		}
		return []bot.Outgoing{{Key: "kb/proposed/" + t.No, TicketNo: t.No, ToUsers: []string{to}, Format: bot.FormatText,
			Text: s.text("kb.proposed", map[string]any{"no": t.No, "id": e.ID, "category": cat, "symptom": e.Symptom,
				"cause": e.Cause, "fix": e.Fix})}}
	})
	return err
}

// Sweep proposes the entries of tickets resolved within the sweep window
// that have none (the feed's call was lost in a crash); it returns how many
// tickets it looked at.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	ts, err := s.opt.Tickets.Tickets(ctx, bot.TicketFilter{From: s.opt.Clock.Now().Add(-s.opt.SweepWindow),
		Statuses: []bot.Status{bot.StatusResolved, bot.StatusConfirmed, bot.StatusClosed}})
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, t := range ts {
		errs = append(errs, s.Propose(ctx, t))
	}
	return len(ts), errors.Join(errs...)
}

// Review sends the lead the approved entries nobody reviewed within
// ReviewAfter, once per day it runs.
func (s *Service) Review(ctx context.Context) error {
	now := s.opt.Clock.Now()
	if s.opt.Lead == "" {
		return errors.New("knowledge: review: no project lead configured (oncall.lead)")
	}
	es, err := s.opt.Store.Entries(ctx, bot.KBFilter{Status: bot.KBApproved, ReviewedBefore: now.Add(-s.opt.ReviewAfter)})
	if err != nil || len(es) == 0 {
		return err
	}
	lines := []string{s.text("kb.review_head", map[string]any{"n": len(es)})}
	for _, e := range es {
		lines = append(lines, s.text("kb.review_line", map[string]any{"id": e.ID, "category": s.categoryName(ctx, e.Category),
			"symptom": e.Symptom, "at": e.ReviewedAt.In(s.opt.Location).Format("2006-01-02")}))
	}
	lines = append(lines, s.text("kb.review_foot", nil))
	day := now.In(s.opt.Location).Format("2006-01-02")
	return s.opt.Outbox.Enqueue(ctx, bot.Outgoing{Key: "kb/review/" + day, ToUsers: []string{s.opt.Lead}, Format: bot.FormatText,
		Text: strings.Join(lines, "\n")})
}

// reviewer returns actor if the roster lets them review entries.
func (s *Service) reviewer(ctx context.Context, actor string) error {
	p, err := s.opt.Directory.Person(ctx, actor)
	if err != nil || !p.Active || !p.Role.ActsOnTickets() {
		return bot.Errorf(bot.ErrForbidden, "err.engineers_only", nil, "%s may not review knowledge entries", actor)
	}
	return nil
}

// Approve marks an entry reviewed and current.
func (s *Service) Approve(ctx context.Context, actor string, id int64) (*bot.KBEntry, error) {
	return s.update(ctx, actor, id, func(e *bot.KBEntry) {})
}

// Edit corrects an entry; an engineer who rewrote it has reviewed it, so it
// is approved too.
func (s *Service) Edit(ctx context.Context, actor string, id int64, ed bot.KBEdit) (*bot.KBEntry, error) {
	if ed.Empty() {
		return nil, bot.Errorf(bot.ErrInvalid, "cmd.usage.kb", nil, "knowledge edit changes nothing")
	}
	if ed.Category != "" && !s.knownCategory(ctx, ed.Category) {
		return nil, bot.Errorf(bot.ErrInvalid, "kb.err.category", map[string]any{"category": ed.Category}, "unknown category %q", ed.Category)
	}
	return s.update(ctx, actor, id, func(e *bot.KBEntry) {
		for _, f := range []struct {
			to *string
			v  string
		}{{&e.Category, ed.Category}, {&e.Symptom, ed.Symptom}, {&e.Cause, ed.Cause}, {&e.Fix, ed.Fix}} {
			if f.v != "" {
				*f.to = f.v
			}
		}
	})
}

// SetFAQ marks an entry for nurses (or unmarks it). It does not count as a review.
func (s *Service) SetFAQ(ctx context.Context, actor string, id int64, faq bool) (*bot.KBEntry, error) {
	if err := s.reviewer(ctx, actor); err != nil {
		return nil, err
	}
	return s.opt.Store.UpdateEntry(ctx, id, func(e *bot.KBEntry) ([]bot.Outgoing, error) {
		e.FAQ = faq
		return nil, nil
	})
}

func (s *Service) update(ctx context.Context, actor string, id int64, fn func(e *bot.KBEntry)) (*bot.KBEntry, error) {
	if err := s.reviewer(ctx, actor); err != nil {
		return nil, err
	}
	return s.opt.Store.UpdateEntry(ctx, id, func(e *bot.KBEntry) ([]bot.Outgoing, error) {
		fn(e)
		e.Status, e.ReviewedAt, e.ReviewedBy = bot.KBApproved, s.opt.Clock.Now(), actor
		return nil, nil
	})
}

// Search finds approved entries holding every keyword of query (FAQ
// entries only for nurses).
func (s *Service) Search(ctx context.Context, query string, faqOnly bool) ([]bot.KBEntry, error) {
	return s.opt.Store.SearchEntries(ctx, strings.Fields(query), bot.KBFilter{FAQ: faqOnly, Limit: maxResults})
}

// maxResults bounds a search's answer: a phone screen, not a report.
const maxResults = 5

// Command runs one 知识库 command for person and returns the reply.
func (s *Service) Command(ctx context.Context, person *bot.Person, c command.Command) (string, error) {
	var e *bot.KBEntry
	var err error
	key := ""
	switch c.Verb {
	case command.KBSearch:
		return s.searchReply(ctx, c.Text, !person.Role.ActsOnTickets())
	case command.KBPending:
		return s.pendingReply(ctx, person)
	case command.KBApprove:
		e, err = s.Approve(ctx, person.UserID, c.EntryID)
		key = "kb.approved"
	case command.KBEdit:
		e, err = s.Edit(ctx, person.UserID, c.EntryID, c.Edit)
		key = "kb.edited"
	case command.KBFAQ, command.KBUnFAQ:
		e, err = s.SetFAQ(ctx, person.UserID, c.EntryID, c.Verb == command.KBFAQ)
		key = map[bool]string{true: "kb.faq_on", false: "kb.faq_off"}[c.Verb == command.KBFAQ]
	default:
		return "", bot.Errorf(bot.ErrInvalid, "cmd.usage.kb", nil, "knowledge verb %q", c.Verb)
	}
	if err != nil {
		return "", err
	}
	return s.text(key, s.fields(ctx, *e)), nil
}

func (s *Service) fields(ctx context.Context, e bot.KBEntry) map[string]any {
	return map[string]any{"id": e.ID, "no": e.TicketNo, "category": s.categoryName(ctx, e.Category), "symptom": e.Symptom,
		"cause": e.Cause, "fix": e.Fix}
}

func (s *Service) searchReply(ctx context.Context, query string, faqOnly bool) (string, error) {
	es, err := s.Search(ctx, query, faqOnly)
	if err != nil {
		return "", err
	}
	if len(es) == 0 {
		return s.text("kb.search_none", map[string]any{"q": query}), nil
	}
	lines := []string{s.text("kb.search_head", map[string]any{"q": query, "n": len(es)})}
	for _, e := range es {
		lines = append(lines, s.text("kb.search_line", s.fields(ctx, e)))
	}
	return strings.Join(lines, "\n"), nil
}

func (s *Service) pendingReply(ctx context.Context, person *bot.Person) (string, error) {
	if err := s.reviewer(ctx, person.UserID); err != nil {
		return "", err
	}
	es, err := s.opt.Store.Entries(ctx, bot.KBFilter{Status: bot.KBProposed, Limit: 10})
	if err != nil {
		return "", err
	}
	if len(es) == 0 {
		return s.text("kb.pending_none", nil), nil
	}
	lines := []string{s.text("kb.pending_head", map[string]any{"n": len(es)})}
	for _, e := range es {
		lines = append(lines, s.text("kb.pending_line", s.fields(ctx, e)))
	}
	return strings.Join(lines, "\n"), nil
}

// Offer returns the FAQ tip for a nurse's report when an approved FAQ
// entry's symptom matches her words, "" when none does.
func (s *Service) Offer(ctx context.Context, text string) (string, error) {
	es, err := s.opt.Store.Entries(ctx, bot.KBFilter{Status: bot.KBApproved, FAQ: true, Limit: 500})
	if err != nil {
		return "", err
	}
	e, ok := Match(text, es)
	if !ok {
		return "", nil
	}
	return s.text("kb.faq_offer", s.fields(ctx, e)), nil
}

func (s *Service) categoryName(ctx context.Context, code string) string {
	cs, err := s.opt.Directory.Categories(ctx)
	if err == nil {
		for _, c := range cs {
			if c.Code == code {
				return c.Name
			}
		}
	}
	return code
}

func (s *Service) knownCategory(ctx context.Context, code string) bool {
	cs, err := s.opt.Directory.Categories(ctx)
	if err != nil {
		return false
	}
	for _, c := range cs {
		if c.Code == code {
			return true
		}
	}
	return false
}
