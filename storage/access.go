package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"weibao/bot"
	"weibao/bot/access"
)

// apiTokenRow is a per-person API token: its SHA-256, never the token.
type apiTokenRow struct {
	ID        int64      `gorm:"primaryKey"`
	Hash      []byte     `gorm:"type:varbinary(32);not null;uniqueIndex"`
	UserID    string     `gorm:"size:64;not null;index"`
	Role      string     `gorm:"size:16;not null"`
	Label     string     `gorm:"size:128"`
	CreatedAt time.Time  `gorm:"not null"`
	ExpiresAt *time.Time `gorm:""`
	RevokedAt *time.Time `gorm:""`
}

func (apiTokenRow) TableName() string { return "api_tokens" }

func (r *apiTokenRow) toToken() access.Token {
	return access.Token{ID: r.ID, UserID: r.UserID, Role: access.Role(r.Role), Label: r.Label, Created: r.CreatedAt.UTC(),
		Expires: fromNull(r.ExpiresAt), Revoked: fromNull(r.RevokedAt)}
}

// sessionRow is a browser login, found by the SHA-256 of its cookie.
type sessionRow struct {
	ID         int64     `gorm:"primaryKey"`
	Hash       []byte    `gorm:"type:varbinary(32);not null;uniqueIndex"`
	UserID     string    `gorm:"size:64;not null;index"`
	Role       string    `gorm:"size:16;not null"`
	Method     string    `gorm:"size:16;not null"`
	TokenID    int64     `gorm:"not null;index"`
	Strong     bool      `gorm:"not null"`
	CreatedAt  time.Time `gorm:"not null;index"`
	LastSeenAt time.Time `gorm:"not null"`
}

func (sessionRow) TableName() string { return "api_sessions" }

// loginCodeRow is a one-time code sent to a session's person.
type loginCodeRow struct {
	ID        int64      `gorm:"primaryKey"`
	SessionID int64      `gorm:"not null;index"`
	Hash      []byte     `gorm:"type:varbinary(32);not null"`
	ExpiresAt time.Time  `gorm:"not null"`
	UsedAt    *time.Time `gorm:""`
}

func (loginCodeRow) TableName() string { return "api_login_codes" }

// auditRow is one audit log entry. Rows are only ever inserted, and deleted
// by PurgeAudit once past the retention.
type auditRow struct {
	ID     int64     `gorm:"primaryKey"`
	At     time.Time `gorm:"not null;index"`
	Actor  string    `gorm:"size:64;not null;index"`
	Action string    `gorm:"size:64;not null"`
	Target string    `gorm:"size:128"`
	Before string    `gorm:"type:text"`
	After  string    `gorm:"type:text"`
	IP     string    `gorm:"size:64"`
	Agent  string    `gorm:"size:255"`
}

func (auditRow) TableName() string { return "audit_log" }

func migrateAccess(tx *gorm.DB) error {
	return tx.AutoMigrate(&apiTokenRow{}, &sessionRow{}, &loginCodeRow{}, &auditRow{})
}

var _ access.Store = (*DB)(nil)

// CreateToken stores a token by its hash.
func (db *DB) CreateToken(ctx context.Context, t access.Token, hash []byte) (int64, error) {
	row := apiTokenRow{Hash: hash, UserID: t.UserID, Role: string(t.Role), Label: t.Label, CreatedAt: ms(t.Created),
		ExpiresAt: nullTime(t.Expires)}
	if err := db.gdb.WithContext(ctx).Create(&row).Error; err != nil {
		return 0, fmt.Errorf("create token: %w", translate(err))
	}
	return row.ID, nil
}

// TokenByHash finds a token; bot.ErrNotFound if none has hash.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (*access.Token, error) {
	var row apiTokenRow
	if err := db.gdb.WithContext(ctx).Where("hash = ?", hash).Take(&row).Error; err != nil {
		return nil, fmt.Errorf("token: %w", translate(err))
	}
	t := row.toToken()
	return &t, nil
}

