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

var _ bot.RecordStore = (*DB)(nil)

// recordRow is the records table (maintenance records, tender 一/二.4/三).
// Fields are the kind's free-text fields as a JSON object.
type recordRow struct {
	ID        int64     `gorm:"primaryKey"`
	No        string    `gorm:"size:24;not null;uniqueIndex"`
	Version   int       `gorm:"not null"`
	Kind      string    `gorm:"size:24;not null;index:idx_records_kind,priority:1"`
	Status    string    `gorm:"size:16;not null"`
	Subject   string    `gorm:"size:128"`
	Key       *string   `gorm:"column:record_key;size:191;uniqueIndex"`
	Fields    string    `gorm:"type:text"`
	CreatedBy string    `gorm:"size:64;not null"`
	At        time.Time `gorm:"not null;index:idx_records_kind,priority:2"`
	DoneAt    *time.Time
	UpdatedAt time.Time
}

func (recordRow) TableName() string { return "records" }

type recordEventRow struct {
	ID         int64     `gorm:"primaryKey"`
	RecordID   int64     `gorm:"not null;index:idx_record_events,priority:1"`
	RecordNo   string    `gorm:"size:24;not null"`
	Kind       string    `gorm:"size:24;not null"`
	Actor      string    `gorm:"size:64;not null"`
	At         time.Time `gorm:"not null;index:idx_record_events,priority:2"`
	FromStatus string    `gorm:"size:16"`
	ToStatus   string    `gorm:"size:16"`
	Detail     string    `gorm:"type:text"`
}

func (recordEventRow) TableName() string { return "record_events" }

// recordLinkRow links a record to a ticket; both sides read it.
type recordLinkRow struct {
	RecordID int64  `gorm:"primaryKey;autoIncrement:false"`
	TicketNo string `gorm:"primaryKey;size:24;index"`
	Pos      int    `gorm:"not null"`
}

func (recordLinkRow) TableName() string { return "record_links" }

// recordSeq counts records per local day for their numbers.
type recordSeq struct {
	Day string `gorm:"primaryKey;size:8"`
	Seq int64  `gorm:"not null"`
}

func (recordSeq) TableName() string { return "record_seqs" }

func migrateRecords(tx *gorm.DB) error {
	return tx.AutoMigrate(&recordRow{}, &recordEventRow{}, &recordLinkRow{}, &recordSeq{})
}

func fromRecord(r *bot.Record) (recordRow, error) {
	b, err := json.Marshal(r.Fields)
	if err != nil {
		return recordRow{}, fmt.Errorf("record fields: %w", err)
	}
	row := recordRow{ID: r.ID, No: r.No, Version: r.Version, Kind: string(r.Kind), Status: string(r.Status),
		Subject: r.Subject, Fields: string(b), CreatedBy: r.CreatedBy, At: ms(r.At), DoneAt: nullTime(r.DoneAt)}
	if r.Key != "" {
		row.Key = &r.Key
	}
	return row, nil
}

func (row *recordRow) toRecord(links []string) (*bot.Record, error) {
	r := &bot.Record{ID: row.ID, No: row.No, Version: row.Version, Kind: bot.RecordKind(row.Kind),
		Status: bot.RecordStatus(row.Status), Subject: row.Subject, CreatedBy: row.CreatedBy,
		At: row.At.UTC(), DoneAt: fromNull(row.DoneAt), Tickets: links, Fields: map[string]string{}}
	if row.Key != nil {
		r.Key = *row.Key
	}
	if row.Fields != "" {
		if err := json.Unmarshal([]byte(row.Fields), &r.Fields); err != nil {
			return nil, fmt.Errorf("record %s fields: %w", row.No, err)
		}
	}
	return r, nil
}

func normalizeRecord(r *bot.Record) { r.At, r.DoneAt = ms(r.At), ms(r.DoneAt) }

