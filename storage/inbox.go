package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"weibao/bot"
)

// inboxRow is an inbound event from a chat channel, kept from before the
// channel is answered until it is handled (bot.Inbox).
type inboxRow struct {
	ID         int64     `gorm:"primaryKey"`
	MsgID      string    `gorm:"size:191;not null;uniqueIndex"`
	Source     string    `gorm:"size:16;not null"`
	Payload    []byte    `gorm:"type:mediumblob;not null"`
	Message    []byte    `gorm:"type:mediumblob"` // the payload parsed on arrival, as JSON; NULL if stored before 0006
	Status     string    `gorm:"size:8;not null;index:idx_inbox_due,priority:1"`
	LeaseUntil time.Time `gorm:"not null;index:idx_inbox_due,priority:2"`
	Attempts   int       `gorm:"not null"`
	LastError  string    `gorm:"size:512"`
	ReceivedAt time.Time `gorm:"not null"`
	HandledAt  *time.Time
}

func (inboxRow) TableName() string { return "inbox" }

func migrateWeComMailbox(tx *gorm.DB) error {
	return tx.AutoMigrate(&inboxRow{})
}

// migrateInboxMessage keeps each event's parsed message (and with it the
// reply route) beside its payload. A database created since has the column
// from 0002 already.
func migrateInboxMessage(tx *gorm.DB) error {
	if tx.Migrator().HasColumn(&inboxRow{}, "Message") {
		return nil
	}
	return tx.Migrator().AddColumn(&inboxRow{}, "Message")
}

var _ bot.Inbox = (*DB)(nil)

// Inbox states.
const (
	inboxPending = "pending"
	inboxDone    = "done"
	inboxDead    = "dead"
)

// AddInbound stores events in one INSERT; when one of them is already
// stored it falls back to one INSERT each to tell which. The statement is
// written out rather than built by gorm: this is the one write on the path
// of every callback, and gorm's reflection and RETURNING cost more than the
// database's own work for it.
func (db *DB) AddInbound(ctx context.Context, leaseUntil time.Time, evs ...bot.InboundEvent) []error {
	errs := make([]error, len(evs))
	err := db.insertInbound(ctx, leaseUntil, evs)
	if err == nil {
		return errs
	}
	if len(evs) == 1 || !errors.Is(err, bot.ErrConflict) {
		for i := range errs {
			errs[i] = fmt.Errorf("add inbound %s: %w", evs[i].ID, err)
		}
		return errs
	}
	for i := range evs {
		if err := db.insertInbound(ctx, leaseUntil, evs[i:i+1]); err != nil {
			errs[i] = fmt.Errorf("add inbound %s: %w", evs[i].ID, err)
		}
	}
	return errs
}

const inboxInsert = "INSERT INTO inbox (msg_id, source, payload, message, status, lease_until, attempts, last_error, received_at) VALUES "

func (db *DB) insertInbound(ctx context.Context, leaseUntil time.Time, evs []bot.InboundEvent) error {
	var q strings.Builder
	q.Grow(len(inboxInsert) + len(evs)*18)
	q.WriteString(inboxInsert)
	args := make([]any, 0, len(evs)*9)
	for i, ev := range evs {
		if i > 0 {
			q.WriteByte(',')
		}
		var msg []byte // NULL without a message
		if ev.Message != nil {
			var err error
			if msg, err = json.Marshal(ev.Message); err != nil {
				return fmt.Errorf("message of %s: %w", ev.ID, err)
			}
		}
		q.WriteString("(?,?,?,?,?,?,?,?,?)")
		args = append(args, ev.ID, ev.Source, ev.Payload, msg, inboxPending, ms(leaseUntil), ev.Attempts, "", ms(ev.ReceivedAt))
	}
	return translate(db.gdb.WithContext(ctx).Exec(q.String(), args...).Error)
}

// ClaimInbound leases pending events whose lease has ended, oldest first.
func (db *DB) ClaimInbound(ctx context.Context, now, leaseUntil time.Time, limit int) ([]bot.InboundEvent, error) {
	rows, err := claimLeased[inboxRow](ctx, db, "lease_until", inboxPending, now, leaseUntil, limit)
	if err != nil {
		return nil, fmt.Errorf("claim inbound: %w", err)
	}
	evs := make([]bot.InboundEvent, len(rows))
	for i, r := range rows {
		evs[i] = r.toDomain()
	}
	return evs, nil
}