// Tokens lists every token, newest first.
func (db *DB) Tokens(ctx context.Context) ([]access.Token, error) {
	var rows []apiTokenRow
	if err := db.gdb.WithContext(ctx).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	out := make([]access.Token, len(rows))
	for i := range rows {
		out[i] = rows[i].toToken()
	}
	return out, nil
}

// RevokeToken marks a token revoked and deletes the sessions made from it;
// bot.ErrNotFound if id is unknown or already revoked.
func (db *DB) RevokeToken(ctx context.Context, id int64, at time.Time) error {
	return db.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&apiTokenRow{}).Where("id = ? AND revoked_at IS NULL", id).Update("revoked_at", ms(at))
		if res.Error != nil {
			return fmt.Errorf("revoke token %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("revoke token %d: %w", id, bot.ErrNotFound)
		}
		sessions := tx.Model(&sessionRow{}).Select("id").Where("token_id = ?", id)
		if err := tx.Where("session_id IN (?)", sessions).Delete(&loginCodeRow{}).Error; err != nil {
			return fmt.Errorf("revoke token %d: codes: %w", id, err)
		}
		if err := tx.Where("token_id = ?", id).Delete(&sessionRow{}).Error; err != nil {
			return fmt.Errorf("revoke token %d: sessions: %w", id, err)
		}
		return nil
	})
}

// CreateSession stores a session by its cookie's hash.
func (db *DB) CreateSession(ctx context.Context, s access.Session, hash []byte) (int64, error) {
	row := sessionRow{Hash: hash, UserID: s.UserID, Role: string(s.Role), Method: s.Method, TokenID: s.TokenID, Strong: s.Strong,
		CreatedAt: ms(s.Created), LastSeenAt: ms(s.LastSeen)}
	if err := db.gdb.WithContext(ctx).Create(&row).Error; err != nil {
		return 0, fmt.Errorf("create session: %w", translate(err))
	}
	return row.ID, nil
}

// SessionByHash finds a session; bot.ErrNotFound if none has hash.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (*access.Session, error) {
	var r sessionRow
	if err := db.gdb.WithContext(ctx).Where("hash = ?", hash).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("session: %w", translate(err))
	}
	return &access.Session{ID: r.ID, UserID: r.UserID, Role: access.Role(r.Role), Method: r.Method, TokenID: r.TokenID, Strong: r.Strong,
		Created: r.CreatedAt.UTC(), LastSeen: r.LastSeenAt.UTC()}, nil
}

// TouchSession records a session's latest request.
func (db *DB) TouchSession(ctx context.Context, id int64, at time.Time) error {
	return db.setSession(ctx, id, "last_seen_at", ms(at))
}

// StrengthenSession marks a session as having passed both factors.
func (db *DB) StrengthenSession(ctx context.Context, id int64) error {
	return db.setSession(ctx, id, "strong", true)
}

func (db *DB) setSession(ctx context.Context, id int64, col string, v any) error {
	if err := db.gdb.WithContext(ctx).Model(&sessionRow{}).Where("id = ?", id).Update(col, v).Error; err != nil {
		return fmt.Errorf("session %d: %w", id, err)
	}
	return nil
}

// DeleteSession ends a session and its codes.
func (db *DB) DeleteSession(ctx context.Context, id int64) error {
	return db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("session_id = ?", id).Delete(&loginCodeRow{}).Error; err != nil {
			return fmt.Errorf("session %d codes: %w", id, err)
		}
		if err := tx.Where("id = ?", id).Delete(&sessionRow{}).Error; err != nil {
			return fmt.Errorf("session %d: %w", id, err)
		}
		return nil
	})
}

