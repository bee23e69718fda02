package storage

import (
	"strings"
	"time"

	"weibao/bot"
)

// ticketRow is the tickets table. Indexes serve the open-ticket queries and
// the reports (by status, ward, category, assignee, report time).
type ticketRow struct {
	ID          int64  `gorm:"primaryKey"`
	No          string `gorm:"size:24;not null;uniqueIndex"`
	Version     int    `gorm:"not null"`
	Status      string `gorm:"size:16;not null;index:idx_tickets_status"`
	ReporterID  string `gorm:"size:64;not null;index"`
	WardCode    string `gorm:"size:32;not null;index:idx_tickets_ward,priority:1"`
	ChatID      string `gorm:"size:128"`
	Category    string `gorm:"size:32;not null;index:idx_tickets_category,priority:1"`
	Description string `gorm:"type:text"`
	Scope       string `gorm:"size:16;not null"`
	Type        string `gorm:"size:16;not null"`
	Severity    string `gorm:"size:16;not null"`
	Difficulty  string `gorm:"size:16;not null"`
	Emergency   bool
	Priority    string `gorm:"size:2;not null"`
	SLAClass    string `gorm:"column:sla_class;size:16;not null"`
	Urgent      bool
	AssigneeID  string `gorm:"size:64;index:idx_tickets_assignee"`

	ReportedAt      time.Time `gorm:"not null;index;index:idx_tickets_ward,priority:2;index:idx_tickets_category,priority:2"`
	AcknowledgedAt  *time.Time
	RemoteFailedAt  *time.Time
	OnSiteAt        *time.Time
	WorkaroundAt    *time.Time
	ResolvedAt      *time.Time `gorm:"index"`
	ConfirmedAt     *time.Time
	ClosedAt        *time.Time
	AckDueAt        *time.Time
	ResolveDueAt    *time.Time
	OnSiteDueAt     *time.Time
	AckLateMS       int64 `gorm:"column:ack_late_ms"`
	ResolveLateMS   int64 `gorm:"column:resolve_late_ms"`
	OnSiteLateMS    int64 `gorm:"column:on_site_late_ms"`
	PausedAt        *time.Time
	EscalationLevel int

	Workaround  string `gorm:"type:text"`
	Cause       string `gorm:"type:text"`
	Solution    string `gorm:"type:text"`
	MergedInto  string `gorm:"size:24"`
	ReopenCount int
	Rating      int
	Triage      bool `gorm:"not null;default:false"`
	UpdatedAt   time.Time
}

func (ticketRow) TableName() string { return "tickets" }

func fromTicket(t *bot.Ticket) ticketRow {
	return ticketRow{
		ID: t.ID, No: t.No, Version: t.Version, Status: string(t.Status), ReporterID: t.ReporterID,
		WardCode: t.WardCode, ChatID: t.ChatID, Category: t.Category, Description: t.Description,
		Scope: string(t.Scope), Type: string(t.Type), Severity: string(t.Severity), Difficulty: string(t.Difficulty),
		Emergency: t.Emergency, Priority: string(t.Priority), SLAClass: t.SLAClass, Urgent: t.Urgent,
		AssigneeID: t.AssigneeID, ReportedAt: ms(t.ReportedAt),
		AcknowledgedAt: nullTime(t.AcknowledgedAt), RemoteFailedAt: nullTime(t.RemoteFailedAt),
		OnSiteAt: nullTime(t.OnSiteAt), WorkaroundAt: nullTime(t.WorkaroundAt), ResolvedAt: nullTime(t.ResolvedAt),
		ConfirmedAt: nullTime(t.ConfirmedAt), ClosedAt: nullTime(t.ClosedAt),
		AckDueAt: nullTime(t.Due.Ack), ResolveDueAt: nullTime(t.Due.Resolve), OnSiteDueAt: nullTime(t.Due.OnSite),
		AckLateMS: t.Late.Ack.Milliseconds(), ResolveLateMS: t.Late.Resolve.Milliseconds(),
		OnSiteLateMS: t.Late.OnSite.Milliseconds(), PausedAt: nullTime(t.PausedAt), EscalationLevel: t.EscalationLevel,
		Workaround: t.Workaround, Cause: t.Cause, Solution: t.Solution, MergedInto: t.MergedInto,
		ReopenCount: t.ReopenCount, Rating: t.Rating, Triage: t.Triage,
	}
}

