package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"weibao/bot"
)

// pageRow is one page of one person for one escalation step.
type pageRow struct {
	ID        int64     `gorm:"primaryKey"`
	Key       string    `gorm:"size:191;not null;uniqueIndex"`
	TicketNo  string    `gorm:"size:24;not null;index"`
	UserID    string    `gorm:"size:64;not null"`
	Level     int       `gorm:"not null"`
	CreatedAt time.Time `gorm:"not null"`
}

func (pageRow) TableName() string { return "pages" }

func (r *pageRow) toPage() bot.PageRecord {
	return bot.PageRecord{ID: r.ID, Key: r.Key, TicketNo: r.TicketNo, UserID: r.UserID, Level: r.Level, CreatedAt: r.CreatedAt.UTC()}
}

type pageAttemptRow struct {
	ID        int64     `gorm:"primaryKey"`
	PageID    int64     `gorm:"not null;index"`
	Provider  string    `gorm:"size:32;not null;index:idx_page_attempts_msg,priority:1"`
	Channel   string    `gorm:"size:8;not null"`
	Outcome   string    `gorm:"size:16;not null"`
	MessageID string    `gorm:"size:128;index:idx_page_attempts_msg,priority:2"`
	Error     string    `gorm:"size:512"`
	At        time.Time `gorm:"not null"`
}

func (pageAttemptRow) TableName() string { return "page_attempts" }

// pageClaimRow backs pager.Once: a key claimed until ExpiresAt.
type pageClaimRow struct {
	Key       string    `gorm:"primaryKey;size:191"`
	ExpiresAt time.Time `gorm:"not null;index"`
}

func (pageClaimRow) TableName() string { return "page_claims" }

type pageReceiptRow struct {
	ID int64 `gorm:"primaryKey"`
	// A receipt is one (provider, call, status, digits): providers push it
	// again until answered, and the unique key keeps one row.
	Provider    string `gorm:"size:32;not null;uniqueIndex:idx_receipt_key,priority:1"`
	CallID      string `gorm:"size:128;not null;uniqueIndex:idx_receipt_key,priority:2"`
	PageRef     string `gorm:"size:32"`
	Status      string `gorm:"size:16;not null;uniqueIndex:idx_receipt_key,priority:3"`
	Code        string `gorm:"size:32"`
	Digits      string `gorm:"size:16;not null;uniqueIndex:idx_receipt_key,priority:4"`
	At          *time.Time
	ReceivedAt  time.Time  `gorm:"not null"`
	ProcessedAt *time.Time `gorm:"index"`
}

func (pageReceiptRow) TableName() string { return "page_receipts" }

func migratePages(tx *gorm.DB) error {
	return tx.AutoMigrate(&pageRow{}, &pageAttemptRow{}, &pageClaimRow{}, &pageReceiptRow{})
}

// OpenPage returns the page with p.Key, creating it from p if there is none;
// created tells whether this call created it.
func (db *DB) OpenPage(ctx context.Context, p bot.PageRecord) (bot.PageRecord, bool, error) {
	row := pageRow{Key: p.Key, TicketNo: p.TicketNo, UserID: p.UserID, Level: p.Level, CreatedAt: ms(p.CreatedAt)}
	res := db.gdb.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return bot.PageRecord{}, false, fmt.Errorf("open page %s: %w", p.Key, res.Error)
	}
	if res.RowsAffected == 1 && row.ID != 0 {
		return row.toPage(), true, nil
	}
	var got pageRow
	if err := db.gdb.WithContext(ctx).Where("`key` = ?", p.Key).Take(&got).Error; err != nil {
		return bot.PageRecord{}, false, fmt.Errorf("open page %s: %w", p.Key, translate(err))
	}
	return got.toPage(), false, nil
}

// Page returns the page with id; bot.ErrNotFound if none.
func (db *DB) Page(ctx context.Context, id int64) (bot.PageRecord, error) {
	var r pageRow
	if err := db.gdb.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return bot.PageRecord{}, fmt.Errorf("page %d: %w", id, translate(err))
	}
	return r.toPage(), nil
}

// PageByMessage returns the page whose attempt got the provider's message
// id (for receipts that echo no page id); bot.ErrNotFound if none.
func (db *DB) PageByMessage(ctx context.Context, provider, messageID string) (bot.PageRecord, error) {
	var a pageAttemptRow
	err := db.gdb.WithContext(ctx).Where("provider = ? AND message_id = ?", provider, messageID).Take(&a).Error
	if err != nil {
		return bot.PageRecord{}, fmt.Errorf("page of %s message: %w", provider, translate(err))
	}
	return db.Page(ctx, a.PageID)
}

