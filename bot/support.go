package bot

import "time"

// QueuedMessage is an outbox row as support sees it: where it goes and how
// its delivery stands, never its text (fault text, one-time codes).
type QueuedMessage struct {
	ID          int64
	Key         string
	TicketNo    string
	Kind        string // the message's class (bot.Outgoing.Class)
	Status      string // pending, failed or expired
	ToUsers     []string
	ToChat      string
	Format      Format
	HasFile     bool
	Attempts    int
	LastError   string
	NextAttempt time.Time
	Created     time.Time
}
