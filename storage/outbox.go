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

// Outbox states (the lead's rows start "pending"): failed can never be
// delivered, expired was dropped by its rule (bot.Rule: too old to be of
// use, or covered by a later page).
const (
	outboxPending = "pending"
	outboxSent    = "sent"
	outboxFailed  = "failed"
	outboxExpired = "expired"
)

// Enqueue stores messages caused by no ticket change, once per key.
func (db *DB) Enqueue(ctx context.Context, msgs ...bot.Outgoing) error {
	now := db.clock.Now()
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		for _, m := range msgs {
			if err := enqueue(tx, m, now); err != nil {
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

// ClaimDeliveries leases due pending messages, most urgent first (their
// rank), then in queue order. The lease is the next attempt time: a worker
// that dies mid-delivery leaves the message due again when the lease ends.
// Only due rows are read (idx_outbox_due), so a backlog waiting out a
// backoff or an open breaker costs the claim nothing.
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

// leaseRow is a queue row (inbox, outbox) that claimLeased can lease, in
// its claim order.
type leaseRow[T any] interface {
	*T
	lease() (id int64, attempts *int)
	claimOrder() string
}

func (r *inboxRow) lease() (int64, *int)  { return r.ID, &r.Attempts }
func (r *outboxRow) lease() (int64, *int) { return r.ID, &r.Attempts }
func (*inboxRow) claimOrder() string      { return "id" }
func (*outboxRow) claimOrder() string     { return "queue_rank, id" }

// claimLeased leases up to limit pending rows of T that are due by col (their
// lease or next attempt time), in T's claim order: col moves to until and
// attempts go up by one, in the database and in the rows returned.
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
	// A plain read finds the due rows first, outside a transaction: an idle
	// poll is one statement (a range of idx_outbox_due that reads no row,
	// however many wait) instead of a transaction's four round trips, and
	// the locking read below takes only the rows found, by primary key.
	due := func(q *gorm.DB) *gorm.DB {
		return q.Where("status = ? AND "+col+" <= ?", pending, ms(now))
	}
	var ids []int64
	if err := due(db.gdb.WithContext(ctx).Model(new(T))).Order(P(nil).claimOrder()).Limit(limit).Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
		return nil, err
	}
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		q := due(tx).Where("id IN ?", ids).Order(P(nil).claimOrder())
		if db.driver == "mysql" {
			// Replicas claiming together skip each other's rows instead of waiting.
			q = q.Clauses(clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"})
		}
		if err := q.Find(&rows).Error; err != nil || len(rows) == 0 {
			return err
		}
		ids = make([]int64, len(rows))
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

// DeliveryRetry puts a message back for another attempt at next; dest is
// the destination that failed it.
func (db *DB) DeliveryRetry(ctx context.Context, id int64, next time.Time, dest, reason string) error {
	return db.setDelivery(ctx, id, map[string]any{"next_attempt_at": ms(next), "dest": dest, "last_error": reason})
}

// DeliveryHeld puts a message back untried (an open breaker, a rate limit)
// until next: the claim's attempt is taken back.
func (db *DB) DeliveryHeld(ctx context.Context, id int64, next time.Time, dest string) error {
	return db.setDelivery(ctx, id, map[string]any{"next_attempt_at": ms(next), "dest": dest,
		"attempts": gorm.Expr("CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END")})
}

// DeliveryFailed gives up on a message.
func (db *DB) DeliveryFailed(ctx context.Context, id int64, reason string) error {
	return db.setDelivery(ctx, id, map[string]any{"status": outboxFailed, "last_error": reason})
}

// DeliveryExpired drops a message its rule says is of no use any more.
func (db *DB) DeliveryExpired(ctx context.Context, id int64, reason string) error {
	return db.setDelivery(ctx, id, map[string]any{"status": outboxExpired, "last_error": reason})
}

// CoverPages drops the ticket's pending page and breach messages queued
// before the message sent (id): the ticket's later step has reached
// someone. It returns how many it dropped.
func (db *DB) CoverPages(ctx context.Context, ticketNo string, id int64, reason string) (int64, error) {
	var n int64
	err := retry(ctx, func() error {
		res := db.gdb.WithContext(ctx).Model(&outboxRow{}).
			Where("ticket_no = ? AND status = ? AND id < ? AND kind IN ?", ticketNo, outboxPending, id,
				[]string{string(bot.KindPage), string(bot.KindBreach)}).
			Updates(map[string]any{"status": outboxExpired, "last_error": reason})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("cover pages of %s: %w", ticketNo, err)
	}
	return n, nil
}

// WakeDestination makes the messages waiting for dest due at now (its
// breaker closed); one statement over idx_outbox_dest.
func (db *DB) WakeDestination(ctx context.Context, dest string, now time.Time) (int64, error) {
	var n int64
	err := retry(ctx, func() error {
		res := db.gdb.WithContext(ctx).Model(&outboxRow{}).
			Where("dest = ? AND status = ? AND next_attempt_at > ?", dest, outboxPending, ms(now)).
			Update("next_attempt_at", ms(now))
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("wake %s: %w", dest, err)
	}
	return n, nil
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
	Kind      string // bot.Kind
	Status    string // pending, sent, failed or expired
	Attempts  int
	LastError string // for failed and expired, why
	Ref       string // the channel's reference once sent
	Dest      string // the destination that last failed or held it
	CreatedAt time.Time
}

func (r outboxRow) entry() OutboxEntry {
	return OutboxEntry{Key: r.Key, TicketNo: r.TicketNo, Kind: r.Kind, Status: r.Status, Attempts: r.Attempts,
		LastError: r.LastError, Ref: r.Ref, Dest: r.Dest, CreatedAt: r.CreatedAt.UTC()}
}

// OutboxEntries lists the messages a ticket queued, oldest first.
func (db *DB) OutboxEntries(ctx context.Context, ticketNo string) ([]OutboxEntry, error) {
	var rows []outboxRow
	if err := db.gdb.WithContext(ctx).Where("ticket_no = ?", ticketNo).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("outbox of %s: %w", ticketNo, err)
	}
	out := make([]OutboxEntry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
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
// not sent or got no code; a plain error (retried) while it is still queued;
// "" and no error when it expired unsent (covered by a later page): nobody
// sees it, so there is nothing to redraw.
func (db *DB) CardCode(ctx context.Context, no, taskID string) (string, error) {
	var rows []outboxRow
	err := db.gdb.WithContext(ctx).Where("ticket_no = ? AND status IN ?", no, []string{outboxSent, outboxPending, outboxExpired}).Order("id").Find(&rows).Error
	if err != nil {
		return "", fmt.Errorf("card %s of %s: %w", taskID, no, err)
	}
	for _, r := range rows {
		var m bot.Outgoing
		if json.Unmarshal([]byte(r.Payload), &m) != nil || m.Card == nil || m.Card.TaskID != taskID {
			continue
		}
		switch {
		case r.Status == outboxPending:
			// Still queued (behind a rate limit, say): the update waits for
			// it rather than giving up and leaving its buttons live.
			return "", fmt.Errorf("card %s of %s: not sent yet", taskID, no)
		case r.Status == outboxExpired:
			return "", nil
		case r.Ref != "":
			return r.Ref, nil
		}
	}
	return "", bot.Errorf(bot.ErrNotFound, "", nil, "card %s of %s: no response code", taskID, no)
}
