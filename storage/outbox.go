package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"weibao/bot"
)

// PendingOutbox counts messages not yet delivered.
func (db *DB) PendingOutbox(ctx context.Context) (int64, error) {
	var n int64
	if err := db.gdb.WithContext(ctx).Model(&outboxRow{}).Where("status = ?", outboxPending).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

var _ bot.Outbox = (*DB)(nil)

// Outbox states (the lead's rows start "pending").
const (
	outboxPending = "pending"
	outboxSent    = "sent"
	outboxFailed  = "failed"
)

// Enqueue stores messages caused by no ticket change, once per key.
func (db *DB) Enqueue(ctx context.Context, msgs ...bot.Outgoing) error {
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		for _, m := range msgs {
			if err := enqueue(tx, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		db.publish(ctx, bot.Committed{Queued: len(msgs)})
	}
	return err
}

// ClaimDeliveries leases due pending messages in queue order. The lease is
// the next attempt time: a worker that dies mid-delivery leaves the message
// due again when the lease ends.
func (db *DB) ClaimDeliveries(ctx context.Context, now, leaseUntil time.Time, limit int) ([]bot.Delivery, error) {
	rows, err := claimLeased[outboxRow](ctx, db, "next_attempt_at", outboxPending, now, leaseUntil, limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	out := make([]bot.Delivery, 0, len(rows))
	for _, r := range rows {
		var m bot.Outgoing
		if err := json.Unmarshal([]byte(r.Payload), &m); err != nil {
			db.DeliveryFailed(ctx, r.ID, "payload: "+err.Error())
			continue
		}
		out = append(out, bot.Delivery{ID: r.ID, Message: m, Attempts: r.Attempts, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// leaseRow is a queue row (inbox, outbox) that claimLeased can lease.
type leaseRow[T any] interface {
	*T
	lease() (id int64, attempts *int)
}

func (r *inboxRow) lease() (int64, *int)  { return r.ID, &r.Attempts }
func (r *outboxRow) lease() (int64, *int) { return r.ID, &r.Attempts }

// claimLeased leases up to limit pending rows of T that are due by col (their
// lease or next attempt time), oldest first: col moves to until and attempts
// go up by one, in the database and in the rows returned.
func claimLeased[T any, P leaseRow[T]](ctx context.Context, db *DB, col, pending string, now, until time.Time, limit int) ([]T, error) {
	var rows []T
	// Under MySQL's default REPEATABLE READ the locking read keeps a lock on
	// every row and gap it scans (sent rows included) until commit, which
	// blocks and deadlocks inserts into the due index; READ COMMITTED takes
	// no gap locks and releases the rows the WHERE rejects, so a claim holds
	// only the rows it leases. The locking read still sees the latest rows.
	var opts *sql.TxOptions
	if db.driver == "mysql" {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		q := tx.Where("status = ? AND "+col+" <= ?", pending, ms(now)).Order("id").Limit(limit)
		if db.driver == "mysql" {
			// Replicas claiming together skip each other's rows instead of waiting.
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Find(&rows).Error; err != nil || len(rows) == 0 {
			return err
		}
		ids := make([]int64, len(rows))
		for i := range rows {
			id, attempts := P(&rows[i]).lease()
			ids[i] = id
			*attempts++
		}
		return tx.Model(new(T)).Where("id IN ?", ids).
			Updates(map[string]any{col: ms(until), "attempts": gorm.Expr("attempts + 1")}).Error
	}, opts)
	return rows, err
}

// DeliverySent records a delivered message with the channel's reference.
func (db *DB) DeliverySent(ctx context.Context, id int64, at time.Time, ref string) error {
	return db.setDelivery(ctx, id, map[string]any{"status": outboxSent, "sent_at": ms(at), "ref": ref, "last_error": ""})
}

// DeliveryRetry puts a message back for another attempt at next.
func (db *DB) DeliveryRetry(ctx context.Context, id int64, next time.Time, reason string) error {
	return db.setDelivery(ctx, id, map[string]any{"next_attempt_at": ms(next), "last_error": reason})
}

// DeliveryFailed gives up on a message.
func (db *DB) DeliveryFailed(ctx context.Context, id int64, reason string) error {
	return db.setDelivery(ctx, id, map[string]any{"status": outboxFailed, "last_error": reason})
}

func (db *DB) setDelivery(ctx context.Context, id int64, set map[string]any) error {
	// Only a pending row changes: a late worker never undoes a success. A
	// deadlock is retried here, not left to the lease: a row whose success
	// was not recorded is claimed and sent again.
	err := retry(ctx, func() error {
		return db.gdb.WithContext(ctx).Model(&outboxRow{}).Where("id = ? AND status = ?", id, outboxPending).Updates(set).Error
	})
	if err != nil {
		return fmt.Errorf("outbox %d: %w", id, err)
	}
	return nil
}

// OutboxEntry is one outbox row as an operator reads it.
type OutboxEntry struct {
	Key       string
	TicketNo  string
	Status    string // pending, sent or failed
	Attempts  int
	LastError string
	Ref       string // the channel's reference once sent
}

// OutboxEntries lists the messages a ticket queued, oldest first.
func (db *DB) OutboxEntries(ctx context.Context, ticketNo string) ([]OutboxEntry, error) {
	var rows []outboxRow
	if err := db.gdb.WithContext(ctx).Where("ticket_no = ?", ticketNo).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", ticketNo, err)
	}
	out := make([]OutboxEntry, len(rows))
	for i, r := range rows {
		out[i] = OutboxEntry{Key: r.Key, TicketNo: r.TicketNo, Status: r.Status, Attempts: r.Attempts, LastError: r.LastError, Ref: r.Ref}
	}
	return out, nil
}

// RedrawableCards lists the app cards (1:1, so WeCom gives a response code)
// of ticket no that are still pending or were sent since the given time (a
// code lives 72 h), in queue order, whose message/send code no typed command
// has used yet (no earlier update of the card that answers no click). The
// ticket's rows are few, so they are filtered here rather than in SQL.
func (db *DB) RedrawableCards(ctx context.Context, no string, since time.Time) ([]bot.Outgoing, error) {
	var rows []outboxRow
	if err := db.gdb.WithContext(ctx).Where("ticket_no = ? AND status <> ?", no, outboxFailed).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("cards of %s: %w", no, err)
	}
	var cards []bot.Outgoing
	redrawn := map[string]bool{}
	for _, r := range rows {
		var m bot.Outgoing
		if json.Unmarshal([]byte(r.Payload), &m) != nil {
			continue
		}
		switch {
		case m.CardUpdate != nil && m.ReplyTo == "":
			redrawn[m.CardUpdate.TaskID] = true
		case m.Card != nil && len(m.ToUsers) > 0 && m.ToChat == "" &&
			(r.Status == outboxPending || r.SentAt != nil && !r.SentAt.Before(since)):
			cards = append(cards, m)
		}
	}
	out := cards[:0]
	for _, c := range cards {
		if !redrawn[c.Card.TaskID] {
			out = append(out, c)
		}
	}
	return out, nil
}

// CardCode returns the response code message/send gave for the card with
// taskID on ticket no (the sent row's ref); ErrNotFound when that card was
// not sent or got no code.
func (db *DB) CardCode(ctx context.Context, no, taskID string) (string, error) {
	var rows []outboxRow
	err := db.gdb.WithContext(ctx).Where("ticket_no = ? AND status = ? AND ref <> ''", no, outboxSent).Order("id").Find(&rows).Error
	if err != nil {
		return "", fmt.Errorf("card %s of %s: %w", taskID, no, err)
	}
	for _, r := range rows {
		var m bot.Outgoing
		if json.Unmarshal([]byte(r.Payload), &m) == nil && m.Card != nil && m.Card.TaskID == taskID {
			return r.Ref, nil
		}
	}
	return "", bot.Errorf(bot.ErrNotFound, "", nil, "card %s of %s: no response code", taskID, no)
}
