package storage

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"weibao/bot"
)

// Linked reporters are kept on the timeline itself: a "linked" event whose
// actor is the nurse who reported the same fault again and whose detail is
// her user id. The timeline is append-only and written in the change's
// transaction, so the list of people to tell about a resolution can never
// disagree with the ticket's history, and no table of its own is needed.

// CreateTicketFunc numbers t and calls fn with the numbered ticket inside the
// creating transaction, storing t with fn's effects. fn renders messages
// that quote the new number (the nurse's reply, the engineer's page), so
// they are committed with the ticket. fn must not touch the database: load
// what it needs before (with SQLite the pool has one connection).
func (db *DB) CreateTicketFunc(ctx context.Context, t *bot.Ticket, fn func(t *bot.Ticket) (bot.Effects, error)) error {
	normalize(t)
	day := t.ReportedAt.In(db.loc)
	var stored bot.Ticket
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		seq, err := db.nextSeq(tx, day.Format("20060102"))
		if err != nil {
			return err
		}
		c := *t
		c.No, c.Version = bot.FormatTicketNo(day, seq), 1
		fx, err := fn(&c)
		if err != nil {
			return err
		}
		normalize(&c)
		row := fromTicket(&c)
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("create ticket: %w", err)
		}
		c.ID = row.ID
		if err := writeEffects(tx, &c, fx); err != nil {
			return err
		}
		stored = c
		return nil
	})
	if err != nil {
		return err
	}
	*t = stored
	return nil
}

// Reporters returns the ticket's reporter followed by everyone linked to it,
// each once, in the order they reported.
func (db *DB) Reporters(ctx context.Context, no string) ([]string, error) {
	t, err := db.Ticket(ctx, no)
	if err != nil {
		return nil, err
	}
	var linked []string
	err = db.gdb.WithContext(ctx).Model(&eventRow{}).Where("ticket_id = ? AND kind = ?", t.ID, string(bot.EventLinked)).
		Order("at, id").Pluck("detail", &linked).Error
	if err != nil {
		return nil, fmt.Errorf("reporters %s: %w", no, err)
	}
	out := []string{t.ReporterID}
	for _, u := range linked {
		if u != "" && !contains(out, u) {
			out = append(out, u)
		}
	}
	return out, nil
}

// ReportedTickets lists the tickets userID reported or was linked to, in
// the given statuses (all when none), most recent first.
func (db *DB) ReportedTickets(ctx context.Context, userID string, statuses ...bot.Status) ([]*bot.Ticket, error) {
	linked := db.gdb.WithContext(ctx).Model(&eventRow{}).Select("ticket_id").
		Where("kind = ? AND detail = ?", string(bot.EventLinked), userID)
	q := db.gdb.WithContext(ctx).Model(&ticketRow{}).Where("reporter_id = ? OR id IN (?)", userID, linked)
	if len(statuses) > 0 {
		q = q.Where("status IN ?", statuses)
	}
	var rows []ticketRow
	if err := q.Order("reported_at DESC, id DESC").Limit(50).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("tickets reported by %s: %w", userID, err)
	}
	out := make([]*bot.Ticket, len(rows))
	for i := range rows {
		out[i] = rows[i].toTicket()
	}
	return out, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
