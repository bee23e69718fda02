package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// migration is one versioned schema step. Steps run in order, once each, and
// are recorded in schema_migrations; a schema change is a new step, never an
// edit of a step that has shipped.
type migration struct {
	ID string
	Up func(tx *gorm.DB) error
}

type schemaMigration struct {
	ID        string `gorm:"primaryKey;size:64"`
	AppliedAt time.Time
}

func (schemaMigration) TableName() string { return "schema_migrations" }

var migrations = []migration{
	{"0001_core", func(tx *gorm.DB) error {
		return tx.AutoMigrate(&ticketRow{}, &eventRow{}, &ticketSeq{}, &personRow{}, &campusRow{}, &wardRow{},
			&categoryRow{}, &outboxRow{})
	}},
	{"0002_wecom_mailbox", migrateWeComMailbox},
	{"0003_reports", migrateReports},
	{"0004_roster", migrateRoster},
	{"0005_pages", migratePages},
	{"0006_inbox_message", migrateInboxMessage},
	{"0007_ticket_triage", migrateTicketTriage},
	{"0008_people_source", migratePeopleSource},
	{"0009_records", migrateRecords},
	{"0010_knowledge", migrateKnowledge},
	{"0011_access", migrateAccess},
	{"0013_outbox_rules", migrateOutboxRules},
	{"0014_dialogues", migrateDialogues},
}

// migrateOutboxRules adds the outbox's kind, rank and breaker destination;
// rows queued before it are kind "" and rank 0, delivered as they were.
func migrateOutboxRules(tx *gorm.DB) error {
	for _, col := range []string{"Kind", "QueueRank", "Dest"} {
		if !tx.Migrator().HasColumn(&outboxRow{}, col) {
			if err := tx.Migrator().AddColumn(&outboxRow{}, col); err != nil {
				return err
			}
		}
	}
	if tx.Migrator().HasIndex(&outboxRow{}, "idx_outbox_dest") {
		return nil
	}
	return tx.Migrator().CreateIndex(&outboxRow{}, "idx_outbox_dest")
}

// migratePeopleSource records where each person came from; everyone before
// it was hand-written in the configuration.
func migratePeopleSource(tx *gorm.DB) error {
	if tx.Migrator().HasColumn(&personRow{}, "Source") {
		return nil
	}
	return tx.Migrator().AddColumn(&personRow{}, "Source")
}

// migrateTicketTriage adds the 待分诊 flag; tickets before it were never guesses.
func migrateTicketTriage(tx *gorm.DB) error {
	if tx.Migrator().HasColumn(&ticketRow{}, "Triage") {
		return nil
	}
	return tx.Migrator().AddColumn(&ticketRow{}, "Triage")
}

func (db *DB) migrate(ctx context.Context) error {
	return db.gdb.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		// NewDB: every statement below starts clean on the pinned connection.
		conn = conn.Session(&gorm.Session{NewDB: true})
		// Replicas starting together must not run the same step twice.
		if db.driver == "mysql" {
			var got int
			if err := conn.Raw("SELECT GET_LOCK('weibao_migrate', 60)").Scan(&got).Error; err != nil || got != 1 {
				return fmt.Errorf("migrate: lock: %v (got %d)", err, got)
			}
			defer conn.Exec("SELECT RELEASE_LOCK('weibao_migrate')")
		}
		if err := conn.AutoMigrate(&schemaMigration{}); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var done []string
		if err := conn.Model(&schemaMigration{}).Pluck("id", &done).Error; err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		applied := map[string]bool{}
		for _, id := range done {
			applied[id] = true
		}
		for _, m := range migrations {
			if applied[m.ID] {
				continue
			}
			// MySQL commits DDL implicitly, so a step is not atomic there;
			// steps are written to be safe to re-run (AutoMigrate is).
			if err := m.Up(conn); err != nil {
				return fmt.Errorf("migrate %s: %w", m.ID, err)
			}
			if err := conn.Create(&schemaMigration{ID: m.ID, AppliedAt: time.Now().UTC()}).Error; err != nil {
				return fmt.Errorf("migrate %s: record: %w", m.ID, err)
			}
		}
		return nil
	})
}
