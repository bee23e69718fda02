package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"weibao/bot"
)

var _ bot.TicketStore = (*DB)(nil)

// errStale marks a lost optimistic-lock race inside a transaction.
var errStale = errors.New("stale ticket version")

// updateAttempts bounds how often UpdateTicket reloads after losing a race.
const updateAttempts = 4

// CreateTicket numbers t (F + local date + daily sequence) and stores it with fx.
func (db *DB) CreateTicket(ctx context.Context, t *bot.Ticket, fx bot.Effects) error {
	return db.CreateTicketFunc(ctx, t, func(*bot.Ticket) (bot.Effects, error) { return fx, nil })
}

// CreateTicketFunc numbers t and calls fn with the numbered ticket inside the
// creating transaction, storing t with fn's effects. fn renders messages
// that quote the new number (the nurse's reply, the engineer's page), so
// they are committed with the ticket. fn must not touch the database: load
// what it needs before (with SQLite the pool has one connection).
func (db *DB) CreateTicketFunc(ctx context.Context, t *bot.Ticket, fn func(t *bot.Ticket) (bot.Effects, error)) error {
	normalize(t)
	day := t.ReportedAt.In(db.loc)
	var stored bot.Ticket
	var fx bot.Effects
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		seq, err := db.nextSeq(tx, day.Format("20060102"))
		if err != nil {
			return err
		}
		c := *t
		c.No, c.Version = bot.FormatTicketNo(day, seq), 1
		if fx, err = fn(&c); err != nil {
			return err
		}
		normalize(&c)
		row := fromTicket(&c)
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("create ticket: %w", err)
		}
		c.ID = row.ID
		if fx.Events, err = writeEffects(tx, &c, fx, db.clock.Now()); err != nil {
			return err
		}
		stored = c
		return nil
	})
	if err != nil {
		return err
	}
	*t = stored
	db.publish(ctx, committed(&stored, nil, fx))
	return nil
}

// nextSeq bumps the day's counter and returns the new value. The upsert locks
// the counter's row until the transaction ends, so numbers never repeat.
func (db *DB) nextSeq(tx *gorm.DB, day string) (int64, error) {
	err := tx.Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "day"}},
		DoUpdates: clause.Assignments(map[string]any{"seq": gorm.Expr("seq + 1")}),
	}).Create(&ticketSeq{Day: day, Seq: 1}).Error
	if err != nil {
		return 0, fmt.Errorf("ticket number: %w", err)
	}
	q := tx.Where("day = ?", day)
	if db.driver == "mysql" {
		// A locking read sees the latest value, not the transaction's snapshot.
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var s ticketSeq
	if err := q.Take(&s).Error; err != nil {
		return 0, fmt.Errorf("ticket number: %w", err)
	}
	return s.Seq, nil
}

// Ticket returns the ticket numbered no.
func (db *DB) Ticket(ctx context.Context, no string) (*bot.Ticket, error) {
	return loadTicket(db.gdb.WithContext(ctx), no)
}

func loadTicket(tx *gorm.DB, no string) (*bot.Ticket, error) {
	var r ticketRow
	if err := tx.Where("no = ?", no).Take(&r).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, bot.Errorf(bot.ErrNotFound, "err.not_found", map[string]any{"no": no}, "ticket %s not found", no)
		}
		return nil, fmt.Errorf("load ticket %s: %w", no, err)
	}
	return r.toTicket(), nil
}

// UpdateTicket applies fn under the ticket's version (see bot.TicketStore).
func (db *DB) UpdateTicket(ctx context.Context, no string, fn func(t *bot.Ticket, timeline []bot.Event) (bot.Effects, error)) (*bot.Ticket, error) {
	for range updateAttempts {
		var out *bot.Ticket
		var timeline []bot.Event
		var fx bot.Effects
		err := db.transaction(ctx, func(tx *gorm.DB) error {
			t, err := loadTicket(tx, no)
			if err != nil {
				return err
			}
			if timeline, err = loadTimeline(tx, t.ID, no); err != nil {
				return err
			}
			if fx, err = fn(t, slices.Clip(timeline)); err != nil {
				return err
			}
			normalize(t)
			row := fromTicket(t)
			row.Version = t.Version + 1
			res := tx.Model(&ticketRow{}).Where("id = ? AND version = ?", t.ID, t.Version).
				Select("*").Omit("id", "no").Updates(&row)
			if res.Error != nil {
				return fmt.Errorf("update ticket %s: %w", no, res.Error)
			}
			if res.RowsAffected != 1 {
				return errStale
			}
			t.Version = row.Version
			if fx.Events, err = writeEffects(tx, t, fx, db.clock.Now()); err != nil {
				return err
			}
			out = t
			return nil
		})
		if errors.Is(err, errStale) {
			continue
		}
		if err == nil {
			c := *out
			db.publish(ctx, committed(&c, timeline, fx))
		}
		return out, err
	}
	return nil, bot.Errorf(bot.ErrConflict, "err.conflict", map[string]any{"no": no}, "ticket %s: changed concurrently %d times", no, updateAttempts)
}

