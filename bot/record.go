package bot

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"
)

// RecordKind names one kind of maintenance record (tender 一, 二.4, 三).
type RecordKind string

const (
	KindInspection     RecordKind = "inspection"      // 巡检 (一.1)
	KindPerformance    RecordKind = "performance"     // 性能分析 (一.2)
	KindBackupCheck    RecordKind = "backup_check"    // 备份检查 (一.3)
	KindRestoreDrill   RecordKind = "restore_drill"   // 恢复演练 (一.3)
	KindEmergencyDrill RecordKind = "emergency_drill" // 应急演练 (二.4)
	KindUpgrade        RecordKind = "upgrade"         // 升级 (三.3)
	KindBug            RecordKind = "bug"             // 缺陷 (三.1)
	KindRequirement    RecordKind = "requirement"     // 需求 (三.2)
)

// RecordKinds lists every kind, in the order exports and the quarterly
// package show them.
var RecordKinds = []RecordKind{KindInspection, KindPerformance, KindBackupCheck, KindRestoreDrill, KindEmergencyDrill, KindUpgrade,
	KindBug, KindRequirement}

// Valid reports whether k is a known kind.
func (k RecordKind) Valid() bool { return slices.Contains(RecordKinds, k) }

// RecordStatus is where a record stands. Only Record.Apply changes it.
type RecordStatus string

const (
	RecordOpen      RecordStatus = "open"      // being filled in (a flow under way, items still to link)
	RecordDone      RecordStatus = "done"      // complete: counts for its period
	RecordCancelled RecordStatus = "cancelled" // withdrawn, with a reason
)

// Record is one maintenance record: an inspection, a performance review, a
// backup check, a drill. Its kind's fields are free text by key (the keys
// each kind uses are named by the use case that fills them, e.g. time,
// content, result, anomalies, feedback, solution for an inspection).
type Record struct {
	ID      int64
	No      string // e.g. R20261204-0003, assigned by storage
	Version int    // optimistic lock, bumped by every stored change
	Kind    RecordKind
	Status  RecordStatus
	// Subject is what the record is about: the system inspected, the backup
	// set checked; empty when the kind has none.
	Subject string
	// Key makes creating a record idempotent: a second CreateRecord with the
	// same non-empty key is refused with ErrConflict.
	Key    string
	Fields map[string]string
	// Tickets are the numbers of the tickets linked to the record (an
	// inspection's anomalies), in link order.
	Tickets   []string
	CreatedBy string
	// At is when the work was done; it places the record in its month and quarter.
	At     time.Time
	DoneAt time.Time
}

// RecordEventKind names one entry of a record's timeline.
type RecordEventKind string

const (
	RecordCreated   RecordEventKind = "created"
	RecordUpdated   RecordEventKind = "updated" // fields changed (names in Detail)
	RecordLinked    RecordEventKind = "linked"  // a ticket linked (number in Detail)
	RecordCompleted RecordEventKind = "completed"
	RecordReopened  RecordEventKind = "reopened"
	RecordCancel    RecordEventKind = "cancelled"
	RecordNoted     RecordEventKind = "noted"
)

// RecordEvent is one append-only entry of a record's timeline.
type RecordEvent struct {
	ID       int64
	RecordNo string
	Kind     RecordEventKind
	Actor    string
	At       time.Time
	From, To RecordStatus
	Detail   string
}

// RecordChange is a request to change a record; which fields matter depends on Kind.
type RecordChange struct {
	Kind     RecordEventKind
	Actor    string
	At       time.Time
	Text     string            // note, reason
	Fields   map[string]string // RecordUpdated: the fields set (an empty value deletes)
	TicketNo string            // RecordLinked
}

type recordRule struct {
	from  []RecordStatus
	to    RecordStatus // "" keeps the status
	check func(r *Record, c *RecordChange) error
	apply func(r *Record, c *RecordChange)
}

