package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"

	"weibao/bot"
)

// kbRow is the knowledge base (kb_entries): one entry per resolved ticket.
type kbRow struct {
	ID         int64      `gorm:"primaryKey"`
	TicketNo   string     `gorm:"size:24;not null;uniqueIndex"`
	Category   string     `gorm:"size:32;not null;index"`
	Symptom    string     `gorm:"type:text"`
	Cause      string     `gorm:"type:text"`
	Fix        string     `gorm:"type:text"`
	FAQ        bool       `gorm:"column:faq;not null;default:false"`
	Status     string     `gorm:"size:16;not null;index"`
	ProposedAt time.Time  `gorm:"not null"`
	ReviewedAt *time.Time `gorm:"index"`
	ReviewedBy string     `gorm:"size:64"`
	Version    int        `gorm:"not null"`
}

func (kbRow) TableName() string { return "kb_entries" }

// kbFulltext names the FULLTEXT index over symptom, cause and fix that
// migration 0010 creates where MySQL has the ngram parser.
const kbFulltext = "kb_fulltext"

// migrateKnowledge creates kb_entries and, on a MySQL with the ngram parser
// (MySQL 5.7.6+), a FULLTEXT index with it: InnoDB's default parser splits
// on spaces, which Chinese text has none of. MariaDB has no ngram parser
// (10.11 answers "Function 'ngram' is not defined"), so there the index is
// left out and searches use LIKE, as on SQLite.
func migrateKnowledge(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&kbRow{}); err != nil {
		return err
	}
	if tx.Name() != "mysql" || tx.Migrator().HasIndex(&kbRow{}, kbFulltext) {
		return nil
	}
	err := tx.Exec("ALTER TABLE kb_entries ADD FULLTEXT INDEX " + kbFulltext + " (symptom, cause, fix) WITH PARSER ngram").Error
	if err != nil && !strings.Contains(err.Error(), "ngram") {
		return err
	}
	return nil
}

func fromEntry(e *bot.KBEntry) kbRow {
	return kbRow{ID: e.ID, TicketNo: e.TicketNo, Category: e.Category, Symptom: e.Symptom, Cause: e.Cause, Fix: e.Fix,
		FAQ: e.FAQ, Status: string(e.Status), ProposedAt: ms(e.ProposedAt), ReviewedAt: nullTime(e.ReviewedAt),
		ReviewedBy: e.ReviewedBy, Version: e.Version}
}

func (r *kbRow) toEntry() bot.KBEntry {
	return bot.KBEntry{ID: r.ID, TicketNo: r.TicketNo, Category: r.Category, Symptom: r.Symptom, Cause: r.Cause, Fix: r.Fix,
		FAQ: r.FAQ, Status: bot.KBStatus(r.Status), ProposedAt: r.ProposedAt.UTC(), ReviewedAt: fromNull(r.ReviewedAt),
		ReviewedBy: r.ReviewedBy, Version: r.Version}
}

var _ bot.KnowledgeStore = (*DB)(nil)

// ProposeEntry stores e unless its ticket already has an entry, with the
// messages msgs builds from it once it has its id.
func (db *DB) ProposeEntry(ctx context.Context, e *bot.KBEntry, msgs func(e *bot.KBEntry) []bot.Outgoing) (bool, error) {
	if err := e.Validate(); err != nil {
		return false, err
	}
	created, queued := false, 0
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		row := fromEntry(e)
		row.ID, row.Version = 0, 1
		// Not ON CONFLICT DO NOTHING: MySQL's form of it (ON DUPLICATE KEY
		// UPDATE id=id) does not tell a skipped row from an inserted one.
		var n int64
		if err := tx.Model(&kbRow{}).Where("ticket_no = ?", e.TicketNo).Count(&n).Error; err != nil || n > 0 {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return nil // proposed at the same moment by another replica
			}
			return fmt.Errorf("propose entry for %s: %w", e.TicketNo, err)
		}
		created = true
		*e = row.toEntry()
		out := msgs(e)
		queued = len(out)
		for _, m := range out {
			if err := enqueue(tx, m, db.clock.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil && created {
		db.publish(ctx, bot.Committed{Queued: queued})
	}
	return created, err
}

// Entry returns one entry.
func (db *DB) Entry(ctx context.Context, id int64) (*bot.KBEntry, error) {
	var r kbRow
	if err := db.gdb.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, kbNotFound(err, id)
	}
	e := r.toEntry()
	return &e, nil
}

