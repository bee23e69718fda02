// Package records keeps the maintenance records the tender asks for besides
// the faults (一 巡检/性能优化/备份恢复, 二.4 应急演练, 八 the contract
// period): the engineer's guided flows in chat, the same use cases for the
// admin API, the reminders when a record is due, and the exports by month or
// quarter that go into the quarterly package. Every change goes through
// bot.Record's state machine and is stored with its timeline event.
package records

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"weibao/bot"
	"weibao/catalog"
)

// DefaultItems are the item codes of an inspection checklist (tender 一.1).
var DefaultItems = []string{"cpu", "memory", "disk", "server_log", "system_log", "database", "backup", "interfaces"}

// System is one server or system the monthly inspection covers.
type System struct {
	Code string
	Name string
	// Type is the ticket type of its anomalies: server or software.
	Type bot.FaultType
	// Items are the checklist's item codes (DefaultItems when empty).
	Items []string
	// Instance is its Prometheus instance label and Windows whether it runs
	// windows_exporter rather than node_exporter; without an instance
	// nothing is pre-filled.
	Instance string
	Windows  bool
}

// Usage is what monitoring says of a system, in percent; a nil figure is unknown.
type Usage struct{ CPU, Memory, Disk *float64 }

// Metrics reads a system's usage (package prometheus).
type Metrics interface {
	Usage(ctx context.Context, instance string, windows bool) (Usage, error)
}

// Anomaly is a ticket to file for what a record found.
type Anomaly struct {
	Reporter    string
	Type        bot.FaultType
	Description string
	// Key names the anomaly within its record (the item code), so a retried
	// flow files each anomaly once.
	Key string
}

// Outbox queues messages caused by no record change (reminders).
type Outbox interface {
	Enqueue(ctx context.Context, msgs ...bot.Outgoing) error
}

// Workdays tells working days from days off (*calendar.Calendar).
type Workdays interface {
	IsWorkday(t time.Time) bool
}

// Options configure a Service.
type Options struct {
	Store     bot.RecordStore
	Directory bot.Directory
	Encoder   Encoder
	Outbox    Outbox
	Catalog   *catalog.Catalog
	Clock     bot.Clock
	Location  *time.Location
	Logger    *slog.Logger
	// FileTicket files a fault ticket for an anomaly and returns its number
	// (ticketing.Intake, wired in main).
	FileTicket func(ctx context.Context, a Anomaly) (string, error)
	Systems    []System
	// Metrics pre-fills CPU, memory and disk; nil: asked plainly.
	Metrics Metrics
	// Workdays: reminders go out on working days only; nil: every day.
	Workdays Workdays
	// LeadChat also gets what goes to the lead; optional.
	LeadChat string
	// BackupCheckEvery and RestoreDrillEvery are how often a backup check
	// and a restore drill are due (default 7 and 90 days).
	BackupCheckEvery  time.Duration
	RestoreDrillEvery time.Duration
	// RemindEvery is how often an overdue reminder repeats (default 3 days).
	RemindEvery time.Duration
	// ContractStart and ContractEnd bound the service period; zero: not set.
	ContractStart, ContractEnd time.Time
	// ContractNotice are the days before the end the lead is reminded (default 30, 7).
	ContractNotice []int
	// EmergencyTeam are the user ids of the 应急响应团队.
	EmergencyTeam []string
}

// Service runs the record use cases.
type Service struct {
	opt Options
}

// New checks opt and fills defaults.
func New(opt Options) (*Service, error) {
	if opt.Store == nil || opt.Directory == nil || opt.Outbox == nil || opt.Catalog == nil || opt.FileTicket == nil || opt.Encoder == nil {
		return nil, errors.New("records: Store, Directory, Outbox, Catalog, FileTicket and Encoder are required")
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
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.BackupCheckEvery, 7*24*time.Hour)
	def(&opt.RestoreDrillEvery, 90*24*time.Hour)
	def(&opt.RemindEvery, 3*24*time.Hour)
	if opt.ContractNotice == nil {
		opt.ContractNotice = []int{30, 7}
	}
	for i, s := range opt.Systems {
		if s.Code == "" || s.Name == "" {
			return nil, fmt.Errorf("records: system %d needs a code and a name", i+1)
		}
		if s.Type != bot.TypeServer && s.Type != bot.TypeSoftware {
			return nil, fmt.Errorf("records: system %s: type %q is neither server nor software", s.Code, s.Type)
		}
		if len(s.Items) == 0 {
			opt.Systems[i].Items = DefaultItems
		}
		for _, it := range opt.Systems[i].Items {
			if !slices.Contains(DefaultItems, it) {
				return nil, fmt.Errorf("records: system %s: unknown item %q (known: %v)", s.Code, it, DefaultItems)
			}
		}
	}
	return &Service{opt: opt}, nil
}

