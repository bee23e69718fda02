package bot

import "time"

// PageRecord is one page of one person for one escalation step of a
// ticket: the phone call and SMS it caused are its attempts. Key names the
// step and the person, so every replica handling the step finds the same
// record, and its ID (short, for the providers' echoed ids) guards the call.
type PageRecord struct {
	ID        int64
	Key       string
	TicketNo  string
	UserID    string
	Level     int
	CreatedAt time.Time
}

// PageAttempt is one provider request of a page.
type PageAttempt struct {
	PageID    int64
	Provider  string
	Channel   string // "voice" or "sms"
	Outcome   string // "sent", "failed", "throttled", "rate_limited", "duplicate", "skipped"
	MessageID string // the provider's call or message id; receipts carry it
	Error     string
	At        time.Time
}

// PageReceipt is a call report or key press a provider pushed back, kept
// until handled.
type PageReceipt struct {
	ID         int64
	Provider   string
	CallID     string
	PageRef    string // the page id the provider echoed; empty if it echoes none
	Status     string // "answered", "no_answer", "busy", "failed", "throttled", "keypress", "progress"
	Code       string
	Digits     string
	At         time.Time
	ReceivedAt time.Time
}
