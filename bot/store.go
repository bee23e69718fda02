package bot

import (
	"context"
	"time"
)

// Effects are written in the same transaction as a ticket change: the
// timeline events it appends and the messages it causes.
type Effects struct {
	Events   []Event
	Messages []Outgoing
}

// Committed is one committed write as the feed hands it to subscribers: the
// ticket as committed (nil when the write only queued messages), its whole
// timeline as committed, the events the transaction appended (the end of
// Timeline) and how many outbox messages it queued. A record write hands on
// the record and the record events it appended instead (Ticket nil).
type Committed struct {
	Ticket       *Ticket
	Timeline     []Event
	Events       []Event
	Queued       int
	Record       *Record
	RecordEvents []RecordEvent
}

// Has reports whether the write appended an event of kind k.
func (c Committed) Has(k EventKind) bool {
	for _, e := range c.Events {
		if e.Kind == k {
			return true
		}
	}
	return false
}

// TicketFilter selects tickets; zero fields do not filter.
type TicketFilter struct {
	Statuses   []Status
	Priorities []Priority
	WardCode   string
	Category   string
	AssigneeID string
	ReporterID string
	From, To   time.Time // reported in [From, To)
	Offset     int       // skip this many, newest first (with Limit: a page)
	Limit      int
}

// TicketStore keeps tickets and their timelines. The database is the truth.
type TicketStore interface {
	// CreateTicket assigns t its ID and number and stores it with fx in one
	// transaction; fx's events and messages get the number filled in.
	CreateTicket(ctx context.Context, t *Ticket, fx Effects) error
	// Ticket returns ErrNotFound for an unknown number.
	Ticket(ctx context.Context, no string) (*Ticket, error)
	// UpdateTicket loads the ticket and its timeline in one transaction, calls
	// fn on them and stores the result with fn's effects, guarded by the
	// ticket's version. When someone else changed the ticket in between, it
	// reloads and calls fn again, a few times, then returns ErrConflict. fn
	// must only change t through t.Step.
	UpdateTicket(ctx context.Context, no string, fn func(t *Ticket, timeline []Event) (Effects, error)) (*Ticket, error)
	Timeline(ctx context.Context, no string) ([]Event, error)
	Tickets(ctx context.Context, f TicketFilter) ([]*Ticket, error)
}

// Directory knows the roster, the wards and the fault categories.
type Directory interface {
	Person(ctx context.Context, userID string) (*Person, error)
	People(ctx context.Context, role Role) ([]Person, error)
	Ward(ctx context.Context, code string) (*Ward, error)
	WardByChat(ctx context.Context, chatID string) (*Ward, error)
	Wards(ctx context.Context) ([]Ward, error)
	Campus(ctx context.Context, code string) (*Campus, error)
	Categories(ctx context.Context) ([]Category, error)
}
