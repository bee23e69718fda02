// Package register is the bug and requirement register (tender 三.1, 三.2):
// a bug has an urgency; an urgent one is a P1 fault at once (a ticket,
// linked both ways); the others get a deadline agreed with the hospital, at
// most three months away, with reminders before it. A requirement has an
// effort estimate in person-days: up to five is included in the contract,
// more is flagged as extra and waits for the hospital contact's
// confirmation (需求确认). Both are records (bot.KindBug,
// bot.KindRequirement) on the one record state machine.
package register

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"weibao/bot"
	"weibao/bot/command"
)

// Texts is the message catalogue (catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Options are the service's dependencies.
type Options struct {
	Records   bot.RecordStore
	Outbox    bot.Outbox // the reminders
	Directory bot.Directory
	Texts     Texts
	Clock     bot.Clock
	Location  *time.Location
	Logger    *slog.Logger
	// FileP1 files the P1 fault ticket of an urgent bug and returns its
	// number; NoteTicket puts the link on the ticket's timeline
	// (ticketing, wired in main).
	FileP1     func(ctx context.Context, reporter, description string) (string, error)
	NoteTicket func(ctx context.Context, actor, no, text string) error
	// Lead is told of overdue items; Contact confirms extra requirements.
	Lead, Contact string
}

// Service runs the register's use cases.
type Service struct{ opt Options }

