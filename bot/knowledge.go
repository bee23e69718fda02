package bot

import (
	"context"
	"strings"
	"time"
)

// KBStatus is where a knowledge-base entry stands: proposed from a resolved
// ticket, then approved (reviewed) by an engineer. Only approved entries are
// found by searches and offered to nurses.
type KBStatus string

const (
	KBProposed KBStatus = "proposed"
	KBApproved KBStatus = "approved"
)

// KBEntry is one knowledge-base entry (tender 二.5): how a fault of a
// category shows, why it happens and how it is fixed. FAQ entries are also
// offered to nurses while they report.
type KBEntry struct {
	ID       int64
	TicketNo string // the resolved ticket it was proposed from
	Category string // category code
	Symptom  string
	Cause    string
	Fix      string
	FAQ      bool
	Status   KBStatus
	// ReviewedAt is the last approval or edit; the tender wants the base
	// updated at least every six months, so an entry older than that is
	// listed to the lead.
	ProposedAt time.Time
	ReviewedAt time.Time
	ReviewedBy string
	Version    int // optimistic lock, bumped by every stored change
}

// KBEdit changes an entry; empty fields keep theirs.
type KBEdit struct {
	Category, Symptom, Cause, Fix string
}

// Empty reports whether the edit changes nothing.
func (e KBEdit) Empty() bool { return e == KBEdit{} }

// Validate checks an entry's text fields: masked, bounded, present.
func (e *KBEntry) Validate() error {
	e.Symptom, e.Cause, e.Fix = Mask(strings.TrimSpace(e.Symptom)), Mask(strings.TrimSpace(e.Cause)), Mask(strings.TrimSpace(e.Fix))
	for field, v := range map[string]string{"symptom": e.Symptom, "cause": e.Cause, "fix": e.Fix, "category": e.Category} {
		if v == "" {
			return Errorf(ErrInvalid, "kb.err.field", map[string]any{"field": field}, "knowledge entry: no %s", field)
		}
		if err := checkText(v); err != nil {
			return err
		}
	}
	switch e.Status {
	case KBProposed, KBApproved:
	default:
		return Errorf(ErrInvalid, "kb.err.field", map[string]any{"field": "status"}, "knowledge entry: status %q", e.Status)
	}
	return nil
}

// KBFilter selects entries; zero fields do not filter.
type KBFilter struct {
	Status         KBStatus
	FAQ            bool      // only FAQ entries
	ReviewedBefore time.Time // last reviewed before (the half-yearly review)
	Limit          int
}

// KnowledgeStore keeps the knowledge base (storage.DB). Messages are queued
// in the same transaction as the change that causes them.
type KnowledgeStore interface {
	// ProposeEntry stores e, one per ticket, with the messages msgs builds
	// from it once it has its id: a second proposal for the same ticket
	// stores nothing and reports false.
	ProposeEntry(ctx context.Context, e *KBEntry, msgs func(e *KBEntry) []Outgoing) (bool, error)
	// Entry returns ErrNotFound for an unknown id.
	Entry(ctx context.Context, id int64) (*KBEntry, error)
	// UpdateEntry loads the entry, calls fn and stores the result with fn's
	// messages, guarded by the entry's version.
	UpdateEntry(ctx context.Context, id int64, fn func(e *KBEntry) ([]Outgoing, error)) (*KBEntry, error)
	// Entries lists entries, newest first.
	Entries(ctx context.Context, f KBFilter) ([]KBEntry, error)
	// SearchEntries finds approved entries holding every word of words
	// (MySQL: FULLTEXT with the ngram parser where the server has it; LIKE
	// elsewhere).
	SearchEntries(ctx context.Context, words []string, f KBFilter) ([]KBEntry, error)
}