func (s *Service) now() time.Time { return s.opt.Clock.Now() }

func (s *Service) text(key string, f map[string]any) string { return s.opt.Catalog.Text(key, f) }

// authorize returns actor if he is an engineer, the lead or an admin.
func (s *Service) authorize(ctx context.Context, actor string) (*bot.Person, error) {
	p, err := s.opt.Directory.Person(ctx, actor)
	if err != nil && !errors.Is(err, bot.ErrNotFound) {
		return nil, err
	}
	if err != nil || !p.Active || !p.Role.ActsOnTickets() {
		return nil, bot.Errorf(bot.ErrForbidden, "err.engineers_only", nil, "records: %s may not keep records", actor)
	}
	return p, nil
}

// Create stores a complete record by actor from in's kind, subject, time
// (zero: now), fields and key: created, then completed. A key already used
// returns the record stored under it.
func (s *Service) Create(ctx context.Context, actor string, in bot.Record) (*bot.Record, error) {
	if _, err := s.authorize(ctx, actor); err != nil {
		return nil, err
	}
	if err := s.check(in); err != nil {
		return nil, err
	}
	r, err := s.create(ctx, actor, in, nil)
	if err != nil {
		return nil, err
	}
	if r.Status != bot.RecordOpen {
		return r, nil
	}
	return s.Step(ctx, actor, r.No, bot.RecordChange{Kind: bot.RecordCompleted})
}

// check refuses what a kind does not take: an unknown kind or field, a
// subject that is not a configured system, a time in the future.
func (s *Service) check(in bot.Record) error {
	sp, ok := specs[in.Kind]
	if !ok || sp.exportOnly {
		return bot.Errorf(bot.ErrInvalid, "err.record_kind", map[string]any{"kind": in.Kind}, "records: unknown kind %q", in.Kind)
	}
	for k := range in.Fields {
		if !slices.Contains(sp.fields, k) && !(in.Kind == bot.KindInspection && isItemKey(k)) {
			return bot.Errorf(bot.ErrInvalid, "err.record_field", map[string]any{"field": k}, "records: %s has no field %q", in.Kind, k)
		}
	}
	if in.Kind == bot.KindInspection {
		if _, ok := s.system(in.Subject); !ok {
			return bot.Errorf(bot.ErrInvalid, "err.record_system", map[string]any{"system": in.Subject}, "records: unknown system %q", in.Subject)
		}
	}
	if in.At.After(s.now().Add(time.Minute)) {
		return bot.Errorf(bot.ErrInvalid, "err.record_future", nil, "records: time %s is in the future", in.At)
	}
	return nil
}