// CreateCode stores a one-time code and queues its message in one
// transaction; earlier codes of the session stop counting.
func (db *DB) CreateCode(ctx context.Context, sessionID int64, hash []byte, expires time.Time, msg bot.Outgoing) error {
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("session_id = ?", sessionID).Delete(&loginCodeRow{}).Error; err != nil {
			return fmt.Errorf("codes of session %d: %w", sessionID, err)
		}
		if err := tx.Create(&loginCodeRow{SessionID: sessionID, Hash: hash, ExpiresAt: ms(expires)}).Error; err != nil {
			return fmt.Errorf("code of session %d: %w", sessionID, err)
		}
		return enqueue(tx, msg, db.clock.Now())
	})
	if err == nil {
		db.publish(ctx, bot.Committed{Queued: 1})
	}
	return err
}

// UseCode marks the session's code used if hash matches, it is unused and
// unexpired: one UPDATE, so two requests racing with the code cannot both
// succeed.
func (db *DB) UseCode(ctx context.Context, sessionID int64, hash []byte, now time.Time) (bool, error) {
	res := db.gdb.WithContext(ctx).Model(&loginCodeRow{}).
		Where("session_id = ? AND hash = ? AND used_at IS NULL AND expires_at > ?", sessionID, hash, ms(now)).
		Update("used_at", ms(now))
	if res.Error != nil {
		return false, fmt.Errorf("use code of session %d: %w", sessionID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

func rawOrEmpty(b json.RawMessage) string {
	if len(b) == 0 {
		return ""
	}
	return string(b)
}

// AppendAudit adds one audit row.
func (db *DB) AppendAudit(ctx context.Context, e access.Entry) error {
	agent := e.Agent
	if len(agent) > 255 {
		agent = agent[:255]
	}
	row := auditRow{At: ms(e.At), Actor: e.Actor, Action: e.Action, Target: e.Target, Before: rawOrEmpty(e.Before),
		After: rawOrEmpty(e.After), IP: e.IP, Agent: agent}
	if err := db.gdb.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// Audit lists audit rows newest first (by id: the log is append-only, so
// ids are in the order rows were written).
func (db *DB) Audit(ctx context.Context, f access.AuditFilter) ([]access.Entry, error) {
	q := db.gdb.WithContext(ctx).Model(&auditRow{})
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", ms(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", ms(f.To))
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	if f.Limit > 0 {
		q = q.Limit(f.Limit).Offset(f.Offset)
	}
	var rows []auditRow
	if err := q.Order("id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	out := make([]access.Entry, len(rows))
	for i, r := range rows {
		out[i] = access.Entry{ID: r.ID, At: r.At.UTC(), Actor: r.Actor, Action: r.Action, Target: r.Target,
			IP: r.IP, Agent: r.Agent}
		if r.Before != "" {
			out[i].Before = json.RawMessage(r.Before)
		}
		if r.After != "" {
			out[i].After = json.RawMessage(r.After)
		}
	}
	return out, nil
}

// PurgeAudit deletes the audit rows older than the retention
// (access.AuditRetention before now). The cut-off is computed here, not
// passed in, so no caller can delete a younger row.
func (db *DB) PurgeAudit(ctx context.Context, now time.Time) (int64, error) {
	res := db.gdb.WithContext(ctx).Where("at < ?", ms(now.Add(-access.AuditRetention))).Delete(&auditRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge audit: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// PurgeSessions deletes the sessions past their absolute lifetime (and
// their codes): such a session is refused anyway, its row only lingers.
func (db *DB) PurgeSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		old := tx.Model(&sessionRow{}).Select("id").Where("created_at < ?", ms(now.Add(-access.SessionAbsolute)))
		if err := tx.Where("session_id IN (?)", old).Delete(&loginCodeRow{}).Error; err != nil {
			return fmt.Errorf("purge session codes: %w", err)
		}
		res := tx.Where("created_at < ?", ms(now.Add(-access.SessionAbsolute))).Delete(&sessionRow{})
		n = res.RowsAffected
		if res.Error != nil {
			return fmt.Errorf("purge sessions: %w", res.Error)
		}
		return nil
	})
	return n, err
}