var recordRules = map[RecordEventKind]recordRule{
	RecordUpdated: {from: []RecordStatus{RecordOpen, RecordDone},
		check: func(r *Record, c *RecordChange) error {
			if len(c.Fields) == 0 {
				return need("fields", "")
			}
			return checkFields(c.Fields)
		},
		apply: func(r *Record, c *RecordChange) {
			if r.Fields == nil {
				r.Fields = map[string]string{}
			}
			for k, v := range c.Fields {
				if v == "" {
					delete(r.Fields, k)
				} else {
					r.Fields[k] = Mask(v)
				}
			}
			c.Text = joinKeys(c.Fields)
		}},
	RecordLinked: {from: []RecordStatus{RecordOpen, RecordDone},
		check: func(r *Record, c *RecordChange) error {
			if !ValidTicketNo(c.TicketNo) {
				return Errorf(ErrInvalid, "err.record_ticket", map[string]any{"no": c.TicketNo}, "record %s: bad ticket number %q", r.No, c.TicketNo)
			}
			if slices.Contains(r.Tickets, c.TicketNo) {
				return Errorf(ErrConflict, "err.record_linked", map[string]any{"no": c.TicketNo}, "record %s: %s already linked", r.No, c.TicketNo)
			}
			return nil
		},
		apply: func(r *Record, c *RecordChange) {
			r.Tickets = append(r.Tickets, c.TicketNo)
			c.Text = joinDetail(c.TicketNo, c.Text)
		}},
	RecordCompleted: {from: []RecordStatus{RecordOpen}, to: RecordDone,
		apply: func(r *Record, c *RecordChange) { r.DoneAt = c.At }},
	RecordReopened: {from: []RecordStatus{RecordDone}, to: RecordOpen,
		check: func(r *Record, c *RecordChange) error { return need("reason", c.Text) },
		apply: func(r *Record, c *RecordChange) { r.DoneAt = time.Time{} }},
	RecordCancel: {from: []RecordStatus{RecordOpen, RecordDone}, to: RecordCancelled,
		check: func(r *Record, c *RecordChange) error { return need("reason", c.Text) }},
	RecordNoted: {from: []RecordStatus{RecordOpen, RecordDone, RecordCancelled},
		check: func(r *Record, c *RecordChange) error { return need("text", c.Text) }},
}

func checkFields(fs map[string]string) error {
	for k, v := range fs {
		if k == "" {
			return need("field name", "")
		}
		if err := checkText(v); err != nil {
			return err
		}
	}
	return nil
}

func joinKeys(fs map[string]string) string {
	ks := slices.Sorted(maps.Keys(fs))
	s := ""
	for i, k := range ks {
		if i > 0 {
			s += ","
		}
		s += k
	}
	return s
}

// NewRecord validates a fresh record and returns it, status open, with its
// "created" event. Fields are masked before they are kept.
func NewRecord(r Record, actor string, at time.Time) (*Record, RecordEvent, error) {
	switch {
	case !r.Kind.Valid():
		return nil, RecordEvent{}, Errorf(ErrInvalid, "err.record_kind", map[string]any{"kind": r.Kind}, "new record: unknown kind %q", r.Kind)
	case actor == "" || at.IsZero():
		return nil, RecordEvent{}, Errorf(ErrInvalid, "err.change_needs", map[string]any{"field": "actor"}, "new record: needs actor and time")
	}
	if err := checkFields(r.Fields); err != nil {
		return nil, RecordEvent{}, err
	}
	if err := checkText(r.Subject); err != nil {
		return nil, RecordEvent{}, err
	}
	fs := make(map[string]string, len(r.Fields))
	for k, v := range r.Fields {
		if v != "" {
			fs[k] = Mask(v)
		}
	}
	r.Fields = fs
	r.ID, r.No, r.Version, r.Tickets, r.DoneAt = 0, "", 0, nil, time.Time{}
	r.Status, r.CreatedBy = RecordOpen, actor
	if r.At.IsZero() {
		r.At = at
	}
	return &r, RecordEvent{Kind: RecordCreated, Actor: actor, At: at, To: RecordOpen, Detail: string(r.Kind)}, nil
}