// New checks the required dependencies and fills defaults.
func New(opt Options) (*Service, error) {
	if opt.Records == nil || opt.Outbox == nil || opt.Directory == nil || opt.Texts == nil || opt.FileP1 == nil || opt.NoteTicket == nil {
		return nil, errors.New("register: Records, Outbox, Directory, Texts, FileP1 and NoteTicket are required")
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
	return &Service{opt: opt}, nil
}

// IncludedDays is the effort the contract includes per requirement (三.2).
const IncludedDays = 5

// MaxMonths bounds a non-urgent deadline (三.1, 三.2).
const MaxMonths = 3

func (s *Service) text(key string, f map[string]any) string { return s.opt.Texts.Text(key, f) }

// Command runs 登记缺陷, 登记需求 and 需求确认 for person.
func (s *Service) Command(ctx context.Context, person *bot.Person, c command.Command) (string, error) {
	var r *bot.Record
	var err error
	key := ""
	switch c.Name {
	case command.Bug:
		r, err = s.Bug(ctx, person.UserID, c.Urgent, c.Text, c.Date)
		key = map[bool]string{true: "register.bug_urgent", false: "register.bug"}[c.Urgent]
	case command.Requirement:
		r, err = s.Requirement(ctx, person.UserID, c.Effort, c.Text, c.Date)
		key = "register.requirement"
		if err == nil && r.Fields["included"] == "no" {
			key = "register.requirement_extra"
		}
	case command.ConfirmRequirement:
		r, err = s.Confirm(ctx, person.UserID, c.RecordNo)
		key = "register.confirmed"
	default:
		return "", bot.Errorf(bot.ErrInvalid, "cmd.unknown", nil, "register command %s", c.Name)
	}
	if err != nil {
		return "", err
	}
	return s.text(key, s.fields(r)), nil
}

func (s *Service) engineer(ctx context.Context, actor string) error {
	p, err := s.opt.Directory.Person(ctx, actor)
	if err != nil || !p.Active || !p.Role.ActsOnTickets() {
		return bot.Errorf(bot.ErrForbidden, "err.engineers_only", nil, "%s may not keep the register", actor)
	}
	return nil
}

// deadline reads an agreed deadline: a day after today, at most MaxMonths away.
func (s *Service) deadline(v string) (time.Time, error) {
	now := s.opt.Clock.Now().In(s.opt.Location)
	d, err := time.ParseInLocation("2006-01-02", v, s.opt.Location)
	max := time.Date(now.Year(), now.Month()+MaxMonths, now.Day(), 0, 0, 0, 0, s.opt.Location)
	if err != nil || !d.After(now) || d.After(max) {
		return time.Time{}, bot.Errorf(bot.ErrInvalid, "register.err.deadline", map[string]any{"max": max.Format("2006-01-02")},
			"deadline %q: want a day after today and at most %d months away", v, MaxMonths)
	}
	return d, nil
}

// Bug registers a bug: an urgent one files its P1 ticket and links it both
// ways; another needs its agreed deadline.
func (s *Service) Bug(ctx context.Context, actor string, urgent bool, text, deadline string) (*bot.Record, error) {
	if err := s.engineer(ctx, actor); err != nil {
		return nil, err
	}
	fields := map[string]string{"description": text, "urgency": "normal"}
	if urgent {
		fields["urgency"] = "urgent"
	} else {
		d, err := s.deadline(deadline)
		if err != nil {
			return nil, err
		}
		fields["deadline"] = d.Format("2006-01-02")
	}
	r, err := s.create(ctx, actor, bot.KindBug, fields)
	if err != nil || !urgent {
		return r, err
	}
	no, err := s.opt.FileP1(ctx, actor, s.text("register.p1_description", map[string]any{"description": text}))
	if err != nil {
		return nil, err
	}
	if r, err = s.opt.Records.UpdateRecord(ctx, r.No, func(r *bot.Record, _ []bot.RecordEvent) (bot.RecordEffects, error) {
		evs, err := r.Step(bot.RecordChange{Kind: bot.RecordLinked, Actor: actor, At: s.opt.Clock.Now(), TicketNo: no})
		return bot.RecordEffects{Events: evs}, err
	}); err != nil {
		return nil, err
	}
	return r, s.opt.NoteTicket(ctx, actor, no, s.text("register.ticket_note", map[string]any{"no": r.No}))
}

// Requirement registers a requirement with its estimate; an extra one
// (over IncludedDays) asks the hospital contact to confirm.
func (s *Service) Requirement(ctx context.Context, actor string, effort float64, text, deadline string) (*bot.Record, error) {
	if err := s.engineer(ctx, actor); err != nil {
		return nil, err
	}
	if !(effort > 0 && effort <= 1000) { // NaN too
		return nil, bot.Errorf(bot.ErrInvalid, "cmd.usage.requirement", nil, "effort %v", effort)
	}
	d, err := s.deadline(deadline)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{"description": text, "effort": strconv.FormatFloat(effort, 'f', -1, 64), "included": "yes",
		"deadline": d.Format("2006-01-02")}
	if effort > IncludedDays {
		fields["included"], fields["confirmation"] = "no", "pending"
	}
	r, err := s.create(ctx, actor, bot.KindRequirement, fields)
	if err != nil || fields["included"] == "yes" || s.opt.Contact == "" {
		return r, err
	}
	return s.opt.Records.UpdateRecord(ctx, r.No, func(r *bot.Record, _ []bot.RecordEvent) (bot.RecordEffects, error) {
		evs, err := r.Step(bot.RecordChange{Kind: bot.RecordNoted, Actor: actor, At: s.opt.Clock.Now(), Text: "asked " + s.opt.Contact})
		return bot.RecordEffects{Events: evs, Messages: []bot.Outgoing{{Key: "register/" + r.No + "/confirm", ToUsers: []string{s.opt.Contact},
			Format: bot.FormatText, Text: s.text("register.ask_contact", s.fields(r))}}}, err
	})
}

// Confirm is the hospital contact's 需求确认 of an extra requirement.
func (s *Service) Confirm(ctx context.Context, actor, no string) (*bot.Record, error) {
	if actor == "" || actor != s.opt.Contact {
		return nil, bot.Errorf(bot.ErrForbidden, "register.err.contact_only", nil, "%s is not the hospital contact", actor)
	}
	return s.opt.Records.UpdateRecord(ctx, no, func(r *bot.Record, _ []bot.RecordEvent) (bot.RecordEffects, error) {
		switch {
		case r.Kind != bot.KindRequirement:
			return bot.RecordEffects{}, bot.Errorf(bot.ErrNotFound, "register.err.not_requirement", map[string]any{"no": no}, "%s is no requirement", no)
		case r.Fields["confirmation"] != "pending":
			return bot.RecordEffects{}, bot.Errorf(bot.ErrInvalid, "register.err.no_confirmation", map[string]any{"no": no}, "%s needs no confirmation", no)
		}
		evs, err := r.Step(bot.RecordChange{Kind: bot.RecordUpdated, Actor: actor, At: s.opt.Clock.Now(),
			Fields: map[string]string{"confirmation": "confirmed", "confirmed_by": actor}})
		return bot.RecordEffects{Events: evs, Messages: []bot.Outgoing{{Key: "register/" + no + "/confirmed", ToUsers: []string{r.CreatedBy},
			Format: bot.FormatText, Text: s.text("register.confirmed_engineer", s.fields(r))}}}, err
	})
}

func (s *Service) create(ctx context.Context, actor string, kind bot.RecordKind, fields map[string]string) (*bot.Record, error) {
	r, ev, err := bot.NewRecord(bot.Record{Kind: kind, Fields: fields}, actor, s.opt.Clock.Now())
	if err != nil {
		return nil, err
	}
	return r, s.opt.Records.CreateRecord(ctx, r, bot.RecordEffects{Events: []bot.RecordEvent{ev}})
}

// remindDays are how many days before a deadline its engineer is reminded,
// nearest first: the nearest one reached is the one due.
var remindDays = []int{1, 7}

// Remind reminds the engineers of open bugs and requirements whose deadline
// is near (7 days, 1 day) and tells the engineer and the lead of those
// overdue; each reminder once (the outbox key).
func (s *Service) Remind(ctx context.Context) error {
	rs, err := s.opt.Records.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindBug, bot.KindRequirement},
		Statuses: []bot.RecordStatus{bot.RecordOpen}})
	if err != nil {
		return err
	}
	now := s.opt.Clock.Now()
	var msgs []bot.Outgoing
	for _, r := range rs {
		d, err := time.ParseInLocation("2006-01-02", r.Fields["deadline"], s.opt.Location)
		if err != nil {
			continue // an urgent bug: its ticket's clocks run instead
		}
		f := s.fields(r)
		if !now.Before(d.AddDate(0, 0, 1)) {
			to := []string{r.CreatedBy}
			if s.opt.Lead != "" && s.opt.Lead != r.CreatedBy {
				to = append(to, s.opt.Lead)
			}
			msgs = append(msgs, bot.Outgoing{Key: "register/" + r.No + "/overdue", ToUsers: to, Format: bot.FormatText,
				Text: s.text("register.overdue", f)})
			continue
		}
		for _, n := range remindDays {
			if !now.Before(d.AddDate(0, 0, -n)) {
				f["days"] = n
				msgs = append(msgs, bot.Outgoing{Key: fmt.Sprintf("register/%s/remind/%d", r.No, n), ToUsers: []string{r.CreatedBy},
					Format: bot.FormatText, Text: s.text("register.remind", f)})
				break
			}
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return s.opt.Outbox.Enqueue(ctx, msgs...)
}

func (s *Service) fields(r *bot.Record) map[string]any {
	f := map[string]any{"no": r.No, "tickets": r.Tickets}
	for k, v := range r.Fields {
		f[k] = v
	}
	if len(r.Tickets) > 0 {
		f["ticket"] = r.Tickets[0]
	}
	return f
}
