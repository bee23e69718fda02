package storage

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"weibao/bot"
)

// HeardChat is a chat the bot has had a message from, as `weibao wecom
// chats` lists it: WeCom's robot callbacks carry a group's id but not its
// name, so the operator tells groups apart by who wrote and when.
type HeardChat struct {
	ChatID   string
	ChatType bot.ChatType
	Channel  string // "robot", "app"
	Messages int
	LastAt   time.Time
	LastFrom string // the user id of the latest sender
}

// HeardChats reads the inbox's stored messages and returns each group chat
// they came from, the most recently heard first. 1:1 chats, which have no
// chat id, are left out.
func (db *DB) HeardChats(ctx context.Context) ([]HeardChat, error) {
	rows, err := db.gdb.WithContext(ctx).Model(&inboxRow{}).Select("message", "received_at").
		Where("message IS NOT NULL").Order("id").Rows()
	if err != nil {
		return nil, fmt.Errorf("heard chats: %w", err)
	}
	defer rows.Close()
	byID := map[string]*HeardChat{}
	for rows.Next() {
		var r inboxRow
		if err := db.gdb.ScanRows(rows, &r); err != nil {
			return nil, fmt.Errorf("heard chats: %w", err)
		}
		at := r.ReceivedAt
		var m bot.Message
		if json.Unmarshal(r.Message, &m) != nil || m.ChatID == "" {
			continue
		}
		c := byID[m.ChatID]
		if c == nil {
			c = &HeardChat{ChatID: m.ChatID, ChatType: m.ChatType, Channel: m.Channel}
			byID[m.ChatID] = c
		}
		c.Messages++
		if !at.Before(c.LastAt) {
			c.LastAt, c.LastFrom = at.UTC(), m.From
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("heard chats: %w", err)
	}
	out := make([]HeardChat, 0, len(byID))
	for _, c := range byID {
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b HeardChat) int {
		return cmp.Or(b.LastAt.Compare(a.LastAt), cmp.Compare(a.ChatID, b.ChatID))
	})
	return out, nil
}