// Apply is the record's one state machine: it checks c against the current
// status, applies it and returns the timeline event to append with it. On
// error the record is left exactly as it was.
func (r *Record) Apply(c RecordChange) (RecordEvent, error) {
	rule, ok := recordRules[c.Kind]
	if !ok {
		return RecordEvent{}, Errorf(ErrInvalid, "err.unknown_change", map[string]any{"kind": c.Kind}, "unknown record change %q", c.Kind)
	}
	if c.Actor == "" || c.At.IsZero() {
		return RecordEvent{}, Errorf(ErrInvalid, "err.change_needs", map[string]any{"field": "actor"}, "record change %s needs actor and time", c.Kind)
	}
	if !slices.Contains(rule.from, r.Status) {
		return RecordEvent{}, Errorf(ErrInvalid, "err.record_transition",
			map[string]any{"no": r.No, "status": r.Status, "kind": c.Kind},
			"record %s: cannot %s when %s", r.No, c.Kind, r.Status)
	}
	c.Text = Mask(c.Text)
	if err := checkText(c.Text); err != nil {
		return RecordEvent{}, err
	}
	if rule.check != nil {
		if err := rule.check(r, &c); err != nil {
			return RecordEvent{}, err
		}
	}
	// Apply on a copy of the maps so that an error later never leaves r half-changed.
	from := r.Status
	r.Fields = maps.Clone(r.Fields)
	r.Tickets = slices.Clone(r.Tickets)
	if rule.apply != nil {
		rule.apply(r, &c)
	}
	if rule.to != "" {
		r.Status = rule.to
	}
	return RecordEvent{RecordNo: r.No, Kind: c.Kind, Actor: c.Actor, At: c.At, From: from, To: r.Status, Detail: c.Text}, nil
}

// Step applies cs in order and returns their events, to be appended in the
// same transaction; on error the caller drops the record.
func (r *Record) Step(cs ...RecordChange) ([]RecordEvent, error) {
	evs := make([]RecordEvent, 0, len(cs))
	for _, c := range cs {
		ev, err := r.Apply(c)
		if err != nil {
			return nil, err
		}
		evs = append(evs, ev)
	}
	return evs, nil
}

var recordNoRE = regexp.MustCompile(`^R\d{8}-\d{4,}$`)

// ValidRecordNo reports whether s has the shape of a record number.
func ValidRecordNo(s string) bool { return recordNoRE.MatchString(s) }

// FormatRecordNo renders the day-local sequence number of a record.
func FormatRecordNo(day time.Time, seq int64) string {
	return fmt.Sprintf("R%s-%04d", day.Format("20060102"), seq)
}

// RecordEffects are written in the same transaction as a record change.
type RecordEffects struct {
	Events   []RecordEvent
	Messages []Outgoing
}

// RecordFilter selects records; zero fields do not filter.
type RecordFilter struct {
	Kinds    []RecordKind
	Statuses []RecordStatus
	Subject  string
	From, To time.Time // At in [From, To)
	Limit    int
}

// RecordStore keeps records and their timelines.
type RecordStore interface {
	// CreateRecord numbers r and stores it with fx in one transaction
	// (ErrConflict when r.Key is taken); fx's events and messages get the
	// number filled in.
	CreateRecord(ctx context.Context, r *Record, fx RecordEffects) error
	// Record returns ErrNotFound for an unknown number.
	Record(ctx context.Context, no string) (*Record, error)
	// RecordByKey returns ErrNotFound when no record has key.
	RecordByKey(ctx context.Context, key string) (*Record, error)
	// UpdateRecord loads the record and its timeline in one transaction,
	// calls fn and stores the result with fn's effects under the record's
	// version (reloading a few times on a race, then ErrConflict). fn must
	// only change r through r.Step.
	UpdateRecord(ctx context.Context, no string, fn func(r *Record, timeline []RecordEvent) (RecordEffects, error)) (*Record, error)
	RecordTimeline(ctx context.Context, no string) ([]RecordEvent, error)
	// Records lists records matching f, oldest At first.
	Records(ctx context.Context, f RecordFilter) ([]*Record, error)
	// TicketRecords lists the records a ticket is linked to.
	TicketRecords(ctx context.Context, ticketNo string) ([]*Record, error)
}