// InboundHandled marks events handled and drops their payload and message:
// they carry nurses' and patients' words, which the tickets keep where they
// are needed; the row stays as the dedupe key until PurgeInbound.
func (db *DB) InboundHandled(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.gdb.WithContext(ctx).Model(&inboxRow{}).Where("msg_id IN ?", ids).
		Updates(map[string]any{"status": inboxDone, "handled_at": ms(time.Now()), "payload": []byte{}, "message": nil}).Error
	if err != nil {
		return fmt.Errorf("inbound handled: %w", err)
	}
	return nil
}

// InboundFailed records a failed attempt and when to try again.
func (db *DB) InboundFailed(ctx context.Context, id, reason string, retryAt time.Time, dead bool) error {
	status := inboxPending
	if dead {
		status = inboxDead
	}
	if len(reason) > 500 {
		reason = reason[:500]
	}
	err := db.gdb.WithContext(ctx).Model(&inboxRow{}).Where("msg_id = ? AND status = ?", id, inboxPending).
		Updates(map[string]any{"status": status, "lease_until": ms(retryAt), "last_error": reason}).Error
	if err != nil {
		return fmt.Errorf("inbound failed %s: %w", id, err)
	}
	return nil
}

// RenewInbound extends the lease of pending events.
func (db *DB) RenewInbound(ctx context.Context, ids []string, leaseUntil time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.gdb.WithContext(ctx).Model(&inboxRow{}).Where("msg_id IN ? AND status = ?", ids, inboxPending).
		Update("lease_until", ms(leaseUntil)).Error
	if err != nil {
		return fmt.Errorf("renew inbound: %w", err)
	}
	return nil
}

// ReleaseInbound makes pending events claimable from at, uncounting the
// attempt their claim (or AddInbound) counted.
func (db *DB) ReleaseInbound(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := db.gdb.WithContext(ctx).Model(&inboxRow{}).Where("msg_id IN ? AND status = ?", ids, inboxPending).
		Updates(map[string]any{"lease_until": ms(at), "attempts": gorm.Expr("CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END")}).Error
	if err != nil {
		return fmt.Errorf("release inbound: %w", err)
	}
	return nil
}

// PurgeInbound deletes handled and dead events whose lease ended before
// before, a batch at a time so no statement holds many locks; it walks the
// due index (a handled row's lease ended about when it was handled).
func (db *DB) PurgeInbound(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	for {
		var ids []int64
		err := db.gdb.WithContext(ctx).Model(&inboxRow{}).Where("status IN ? AND lease_until < ?", []string{inboxDone, inboxDead}, ms(before)).
			Limit(1000).Pluck("id", &ids).Error
		if err == nil && len(ids) > 0 {
			res := db.gdb.WithContext(ctx).Where("id IN ?", ids).Delete(&inboxRow{})
			err, n = res.Error, n+res.RowsAffected
		}
		if err != nil {
			return n, fmt.Errorf("purge inbound: %w", err)
		}
		if len(ids) < 1000 {
			return n, nil
		}
	}
}

// InboundEvent returns a stored event; ErrNotFound if there is none.
func (db *DB) InboundEvent(ctx context.Context, id string) (*bot.InboundEvent, error) {
	var r inboxRow
	if err := db.gdb.WithContext(ctx).Where("msg_id = ?", id).Take(&r).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, fmt.Errorf("inbound %s: %w", id, bot.ErrNotFound)
		}
		return nil, fmt.Errorf("inbound %s: %w", id, err)
	}
	ev := r.toDomain()
	return &ev, nil
}

// toDomain reads the row; a message that does not decode is left out, so
// the event is handled from its payload (as rows stored before messages
// were) rather than failing every claim.
func (r inboxRow) toDomain() bot.InboundEvent {
	ev := bot.InboundEvent{ID: r.MsgID, Source: r.Source, Payload: r.Payload, ReceivedAt: r.ReceivedAt.UTC(), Attempts: r.Attempts}
	if len(r.Message) > 0 {
		var m bot.Message
		if json.Unmarshal(r.Message, &m) == nil {
			ev.Message = &m
		}
	}
	return ev
}