func kbNotFound(err error, id int64) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return bot.Errorf(bot.ErrNotFound, "kb.err.not_found", map[string]any{"id": id}, "knowledge entry %d not found", id)
	}
	return fmt.Errorf("knowledge entry %d: %w", id, err)
}

// UpdateEntry changes one entry through fn, guarded by its version.
func (db *DB) UpdateEntry(ctx context.Context, id int64, fn func(e *bot.KBEntry) ([]bot.Outgoing, error)) (*bot.KBEntry, error) {
	var out bot.KBEntry
	var msgs []bot.Outgoing
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		var r kbRow
		if err := tx.Where("id = ?", id).Take(&r).Error; err != nil {
			return kbNotFound(err, id)
		}
		e := r.toEntry()
		var err error
		if msgs, err = fn(&e); err != nil {
			return err
		}
		if err := e.Validate(); err != nil {
			return err
		}
		row := fromEntry(&e)
		row.ID, row.TicketNo, row.Version = r.ID, r.TicketNo, r.Version+1
		res := tx.Model(&kbRow{}).Where("id = ? AND version = ?", id, r.Version).Select("*").Omit("id").Updates(&row)
		if res.Error != nil {
			return fmt.Errorf("update knowledge entry %d: %w", id, res.Error)
		}
		if res.RowsAffected != 1 {
			return bot.Errorf(bot.ErrConflict, "kb.err.conflict", map[string]any{"id": id}, "knowledge entry %d changed concurrently", id)
		}
		for _, m := range msgs {
			if err := enqueue(tx, m, db.clock.Now()); err != nil {
				return err
			}
		}
		out = row.toEntry()
		return nil
	})
	if err != nil {
		return nil, err
	}
	db.publish(ctx, bot.Committed{Queued: len(msgs)})
	return &out, nil
}

func (db *DB) kbQuery(ctx context.Context, f bot.KBFilter) *gorm.DB {
	q := db.gdb.WithContext(ctx).Model(&kbRow{})
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.FAQ {
		q = q.Where("faq = ?", true)
	}
	if !f.ReviewedBefore.IsZero() {
		// Never reviewed counts from its proposal.
		q = q.Where("COALESCE(reviewed_at, proposed_at) < ?", ms(f.ReviewedBefore))
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	return q
}

// Entries lists entries by f, newest first.
func (db *DB) Entries(ctx context.Context, f bot.KBFilter) ([]bot.KBEntry, error) {
	var rows []kbRow
	if err := db.kbQuery(ctx, f).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("knowledge entries: %w", err)
	}
	return kbEntries(rows), nil
}

func kbEntries(rows []kbRow) []bot.KBEntry {
	out := make([]bot.KBEntry, len(rows))
	for i := range rows {
		out[i] = rows[i].toEntry()
	}
	return out
}

// SearchEntries finds approved entries that hold every word. With the ngram
// FULLTEXT index (MySQL) a boolean-mode phrase per word; a word shorter than
// ngram_token_size (2) is not in that index, so then, and without the index,
// every word must appear in the symptom, cause or fix (LIKE).
func (db *DB) SearchEntries(ctx context.Context, words []string, f bot.KBFilter) ([]bot.KBEntry, error) {
	if len(words) == 0 {
		return nil, nil
	}
	f.Status = bot.KBApproved
	q := db.kbQuery(ctx, f)
	if db.kbFulltext && minRunes(words) >= 2 {
		var b strings.Builder
		for _, w := range words {
			fmt.Fprintf(&b, `+"%s" `, strings.ReplaceAll(w, `"`, ""))
		}
		q = q.Where("MATCH(symptom, cause, fix) AGAINST (? IN BOOLEAN MODE)", b.String())
	} else {
		for _, w := range words {
			p := "%" + likeEscaper.Replace(w) + "%"
			q = q.Where("(symptom LIKE ? ESCAPE '!' OR cause LIKE ? ESCAPE '!' OR fix LIKE ? ESCAPE '!')", p, p, p)
		}
	}
	var rows []kbRow
	if err := q.Order("id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("search knowledge: %w", err)
	}
	return kbEntries(rows), nil
}

var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

func minRunes(ws []string) int {
	n := -1
	for _, w := range ws {
		if c := utf8.RuneCountInString(w); n < 0 || c < n {
			n = c
		}
	}
	return n
}
