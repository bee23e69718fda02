package storage

import (
	"context"
	"fmt"
)

// PendingOutbox counts messages not yet delivered.
func (db *DB) PendingOutbox(ctx context.Context) (int64, error) {
	var n int64
	if err := db.gdb.WithContext(ctx).Model(&outboxRow{}).Where("status = ?", "pending").Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}
