package bot

import (
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"
)

// Scope is how far a fault reaches (tender 二.2: 个人/科室/全院).
type Scope string

const (
	ScopePersonal   Scope = "personal"   // 个人
	ScopeDepartment Scope = "department" // 科室
	ScopeHospital   Scope = "hospital"   // 全院
)

// FaultType is what broke (tender 二.2: 服务器/软件, plus network and terminals).
type FaultType string

const (
	TypeServer   FaultType = "server"   // 服务器
	TypeSoftware FaultType = "software" // 软件
	TypeNetwork  FaultType = "network"  // 网络
	TypeTerminal FaultType = "terminal" // 终端设备
)

// Severity is the clinical impact (tender 二.2), most severe first.
type Severity string

const (
	SeverityPatientSafety Severity = "patient_safety" // 患者安全
	SeverityClinical      Severity = "clinical"       // 诊疗流程
	SeverityDaily         Severity = "daily"          // 日常运行
	SeverityExperience    Severity = "experience"     // 用户体验
)

// Difficulty drives the tender's resolution promise: 简单 at once, 日常 within
// 30 minutes, 其他 within an hour.
type Difficulty string

const (
	DifficultySimple  Difficulty = "simple"  // 简单
	DifficultyRoutine Difficulty = "routine" // 日常
	DifficultyOther   Difficulty = "other"   // 其他
)

// Priority orders the queue; P1 is a patient-safety or hospital-wide fault.
type Priority string

const (
	P1 Priority = "P1"
	P2 Priority = "P2"
	P3 Priority = "P3"
	P4 Priority = "P4"
)

// Status is where a ticket stands. Only Ticket.Apply changes it.
type Status string

const (
	StatusNew          Status = "new"
	StatusAcknowledged Status = "acknowledged"
	StatusInProgress   Status = "in_progress"
	StatusOnSite       Status = "on_site"
	StatusResolved     Status = "resolved"
	StatusConfirmed    Status = "confirmed"
	StatusClosed       Status = "closed"
	StatusCancelled    Status = "cancelled"
	StatusMerged       Status = "merged"
)

// ActiveStatuses are the statuses in which someone still has to work on the
// ticket; OpenStatuses add the wait for the reporter's confirmation.
var (
	ActiveStatuses = []Status{StatusNew, StatusAcknowledged, StatusInProgress, StatusOnSite}
	OpenStatuses   = append(slices.Clone(ActiveStatuses), StatusResolved)
)

// Active reports whether someone still has to work on the ticket.
func (s Status) Active() bool { return slices.Contains(ActiveStatuses, s) }

// Open reports whether the ticket still needs anything, including the reporter's confirmation.
func (s Status) Open() bool { return slices.Contains(OpenStatuses, s) }

// Classification is everything the guided dialogue and the engineers decide
// about a fault; the SLA clocks follow from it.
type Classification struct {
	Scope      Scope
	Type       FaultType
	Severity   Severity
	Difficulty Difficulty
	Emergency  bool
	Priority   Priority
	// SLAClass names the SLA policy's clock set (see package sla).
	SLAClass string
	// Urgent faults run on 7×24 clocks and get the on-site clock.
	Urgent bool
}

// Validate checks every field holds a known value.
func (c Classification) Validate() error {
	bad := func(field string, v any) error {
		return Errorf(ErrInvalid, "err.classification", map[string]any{"field": field}, "classification: unknown %s %q", field, v)
	}
	switch c.Scope {
	case ScopePersonal, ScopeDepartment, ScopeHospital:
	default:
		return bad("scope", c.Scope)
	}
	switch c.Type {
	case TypeServer, TypeSoftware, TypeNetwork, TypeTerminal:
	default:
		return bad("type", c.Type)
	}
	switch c.Severity {
	case SeverityPatientSafety, SeverityClinical, SeverityDaily, SeverityExperience:
	default:
		return bad("severity", c.Severity)
	}
	switch c.Difficulty {
	case DifficultySimple, DifficultyRoutine, DifficultyOther:
	default:
		return bad("difficulty", c.Difficulty)
	}
	switch c.Priority {
	case P1, P2, P3, P4:
	default:
		return bad("priority", c.Priority)
	}
	if c.SLAClass == "" {
		return bad("sla_class", c.SLAClass)
	}
	return nil
}

// SLAClock names one SLA clock.
type SLAClock string

