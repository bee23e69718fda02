package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"weibao/bot"
)

// rosterRow is the on-call roster: one row holding the document (JSON, read
// by bot/roster) and the hash of the configured roster it was last seeded
// from.
type rosterRow struct {
	ID         int    `gorm:"primaryKey;autoIncrement:false"`
	Doc        string `gorm:"type:text;not null"`
	ConfigHash string `gorm:"size:64"`
	UpdatedBy  string `gorm:"size:64"`
	UpdatedAt  time.Time
}

func (rosterRow) TableName() string { return "oncall_roster" }

func migrateRoster(tx *gorm.DB) error { return tx.AutoMigrate(&rosterRow{}) }

// Roster returns the stored roster document; bot.ErrNotFound if none.
// It is read for every ticket, so it is cached like the directory.
func (db *DB) Roster(ctx context.Context) ([]byte, error) {
	doc, err := cachedDir(db, "roster", func() (string, error) {
		var r rosterRow
		err := db.gdb.WithContext(ctx).Where("id = 1").Take(&r).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return "", fmt.Errorf("roster: %w", bot.ErrNotFound)
		}
		if err != nil {
			return "", fmt.Errorf("roster: %w", err)
		}
		return r.Doc, nil
	})
	if err != nil {
		return nil, err
	}
	return []byte(doc), nil
}

// SaveRoster replaces the roster document (a run-time edit).
func (db *DB) SaveRoster(ctx context.Context, doc []byte, by string) error {
	defer db.directoryChanged()
	return db.transaction(ctx, func(tx *gorm.DB) error {
		return upsertRoster(tx, rosterRow{ID: 1, Doc: string(doc), UpdatedBy: by}, false)
	})
}

// SeedRoster stores the configured roster unless the one stored was seeded
// from a configuration with the same hash; it reports whether it wrote.
func (db *DB) SeedRoster(ctx context.Context, doc []byte, hash string) (bool, error) {
	defer db.directoryChanged()
	var wrote bool
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		var r rosterRow
		err := tx.Where("id = 1").Take(&r).Error
		switch {
		case err == nil && r.ConfigHash == hash:
			return nil
		case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
			return fmt.Errorf("seed roster: %w", err)
		}
		wrote = true
		return upsertRoster(tx, rosterRow{ID: 1, Doc: string(doc), ConfigHash: hash, UpdatedBy: "config"}, true)
	})
	return wrote, err
}

func upsertRoster(tx *gorm.DB, r rosterRow, seeded bool) error {
	cols := []string{"doc", "updated_by", "updated_at"}
	if seeded {
		cols = append(cols, "config_hash")
	}
	r.UpdatedAt = time.Now().UTC()
	if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns(cols)}).
		Create(&r).Error; err != nil {
		return fmt.Errorf("save roster: %w", err)
	}
	return nil
}
