package storage

import (
	"context"
	"fmt"
	"slices"

	"weibao/bot"
)

// Linked reporters are kept on the timeline itself: a "linked" event whose
// actor is the nurse who reported the same fault again and whose detail is
// her user id. The timeline is append-only and written in the change's
// transaction, so the list of people to tell about a resolution can never
// disagree with the ticket's history, and no table of its own is needed.

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
		if u != "" && !slices.Contains(out, u) {
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
