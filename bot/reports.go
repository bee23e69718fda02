package bot

import (
	"context"
	"time"
)

// This file holds the vocabulary shared by the reports (bot/report), the
// database aggregates that feed them (storage) and the scheduler's run
// history, so that neither side imports the other.

// Span is the half-open interval [From, To).
type Span struct{ From, To time.Time }

// Dimension is a ticket attribute reports group by.
type Dimension string

const (
	DimAll      Dimension = ""         // one group holding every ticket
	DimCategory Dimension = "category" // Ticket.Category
	DimType     Dimension = "type"     // Classification.Type
	DimScope    Dimension = "scope"    // Classification.Scope
	DimWard     Dimension = "ward"     // Ticket.WardCode
	DimPriority Dimension = "priority" // Classification.Priority
)

// Cohort selects which tickets a count is about.
type Cohort string

const (
	CohortReported Cohort = "reported" // reported in the span
	CohortResolved Cohort = "resolved" // resolved in the span
	CohortOpen     Cohort = "open"     // still open at the span's end
)

// Count is the number of tickets of one ward and priority.
type Count struct {
	WardCode string
	Priority Priority
	N        int
}

// ClockStats count one SLA clock's outcomes: Due clocks had a deadline that
// has passed or were stopped; Met stopped on or before their deadline.
type ClockStats struct{ Met, Due int }

// Compliance holds the outcome of the three SLA clocks.
type Compliance struct{ Ack, Resolve, OnSite ClockStats }

// GroupStats aggregate one group of tickets. Percentiles are nearest-rank
// over the tickets that have the time (acknowledged, resolved).
type GroupStats struct {
	Key        string
	Count      int
	Resolved   int
	AckP50     time.Duration
	AckP90     time.Duration
	ResolveP50 time.Duration
	ResolveP90 time.Duration
	SLA        Compliance
}

// Fix is one solution engineers recorded for a category, with how often.
type Fix struct {
	Category string
	Solution string
	N        int
}

// Breach is one SLA clock that ran past its deadline. Stop is zero while
// the clock still runs.
type Breach struct {
	TicketNo   string
	WardCode   string
	Priority   Priority
	AssigneeID string
	Clock      SLAClock
	Due, Stop  time.Time
}

// Analysis states.
const (
	AnalysisPending  = "pending"
	AnalysisComplete = "complete"
)

// FaultAnalysis is the engineer's part of a fault analysis report (tender
// 二.3): asked after a department-level, hospital-wide or P1 fault is resolved.
type FaultAnalysis struct {
	TicketNo   string
	EngineerID string
	Status     string
	Cause      string // 原因分析
	Impact     string // 故障影响范围
	Conclusion string // 总结与预防措施
	OpenedAt   time.Time
	DueAt      time.Time
	RemindedAt time.Time
	Reminders  int
	DoneAt     time.Time
}

// NeedsAnalysis reports whether a resolved ticket calls for a fault analysis
// report: department or hospital scope, or P1.
func NeedsAnalysis(t *Ticket) bool {
	return t.Scope == ScopeDepartment || t.Scope == ScopeHospital || t.Priority == P1
}

// StoredFile is a generated document kept for delivery or download.
type StoredFile struct {
	FileRef
	Data      []byte
	CreatedAt time.Time
}

// Files keeps generated documents referenced by outgoing messages.
type Files interface {
	PutFile(ctx context.Context, name string, data []byte) (FileRef, error)
	// File returns ErrNotFound for an unknown id.
	File(ctx context.Context, id int64) (*StoredFile, error)
}

// JobRun is one execution of a scheduled job.
type JobRun struct {
	ID        int64
	Job       string
	Scheduled time.Time // the cron time it ran for
	Replica   string
	Started   time.Time
	Ended     time.Time // zero while running
	Result    string    // "running", "ok", "error", "skipped"
	Error     string
}
