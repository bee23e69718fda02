package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// dialogueRow is a fault report in progress (bot/conversation's session):
// kept here rather than only in Redis, so a flushed or restarted Redis
// loses no nurse's report, and the sweep of unanswered dialogues finds
// them by due time.
type dialogueRow struct {
	ID        string    `gorm:"primaryKey;size:191"` // chat and user, bot/conversation's key
	State     []byte    `gorm:"type:blob;not null"`
	DueAt     time.Time `gorm:"not null;index"`
	UpdatedAt time.Time `gorm:"not null"`
}

func (dialogueRow) TableName() string { return "dialogues" }

func migrateDialogues(tx *gorm.DB) error { return tx.AutoMigrate(&dialogueRow{}) }

// Dialogue returns the state saved at key, nil when there is none.
func (db *DB) Dialogue(ctx context.Context, key string) ([]byte, error) {
	var row dialogueRow
	err := db.gdb.WithContext(ctx).Where("id = ?", key).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("dialogue: %w", err)
	}
	return row.State, nil
}

// SaveDialogue stores state at key, due for the sweep at due.
func (db *DB) SaveDialogue(ctx context.Context, key string, state []byte, due time.Time) error {
	row := dialogueRow{ID: key, State: state, DueAt: ms(due), UpdatedAt: ms(time.Now())}
	err := retry(ctx, func() error {
		return db.gdb.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, UpdateAll: true}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("save dialogue: %w", err)
	}
	return nil
}

// EndDialogue removes key's dialogue (none is no error).
func (db *DB) EndDialogue(ctx context.Context, key string) error {
	err := retry(ctx, func() error {
		return db.gdb.WithContext(ctx).Where("id = ?", key).Delete(&dialogueRow{}).Error
	})
	if err != nil {
		return fmt.Errorf("end dialogue: %w", err)
	}
	return nil
}

// DueDialogues returns up to limit keys of dialogues due by now, earliest
// first. They stay until EndDialogue or a later SaveDialogue, so a sweeper
// that dies mid-way leaves them for the next sweep.
func (db *DB) DueDialogues(ctx context.Context, now time.Time, limit int) ([]string, error) {
	var keys []string
	err := db.gdb.WithContext(ctx).Model(&dialogueRow{}).Where("due_at <= ?", ms(now)).
		Order("due_at").Limit(limit).Pluck("id", &keys).Error
	if err != nil {
		return nil, fmt.Errorf("due dialogues: %w", err)
	}
	return keys, nil
}