// CreateRecord numbers r (R + local date + daily sequence) and stores it with fx.
func (db *DB) CreateRecord(ctx context.Context, r *bot.Record, fx bot.RecordEffects) error {
	normalizeRecord(r)
	day := r.At.In(db.loc).Format("20060102")
	var stored bot.Record
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "day"}},
			DoUpdates: clause.Assignments(map[string]any{"seq": gorm.Expr("seq + 1")}),
		}).Create(&recordSeq{Day: day, Seq: 1}).Error; err != nil {
			return fmt.Errorf("record number: %w", err)
		}
		q := tx.Where("day = ?", day)
		if db.driver == "mysql" {
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		var s recordSeq
		if err := q.Take(&s).Error; err != nil {
			return fmt.Errorf("record number: %w", err)
		}
		c := *r
		c.No, c.Version = bot.FormatRecordNo(r.At.In(db.loc), s.Seq), 1
		row, err := fromRecord(&c)
		if err != nil {
			return err
		}
		if err := tx.Create(&row).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return bot.Errorf(bot.ErrConflict, "err.record_exists", nil, "record key %q exists", c.Key)
			}
			return fmt.Errorf("create record: %w", err)
		}
		c.ID = row.ID
		if err := writeLinks(tx, &c, nil); err != nil {
			return err
		}
		if fx.Events, err = writeRecordEffects(tx, &c, fx, db.clock.Now()); err != nil {
			return err
		}
		stored = c
		return nil
	})
	if err != nil {
		return err
	}
	*r = stored
	db.publish(ctx, bot.Committed{Record: &stored, RecordEvents: fx.Events, Queued: len(fx.Messages)})
	return nil
}

// writeLinks adds the links r has and before had not (links are never removed).
func writeLinks(tx *gorm.DB, r *bot.Record, before []string) error {
	for i, no := range r.Tickets {
		if slices.Contains(before, no) {
			continue
		}
		if err := tx.Create(&recordLinkRow{RecordID: r.ID, TicketNo: no, Pos: i}).Error; err != nil {
			return fmt.Errorf("link record %s to %s: %w", r.No, no, err)
		}
	}
	return nil
}

func writeRecordEffects(tx *gorm.DB, r *bot.Record, fx bot.RecordEffects, now time.Time) ([]bot.RecordEvent, error) {
	stored := make([]bot.RecordEvent, len(fx.Events))
	if len(fx.Events) > 0 {
		rows := make([]recordEventRow, len(fx.Events))
		for i, e := range fx.Events {
			rows[i] = recordEventRow{RecordID: r.ID, RecordNo: r.No, Kind: string(e.Kind), Actor: e.Actor, At: ms(e.At),
				FromStatus: string(e.From), ToStatus: string(e.To), Detail: e.Detail}
		}
		if err := tx.Create(&rows).Error; err != nil {
			return nil, fmt.Errorf("append record events: %w", err)
		}
		for i := range rows {
			stored[i] = rows[i].toEvent()
		}
	}
	for _, m := range fx.Messages {
		if err := enqueue(tx, m, now); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

func (row *recordEventRow) toEvent() bot.RecordEvent {
	return bot.RecordEvent{ID: row.ID, RecordNo: row.RecordNo, Kind: bot.RecordEventKind(row.Kind), Actor: row.Actor,
		At: row.At.UTC(), From: bot.RecordStatus(row.FromStatus), To: bot.RecordStatus(row.ToStatus), Detail: row.Detail}
}

// Record returns the record numbered no.
func (db *DB) Record(ctx context.Context, no string) (*bot.Record, error) {
	return loadRecord(db.gdb.WithContext(ctx), "no = ?", no)
}

// RecordByKey returns the record created with key.
func (db *DB) RecordByKey(ctx context.Context, key string) (*bot.Record, error) {
	if key == "" {
		return nil, bot.Errorf(bot.ErrNotFound, "err.record_not_found", map[string]any{"no": ""}, "record: empty key")
	}
	return loadRecord(db.gdb.WithContext(ctx), "record_key = ?", key)
}

func loadRecord(tx *gorm.DB, where string, arg string) (*bot.Record, error) {
	var row recordRow
	if err := tx.Where(where, arg).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, bot.Errorf(bot.ErrNotFound, "err.record_not_found", map[string]any{"no": arg}, "record %s not found", arg)
		}
		return nil, fmt.Errorf("load record %s: %w", arg, err)
	}
	links, err := loadLinks(tx, []int64{row.ID})
	if err != nil {
		return nil, err
	}
	return row.toRecord(links[row.ID])
}

func loadLinks(tx *gorm.DB, ids []int64) (map[int64][]string, error) {
	out := map[int64][]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var rows []recordLinkRow
	if err := tx.Session(&gorm.Session{NewDB: true}).Where("record_id IN ?", ids).Order("record_id, pos").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("record links: %w", err)
	}
	for _, l := range rows {
		out[l.RecordID] = append(out[l.RecordID], l.TicketNo)
	}
	return out, nil
}

