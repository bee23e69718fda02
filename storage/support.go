package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"weibao/bot"
)

// QueuedMessages lists the outbox rows in statuses (pending, failed,
// expired), oldest first, for support: the admin API's outbox page and the
// console's support page, so that nothing is given up silently.
func (db *DB) QueuedMessages(ctx context.Context, statuses []string, offset, limit int) ([]bot.QueuedMessage, error) {
	var rows []outboxRow
	err := db.gdb.WithContext(ctx).Where("status IN ?", statuses).Order("id").Offset(offset).Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("outbox queue: %w", err)
	}
	out := make([]bot.QueuedMessage, len(rows))
	for i, r := range rows {
		var m bot.Outgoing
		json.Unmarshal([]byte(r.Payload), &m) // a row that does not parse still shows, with no destination
		out[i] = bot.QueuedMessage{ID: r.ID, Key: r.Key, TicketNo: r.TicketNo, Kind: r.Kind, Status: r.Status, ToUsers: m.ToUsers, ToChat: m.ToChat,
			Format: m.Format, HasFile: m.File != nil, Attempts: r.Attempts, LastError: r.LastError,
			NextAttempt: r.NextAttemptAt.UTC(), Created: r.CreatedAt.UTC()}
	}
	return out, nil
}