func (r *ticketRow) toTicket() *bot.Ticket {
	return &bot.Ticket{
		ID: r.ID, No: r.No, Version: r.Version, Status: bot.Status(r.Status), ReporterID: r.ReporterID,
		WardCode: r.WardCode, ChatID: r.ChatID, Category: r.Category, Description: r.Description,
		Classification: bot.Classification{
			Scope: bot.Scope(r.Scope), Type: bot.FaultType(r.Type), Severity: bot.Severity(r.Severity),
			Difficulty: bot.Difficulty(r.Difficulty), Emergency: r.Emergency, Priority: bot.Priority(r.Priority),
			SLAClass: r.SLAClass, Urgent: r.Urgent,
		},
		AssigneeID: r.AssigneeID, ReportedAt: r.ReportedAt.UTC(),
		AcknowledgedAt: fromNull(r.AcknowledgedAt), RemoteFailedAt: fromNull(r.RemoteFailedAt),
		OnSiteAt: fromNull(r.OnSiteAt), WorkaroundAt: fromNull(r.WorkaroundAt), ResolvedAt: fromNull(r.ResolvedAt),
		ConfirmedAt: fromNull(r.ConfirmedAt), ClosedAt: fromNull(r.ClosedAt),
		Due: bot.Deadlines{Ack: fromNull(r.AckDueAt), Resolve: fromNull(r.ResolveDueAt), OnSite: fromNull(r.OnSiteDueAt)},
		Late: bot.Late{Ack: time.Duration(r.AckLateMS) * time.Millisecond, Resolve: time.Duration(r.ResolveLateMS) * time.Millisecond,
			OnSite: time.Duration(r.OnSiteLateMS) * time.Millisecond},
		PausedAt: fromNull(r.PausedAt), EscalationLevel: r.EscalationLevel,
		Workaround: r.Workaround, Cause: r.Cause, Solution: r.Solution, MergedInto: r.MergedInto,
		ReopenCount: r.ReopenCount, Rating: r.Rating, Triage: r.Triage,
	}
}

// eventRow is the append-only timeline. Nothing updates or deletes its rows.
type eventRow struct {
	ID         int64     `gorm:"primaryKey"`
	TicketID   int64     `gorm:"not null;index:idx_events_ticket,priority:1"`
	TicketNo   string    `gorm:"size:24;not null"`
	Kind       string    `gorm:"size:24;not null;index:idx_events_kind,priority:1"`
	Actor      string    `gorm:"size:64;not null"`
	At         time.Time `gorm:"not null;index:idx_events_ticket,priority:2;index:idx_events_kind,priority:2"`
	FromStatus string    `gorm:"size:16"`
	ToStatus   string    `gorm:"size:16"`
	Detail     string    `gorm:"type:text"`
	Clock      string    `gorm:"size:8"`
}

func (eventRow) TableName() string { return "ticket_events" }

func (r *eventRow) toEvent() bot.Event {
	return bot.Event{ID: r.ID, TicketNo: r.TicketNo, Kind: bot.EventKind(r.Kind), Actor: r.Actor, At: r.At.UTC(),
		From: bot.Status(r.FromStatus), To: bot.Status(r.ToStatus), Detail: r.Detail, Clock: bot.SLAClock(r.Clock)}
}

// ticketSeq counts tickets per local day for their human-readable numbers.
type ticketSeq struct {
	Day string `gorm:"primaryKey;size:8"`
	Seq int64  `gorm:"not null"`
}

func (ticketSeq) TableName() string { return "ticket_seqs" }