const (
	ClockAck     SLAClock = "ack"     // respond (acknowledge)
	ClockResolve SLAClock = "resolve" // resolve
	ClockOnSite  SLAClock = "onsite"  // engineer on site (urgent faults)
)

// Late records how late each clock was when it breached; zero when it did not.
type Late struct {
	Ack, Resolve, OnSite time.Duration
}

func (l *Late) of(c SLAClock) *time.Duration {
	switch c {
	case ClockAck:
		return &l.Ack
	case ClockResolve:
		return &l.Resolve
	}
	return &l.OnSite
}

// Deadlines are the SLA clocks' due times, stored on the ticket so that the
// database, not Redis, is the truth. A zero time means the clock does not run.
type Deadlines struct {
	Ack     time.Time
	Resolve time.Time
	OnSite  time.Time
}

// Ticket is one reported fault.
type Ticket struct {
	ID      int64
	No      string // e.g. F20261126-0007, assigned by storage
	Version int    // optimistic lock, bumped by every stored change

	Status      Status
	ReporterID  string
	WardCode    string
	ChatID      string // the WeCom group it was reported in; empty for 1:1
	Category    string // category code
	Description string
	Classification
	AssigneeID string

	ReportedAt     time.Time
	AcknowledgedAt time.Time
	RemoteFailedAt time.Time // the engineer said remote help failed: on-site clock starts
	OnSiteAt       time.Time
	WorkaroundAt   time.Time
	ResolvedAt     time.Time
	ConfirmedAt    time.Time
	ClosedAt       time.Time

	Due  Deadlines
	Late Late
	// PausedAt is when the clocks were paused (waiting for a part or for the
	// hospital); zero while they run.
	PausedAt        time.Time
	EscalationLevel int
	// Triage marks a priority the bot guessed from an abandoned dialogue
	// (待分诊): it never rings a phone until an engineer acknowledges or
	// reclassifies the ticket.
	Triage bool

	Workaround  string
	Cause       string
	Solution    string
	MergedInto  string
	ReopenCount int
	Rating      int // the reporter's satisfaction, 1–5; 0 when not given
}

// MaxTextRunes bounds any free text stored on a ticket or its timeline: a
// fault description is a few sentences, and a 10 KB paste is a mistake.
const MaxTextRunes = 1000

// NewTicket validates a fresh report and returns it with its "reported" event.
// Free text is masked before it is kept.
func NewTicket(t Ticket, actor string, at time.Time) (*Ticket, Event, error) {
	t.Description = Mask(t.Description)
	switch {
	case t.ReporterID == "":
		return nil, Event{}, Errorf(ErrInvalid, "err.ticket_field", map[string]any{"field": "reporter"}, "new ticket: no reporter")
	case t.WardCode == "":
		return nil, Event{}, Errorf(ErrInvalid, "err.ticket_field", map[string]any{"field": "ward"}, "new ticket: no ward")
	case t.Category == "":
		return nil, Event{}, Errorf(ErrInvalid, "err.ticket_field", map[string]any{"field": "category"}, "new ticket: no category")
	}
	if err := checkText(t.Description); err != nil {
		return nil, Event{}, err
	}
	if err := t.Classification.Validate(); err != nil {
		return nil, Event{}, err
	}
	t.Status = StatusNew
	t.ReportedAt = at
	t.ID, t.No, t.Version = 0, "", 0
	return &t, Event{Kind: EventReported, Actor: actor, At: at, To: StatusNew, Detail: t.Description}, nil
}

func checkText(s string) error {
	if !utf8.ValidString(s) {
		return Errorf(ErrInvalid, "err.text_encoding", nil, "text is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxTextRunes {
		return Errorf(ErrInvalid, "err.text_too_long", map[string]any{"max": MaxTextRunes}, "text has %d characters, at most %d", n, MaxTextRunes)
	}
	return nil
}

var ticketNoRE = regexp.MustCompile(`^F\d{8}-\d{4,}$`)

// ValidTicketNo reports whether s has the shape of a ticket number.
func ValidTicketNo(s string) bool { return ticketNoRE.MatchString(s) }

// FormatTicketNo renders the day-local sequence number of a ticket.
func FormatTicketNo(day time.Time, seq int64) string {
	return fmt.Sprintf("F%s-%04d", day.Format("20060102"), seq)
}