// AddPageAttempts records a page's provider requests.
func (db *DB) AddPageAttempts(ctx context.Context, as ...bot.PageAttempt) error {
	if len(as) == 0 {
		return nil
	}
	rows := make([]pageAttemptRow, len(as))
	for i, a := range as {
		rows[i] = pageAttemptRow{PageID: a.PageID, Provider: a.Provider, Channel: a.Channel, Outcome: a.Outcome,
			MessageID: a.MessageID, Error: truncate(a.Error, 512), At: ms(a.At)}
	}
	if err := db.gdb.WithContext(ctx).Create(&rows).Error; err != nil {
		return fmt.Errorf("page attempts: %w", err)
	}
	return nil
}

// PageAttempts lists a ticket's page attempts in order.
func (db *DB) PageAttempts(ctx context.Context, ticketNo string) ([]bot.PageAttempt, error) {
	var rows []pageAttemptRow
	err := db.gdb.WithContext(ctx).Joins("JOIN pages ON pages.id = page_attempts.page_id").
		Where("pages.ticket_no = ?", ticketNo).Order("page_attempts.id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("page attempts of %s: %w", ticketNo, err)
	}
	out := make([]bot.PageAttempt, len(rows))
	for i, r := range rows {
		out[i] = bot.PageAttempt{PageID: r.PageID, Provider: r.Provider, Channel: r.Channel, Outcome: r.Outcome,
			MessageID: r.MessageID, Error: r.Error, At: r.At.UTC()}
	}
	return out, nil
}

// ClaimKey claims key until expires, unless someone holds an unexpired
// claim on it. It is the database half of the pager's at-most-once call
// guard, so a flushed Redis never lets a page ring twice.
func (db *DB) ClaimKey(ctx context.Context, key string, now, expires time.Time) (bool, error) {
	var first bool
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&pageClaimRow{Key: key, ExpiresAt: ms(expires)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			first = true
			return nil
		}
		res = tx.Model(&pageClaimRow{}).Where("`key` = ? AND expires_at <= ?", key, ms(now)).Update("expires_at", ms(expires))
		first = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	return first, nil
}

// DeleteExpiredClaims removes claims that ended before now.
func (db *DB) DeleteExpiredClaims(ctx context.Context, now time.Time) (int64, error) {
	res := db.gdb.WithContext(ctx).Where("expires_at <= ?", ms(now)).Delete(&pageClaimRow{})
	return res.RowsAffected, res.Error
}

// AddReceipts stores pushed receipts until they are handled.
func (db *DB) AddReceipts(ctx context.Context, rs ...bot.PageReceipt) error {
	if len(rs) == 0 {
		return nil
	}
	rows := make([]pageReceiptRow, len(rs))
	for i, r := range rs {
		rows[i] = pageReceiptRow{Provider: r.Provider, CallID: truncate(r.CallID, 128), PageRef: truncate(r.PageRef, 32),
			Status: r.Status, Code: truncate(r.Code, 32), Digits: truncate(r.Digits, 16), At: nullTime(r.At), ReceivedAt: ms(r.ReceivedAt)}
	}
	if err := db.gdb.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
		return fmt.Errorf("add receipts: %w", err)
	}
	return nil
}

// PendingReceipts returns up to limit unhandled receipts, oldest first.
func (db *DB) PendingReceipts(ctx context.Context, limit int) ([]bot.PageReceipt, error) {
	var rows []pageReceiptRow
	if err := db.gdb.WithContext(ctx).Where("processed_at IS NULL").Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("pending receipts: %w", err)
	}
	out := make([]bot.PageReceipt, len(rows))
	for i, r := range rows {
		out[i] = bot.PageReceipt{ID: r.ID, Provider: r.Provider, CallID: r.CallID, PageRef: r.PageRef, Status: r.Status,
			Code: r.Code, Digits: r.Digits, At: fromNull(r.At), ReceivedAt: r.ReceivedAt.UTC()}
	}
	return out, nil
}

// ReceiptHandled marks a receipt handled.
func (db *DB) ReceiptHandled(ctx context.Context, id int64, at time.Time) error {
	res := db.gdb.WithContext(ctx).Model(&pageReceiptRow{}).Where("id = ?", id).Update("processed_at", ms(at))
	if res.Error != nil {
		return fmt.Errorf("receipt %d handled: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("receipt %d: %w", id, bot.ErrNotFound)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