type personRow struct {
	UserID   string `gorm:"primaryKey;size:64"`
	Name     string `gorm:"size:64"`
	Role     string `gorm:"size:16;not null;index"`
	Mobile   string `gorm:"size:20"`
	WardCode string `gorm:"size:32"`
	Active   bool   `gorm:"not null"`
	// Source is where the person came from: sourceConfig (people: in the
	// configuration, hand-written) or sourceWeCom (a ward's WeCom department).
	// Each sync deactivates only its own people.
	Source    string `gorm:"size:16;not null;default:config"`
	UpdatedAt time.Time
}

const (
	sourceConfig = "config"
	sourceWeCom  = "wecom"
)

func (personRow) TableName() string { return "people" }

func (r *personRow) toPerson() bot.Person {
	return bot.Person{UserID: r.UserID, Name: r.Name, Role: bot.Role(r.Role), Mobile: r.Mobile, WardCode: r.WardCode, Active: r.Active}
}

type campusRow struct {
	Code string `gorm:"primaryKey;size:32"`
	Name string `gorm:"size:64"`
	Lat  float64
	Lng  float64
}

func (campusRow) TableName() string { return "campuses" }

type wardRow struct {
	Code       string `gorm:"primaryKey;size:32"`
	Name       string `gorm:"size:64;not null"`
	CampusCode string `gorm:"size:32"`
	ChatID     string `gorm:"size:128;index"`
	Active     bool   `gorm:"not null"`
}

func (wardRow) TableName() string { return "wards" }

func (r *wardRow) toWard() bot.Ward {
	return bot.Ward{Code: r.Code, Name: r.Name, CampusCode: r.CampusCode, ChatID: r.ChatID}
}

type categoryRow struct {
	Code       string `gorm:"primaryKey;size:32"`
	Name       string `gorm:"size:64;not null"`
	Type       string `gorm:"size:16;not null"`
	Difficulty string `gorm:"size:16;not null"`
	Keywords   string `gorm:"type:text"` // joined by "|"
	SelfHelp   string `gorm:"type:text"`
	Sort       int
	Active     bool `gorm:"not null"`
}

func (categoryRow) TableName() string { return "categories" }

func (r *categoryRow) toCategory() bot.Category {
	var kw []string
	if r.Keywords != "" {
		kw = strings.Split(r.Keywords, "|")
	}
	return bot.Category{Code: r.Code, Name: r.Name, Type: bot.FaultType(r.Type), Difficulty: bot.Difficulty(r.Difficulty),
		Keywords: kw, SelfHelp: r.SelfHelp, Sort: r.Sort}
}

// outboxRow is a message waiting for, or done with, delivery. It is written in
// the same transaction as the change that caused it (architecture invariant 4).
type outboxRow struct {
	ID            int64     `gorm:"primaryKey"`
	Key           string    `gorm:"size:191;not null;uniqueIndex"`
	TicketNo      string    `gorm:"size:24;index"`
	Payload       string    `gorm:"type:text;not null"` // JSON of bot.Outgoing
	Status        string    `gorm:"size:12;not null;index:idx_outbox_due,priority:1;index:idx_outbox_dest,priority:2"`
	Attempts      int       `gorm:"not null"`
	NextAttemptAt time.Time `gorm:"not null;index:idx_outbox_due,priority:2"`
	LastError     string    `gorm:"type:text"`
	// Ref is the channel's reference for a sent message (msgid, card response code).
	Ref       string `gorm:"size:191"`
	CreatedAt time.Time
	SentAt    *time.Time
	// Kind and Rank are the message's bot.Rule at queueing (the claim's
	// order); Dest is the breaker's destination, known once an attempt
	// failed or was held by an open breaker (so a recovery wakes its rows).
	Kind      string `gorm:"size:12;not null;default:''"`
	QueueRank int    `gorm:"not null;default:0"`
	Dest      string `gorm:"size:191;not null;default:'';index:idx_outbox_dest,priority:1"`
}

func (outboxRow) TableName() string { return "outbox" }
