package bot

import (
	"context"
	"time"
)

// InboundEvent is one verified event from a chat channel. It is stored in the
// inbox before the channel is answered and stays there until it has been
// handled, so a crash after the answer loses nothing and a retried delivery
// is recognised by its ID.
type InboundEvent struct {
	ID         string // the Message.ID it parses to, e.g. "robot:<msgid>"; unique
	Source     string // the parser that reads Payload, e.g. "app", "robot", "robot_ws"
	Payload    []byte // the channel's decrypted payload as received
	ReceivedAt time.Time
	Attempts   int
	// Message is Payload parsed once, on arrival, with its reply route. It
	// is nil for an event stored or journaled before messages were kept
	// with their payload; such a payload is parsed when it is handled.
	Message *Message `json:",omitempty"`
}

// Inbox keeps inbound events from arrival until they are handled. Leases let
// several replicas share the backlog without handling an event twice at once.
type Inbox interface {
	// AddInbound stores events leased until leaseUntil (the replica that
	// received them handles them first), in one write where it can. It
	// returns one error per event: nil, ErrConflict for an ID already
	// stored, or the failure.
	AddInbound(ctx context.Context, leaseUntil time.Time, evs ...InboundEvent) []error
	// ClaimInbound leases up to limit unhandled events whose lease ended by
	// now, oldest first, and counts an attempt on each.
	ClaimInbound(ctx context.Context, now, leaseUntil time.Time, limit int) ([]InboundEvent, error)
	// InboundHandled marks events handled; they are never claimed again.
	InboundHandled(ctx context.Context, ids []string) error
	// InboundFailed records a failed attempt; the event is claimable again at
	// retryAt, or never when dead.
	InboundFailed(ctx context.Context, id, reason string, retryAt time.Time, dead bool) error
	// RenewInbound extends the lease of unhandled events a worker still holds.
	RenewInbound(ctx context.Context, ids []string, leaseUntil time.Time) error
	// ReleaseInbound ends the lease of unhandled events that were not
	// attempted (no room in the queue, shutdown): any replica may claim them
	// from at, and the claim that gave them out is not counted.
	ReleaseInbound(ctx context.Context, ids []string, at time.Time) error
	// PurgeInbound deletes events handled (or given up) with their lease
	// ended before before, and reports how many.
	PurgeInbound(ctx context.Context, before time.Time) (int64, error)
}

// Delivery is an outbox entry claimed for delivery.
type Delivery struct {
	ID        int64
	Message   Outgoing
	Attempts  int // including the current one
	CreatedAt time.Time
}

// Outbox holds outgoing messages until they are delivered. Messages usually
// enter it inside a TicketStore transaction (Effects.Messages); Enqueue is for
// those caused by no ticket change.
type Outbox interface {
	// Enqueue stores messages once per Key; a known Key is not an error.
	Enqueue(ctx context.Context, msgs ...Outgoing) error
	// ClaimDeliveries leases up to limit pending messages due by now, by
	// their Rule's rank then in the order they were queued, and counts an
	// attempt on each.
	ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]Delivery, error)
	// DeliverySent records success; the message is never sent again. ref is
	// the channel's reference (message id, response code) kept for later.
	DeliverySent(ctx context.Context, id int64, at time.Time, ref string) error
	// DeliveryRetry puts the message back for another attempt at next;
	// dest is the destination that failed it.
	DeliveryRetry(ctx context.Context, id int64, next time.Time, dest, reason string) error
	// DeliveryHeld puts the message back untried until next, its attempt
	// not counted: dest is over its rate limit or its breaker is open.
	DeliveryHeld(ctx context.Context, id int64, next time.Time, dest string) error
	// DeliveryFailed gives up on a message that can never be delivered.
	DeliveryFailed(ctx context.Context, id int64, reason string) error
	// DeliveryExpired drops a message its Rule says is of no use any more.
	DeliveryExpired(ctx context.Context, id int64, reason string) error
	// CoverPages drops the pending page and breach messages of the ticket
	// queued before message id, which was delivered; it returns how many.
	CoverPages(ctx context.Context, ticketNo string, id int64, reason string) (int64, error)
	// WakeDestination makes the messages held or retried for dest due at
	// now; it returns how many.
	WakeDestination(ctx context.Context, dest string, now time.Time) (int64, error)
}