// create stores a new open record, or returns the one stored under in.Key.
func (s *Service) create(ctx context.Context, actor string, in bot.Record, msgs []bot.Outgoing) (*bot.Record, error) {
	if in.Key != "" {
		if r, err := s.opt.Store.RecordByKey(ctx, in.Key); err == nil {
			return r, nil
		} else if !errors.Is(err, bot.ErrNotFound) {
			return nil, err
		}
	}
	r, ev, err := bot.NewRecord(in, actor, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.opt.Store.CreateRecord(ctx, r, bot.RecordEffects{Events: []bot.RecordEvent{ev}, Messages: msgs}); err != nil {
		if errors.Is(err, bot.ErrConflict) && in.Key != "" {
			return s.opt.Store.RecordByKey(ctx, in.Key) // a concurrent retry won
		}
		return nil, err
	}
	return r, nil
}

// Step applies changes to record no by actor (an engineer or the lead).
func (s *Service) Step(ctx context.Context, actor, no string, cs ...bot.RecordChange) (*bot.Record, error) {
	if _, err := s.authorize(ctx, actor); err != nil {
		return nil, err
	}
	return s.step(ctx, actor, no, nil, cs...)
}

// step stamps cs with actor and now and stores them with msgs.
func (s *Service) step(ctx context.Context, actor, no string, msgs func(r *bot.Record) []bot.Outgoing, cs ...bot.RecordChange) (*bot.Record, error) {
	now := s.now()
	for i := range cs {
		cs[i].Actor, cs[i].At = actor, now
	}
	return s.opt.Store.UpdateRecord(ctx, no, func(r *bot.Record, _ []bot.RecordEvent) (bot.RecordEffects, error) {
		evs, err := r.Step(cs...)
		if err != nil {
			return bot.RecordEffects{}, err
		}
		fx := bot.RecordEffects{Events: evs}
		if msgs != nil {
			fx.Messages = msgs(r)
		}
		return fx, nil
	})
}

// Record returns record no with its timeline.
func (s *Service) Record(ctx context.Context, no string) (*bot.Record, []bot.RecordEvent, error) {
	r, err := s.opt.Store.Record(ctx, no)
	if err != nil {
		return nil, nil, err
	}
	tl, err := s.opt.Store.RecordTimeline(ctx, no)
	return r, tl, err
}

// List lists records matching f, oldest first.
func (s *Service) List(ctx context.Context, f bot.RecordFilter) ([]*bot.Record, error) {
	return s.opt.Store.Records(ctx, f)
}

// system finds a configured system by code, name or 1-based number.
func (s *Service) system(arg string) (System, bool) {
	for i, x := range s.opt.Systems {
		if arg == x.Code || arg == x.Name || arg == fmt.Sprint(i+1) {
			return x, true
		}
	}
	return System{}, false
}

// Month is the local calendar month holding t.
func (s *Service) Month(t time.Time) bot.Span {
	t = t.In(s.opt.Location)
	from := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, s.opt.Location)
	return bot.Span{From: from, To: from.AddDate(0, 1, 0)}
}

// Quarter is the local calendar quarter holding t.
func (s *Service) Quarter(t time.Time) bot.Span {
	t = t.In(s.opt.Location)
	from := time.Date(t.Year(), t.Month()-(t.Month()-1)%3, 1, 0, 0, 0, 0, s.opt.Location)
	return bot.Span{From: from, To: from.AddDate(0, 3, 0)}
}

// toLead is a message to every lead and the lead chat, keyed by key.
func (s *Service) toLead(ctx context.Context, key, text string) ([]bot.Outgoing, error) {
	leads, err := s.opt.Directory.People(ctx, bot.RoleLead)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range leads {
		if p.Active {
			ids = append(ids, p.UserID)
		}
	}
	var out []bot.Outgoing
	if len(ids) > 0 {
		out = append(out, bot.Outgoing{Key: key, ToUsers: ids, Format: bot.FormatText, Text: text})
	}
	if s.opt.LeadChat != "" {
		out = append(out, bot.Outgoing{Key: key + "/chat", ToChat: s.opt.LeadChat, Format: bot.FormatText, Text: text})
	}
	return out, nil
}

// toEngineers is a message to every active engineer, keyed by key.
func (s *Service) toEngineers(ctx context.Context, key, text string) ([]bot.Outgoing, error) {
	ps, err := s.opt.Directory.People(ctx, bot.RoleEngineer)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range ps {
		if p.Active {
			ids = append(ids, p.UserID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return []bot.Outgoing{{Key: key, ToUsers: ids, Format: bot.FormatText, Text: text}}, nil
}

// EmergencyTeam returns the 应急响应团队 as the directory knows them.
func (s *Service) EmergencyTeam(ctx context.Context) ([]bot.Person, error) {
	var out []bot.Person
	for _, id := range s.opt.EmergencyTeam {
		p, err := s.opt.Directory.Person(ctx, id)
		switch {
		case errors.Is(err, bot.ErrNotFound):
			// Gone from the roster: still on the plan, by id, until the config changes.
			p = &bot.Person{UserID: id, Name: id}
		case err != nil:
			return nil, fmt.Errorf("emergency team %s: %w", id, err)
		}
		out = append(out, *p)
	}
	return out, nil
}