// UpdateRecord applies fn under the record's version (see bot.RecordStore).
func (db *DB) UpdateRecord(ctx context.Context, no string, fn func(r *bot.Record, timeline []bot.RecordEvent) (bot.RecordEffects, error)) (*bot.Record, error) {
	for range updateAttempts {
		var out *bot.Record
		var fx bot.RecordEffects
		err := db.transaction(ctx, func(tx *gorm.DB) error {
			r, err := loadRecord(tx, "no = ?", no)
			if err != nil {
				return err
			}
			timeline, err := loadRecordTimeline(tx, r.ID)
			if err != nil {
				return err
			}
			before := slices.Clone(r.Tickets)
			if fx, err = fn(r, timeline); err != nil {
				return err
			}
			normalizeRecord(r)
			row, err := fromRecord(r)
			if err != nil {
				return err
			}
			row.Version = r.Version + 1
			res := tx.Model(&recordRow{}).Where("id = ? AND version = ?", r.ID, r.Version).
				Select("*").Omit("id", "no", "record_key").Updates(&row)
			if res.Error != nil {
				return fmt.Errorf("update record %s: %w", no, res.Error)
			}
			if res.RowsAffected != 1 {
				return errStale
			}
			r.Version = row.Version
			if err := writeLinks(tx, r, before); err != nil {
				return err
			}
			if fx.Events, err = writeRecordEffects(tx, r, fx, db.clock.Now()); err != nil {
				return err
			}
			out = r
			return nil
		})
		if errors.Is(err, errStale) {
			continue
		}
		if err == nil {
			c := *out
			db.publish(ctx, bot.Committed{Record: &c, RecordEvents: fx.Events, Queued: len(fx.Messages)})
		}
		return out, err
	}
	return nil, bot.Errorf(bot.ErrConflict, "err.conflict", map[string]any{"no": no}, "record %s: changed concurrently %d times", no, updateAttempts)
}

// RecordTimeline returns the record's events in the order they happened.
func (db *DB) RecordTimeline(ctx context.Context, no string) ([]bot.RecordEvent, error) {
	r, err := db.Record(ctx, no)
	if err != nil {
		return nil, err
	}
	return loadRecordTimeline(db.gdb.WithContext(ctx), r.ID)
}

func loadRecordTimeline(tx *gorm.DB, id int64) ([]bot.RecordEvent, error) {
	var rows []recordEventRow
	if err := tx.Session(&gorm.Session{NewDB: true}).Where("record_id = ?", id).Order("at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("record timeline: %w", err)
	}
	out := make([]bot.RecordEvent, len(rows))
	for i := range rows {
		out[i] = rows[i].toEvent()
	}
	return out, nil
}

// Records lists records matching f, oldest first.
func (db *DB) Records(ctx context.Context, f bot.RecordFilter) ([]*bot.Record, error) {
	q := db.gdb.WithContext(ctx).Model(&recordRow{})
	if len(f.Kinds) > 0 {
		q = q.Where("kind IN ?", f.Kinds)
	}
	if len(f.Statuses) > 0 {
		q = q.Where("status IN ?", f.Statuses)
	}
	if f.Subject != "" {
		q = q.Where("subject = ?", f.Subject)
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", ms(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", ms(f.To))
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit)
	}
	var rows []recordRow
	if err := q.Order("at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list records: %w", err)
	}
	return db.toRecords(ctx, rows)
}

// TicketRecords lists the records linked to the ticket numbered no.
func (db *DB) TicketRecords(ctx context.Context, no string) ([]*bot.Record, error) {
	var rows []recordRow
	err := db.gdb.WithContext(ctx).Select("records.*").Joins("JOIN record_links ON record_links.record_id = records.id").
		Where("record_links.ticket_no = ?", no).Order("records.at, records.id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("records of ticket %s: %w", no, err)
	}
	return db.toRecords(ctx, rows)
}

func (db *DB) toRecords(ctx context.Context, rows []recordRow) ([]*bot.Record, error) {
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	links, err := loadLinks(db.gdb.WithContext(ctx), ids)
	if err != nil {
		return nil, err
	}
	out := make([]*bot.Record, len(rows))
	for i := range rows {
		if out[i], err = rows[i].toRecord(links[rows[i].ID]); err != nil {
			return nil, err
		}
	}
	return out, nil
}