// committed is what the feed hands on for a ticket write: the timeline it
// was made on followed by the new events as stored (writeEffects), and the
// count of messages queued.
func committed(t *bot.Ticket, before []bot.Event, fx bot.Effects) bot.Committed {
	all := append(slices.Clone(before), fx.Events...)
	return bot.Committed{Ticket: t, Timeline: all, Events: all[len(before):], Queued: len(fx.Messages)}
}

// writeEffects appends fx's events and queues its messages; it returns the
// events as stored (ids, number, the database's time precision).
func writeEffects(tx *gorm.DB, t *bot.Ticket, fx bot.Effects, now time.Time) ([]bot.Event, error) {
	stored := make([]bot.Event, len(fx.Events))
	if len(fx.Events) > 0 {
		rows := make([]eventRow, len(fx.Events))
		for i, e := range fx.Events {
			rows[i] = eventRow{TicketID: t.ID, TicketNo: t.No, Kind: string(e.Kind), Actor: e.Actor, At: ms(e.At),
				FromStatus: string(e.From), ToStatus: string(e.To), Detail: e.Detail, Clock: string(e.Clock)}
		}
		if err := tx.Create(&rows).Error; err != nil {
			return nil, fmt.Errorf("append events: %w", err)
		}
		for i := range rows {
			stored[i] = rows[i].toEvent()
		}
	}
	for _, m := range fx.Messages {
		m.TicketNo = t.No
		if m.Priority == "" {
			m.Priority = t.Priority
		}
		if err := enqueue(tx, m, now); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// enqueue writes m to the outbox once per key, due at now: a handler that
// runs twice queues the message once.
func enqueue(tx *gorm.DB, m bot.Outgoing, now time.Time) error {
	if m.Key == "" {
		return fmt.Errorf("enqueue: message without key")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("enqueue %s: %w", m.Key, err)
	}
	now = ms(now)
	row := outboxRow{Key: m.Key, TicketNo: m.TicketNo, Kind: string(m.Class()), QueueRank: m.Rule().Rank, Payload: string(b),
		Status: "pending", NextAttemptAt: now, CreatedAt: now}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return fmt.Errorf("enqueue %s: %w", m.Key, err)
	}
	return nil
}

// Timeline returns the ticket's events in the order they happened.
// One query finds the ticket's events by its number; every ticket has at
// least its reported event, so none means an unknown number.
func (db *DB) Timeline(ctx context.Context, no string) ([]bot.Event, error) {
	var rows []eventRow
	err := db.gdb.WithContext(ctx).Select("ticket_events.*").Joins("JOIN tickets ON tickets.id = ticket_events.ticket_id").
		Where("tickets.no = ?", no).Order("ticket_events.at, ticket_events.id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("timeline %s: %w", no, err)
	}
	if len(rows) == 0 {
		if _, err := db.Ticket(ctx, no); err != nil {
			return nil, err
		}
	}
	return toEvents(rows), nil
}

func loadTimeline(tx *gorm.DB, ticketID int64, no string) ([]bot.Event, error) {
	var rows []eventRow
	if err := tx.Where("ticket_id = ?", ticketID).Order("at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("timeline %s: %w", no, err)
	}
	return toEvents(rows), nil
}

func toEvents(rows []eventRow) []bot.Event {
	evs := make([]bot.Event, len(rows))
	for i := range rows {
		evs[i] = rows[i].toEvent()
	}
	return evs
}

// Tickets lists tickets matching f, most recent report first.
func (db *DB) Tickets(ctx context.Context, f bot.TicketFilter) ([]*bot.Ticket, error) {
	q := db.gdb.WithContext(ctx).Model(&ticketRow{})
	if len(f.Statuses) > 0 {
		q = q.Where("status IN ?", f.Statuses)
	}
	if len(f.Priorities) > 0 {
		q = q.Where("priority IN ?", f.Priorities)
	}
	for col, v := range map[string]string{"ward_code": f.WardCode, "category": f.Category, "assignee_id": f.AssigneeID, "reporter_id": f.ReporterID} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	if !f.From.IsZero() {
		q = q.Where("reported_at >= ?", ms(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("reported_at < ?", ms(f.To))
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit).Offset(f.Offset)
	}
	var rows []ticketRow
	if err := q.Order("reported_at DESC, id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	out := make([]*bot.Ticket, len(rows))
	for i := range rows {
		out[i] = rows[i].toTicket()
	}
	return out, nil
}

// normalize rounds the ticket's times as the database keeps them, so what a
// caller holds after a write equals what a later read returns.
func normalize(t *bot.Ticket) {
	for _, d := range []*time.Duration{&t.Late.Ack, &t.Late.Resolve, &t.Late.OnSite} {
		*d = d.Truncate(time.Millisecond)
	}
	for _, p := range []*time.Time{&t.ReportedAt, &t.AcknowledgedAt, &t.RemoteFailedAt, &t.OnSiteAt, &t.WorkaroundAt,
		&t.ResolvedAt, &t.ConfirmedAt, &t.ClosedAt, &t.Due.Ack, &t.Due.Resolve, &t.Due.OnSite, &t.PausedAt} {
		*p = ms(*p)
	}
}
