// Package access decides who may use the admin API and what they may do:
// per-person API tokens (stored hashed), browser sessions, the two factors
// an administrator's change needs (WeCom login plus a one-time code sent to
// the person's WeCom 1:1), login rate limits and the append-only audit log.
// The HTTP edge (handlers) only parses and answers; the rules are here.
package access

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"weibao/bot"
)

// Role is what a person may do through the API, lowest first. A token or a
// session never has more than its person's directory role allows (MaxRole).
type Role string

const (
	Nurse    Role = "nurse"    // nothing but /me: nurses report in WeCom
	Viewer   Role = "viewer"   // reads tickets, roster, reports, support pages
	Engineer Role = "engineer" // also answers fault analyses
	Lead     Role = "lead"     // also changes the roster, reads the audit log
)

func (r Role) rank() int {
	switch r {
	case Viewer:
		return 1
	case Engineer:
		return 2
	case Lead:
		return 3
	}
	return 0
}

// ParseRole reads a role name; nurse is never granted by hand.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case Viewer, Engineer, Lead:
		return r, nil
	}
	return "", bot.Errorf(bot.ErrInvalid, "api.bad_field", map[string]any{"field": "role", "form": "role"},
		"role %q is not lead, engineer or viewer", s)
}

// AtLeast reports whether r may do what min may.
func (r Role) AtLeast(min Role) bool { return r.rank() >= min.rank() }

// MaxRole is the highest API role a person with directory role r may hold.
func MaxRole(r bot.Role) Role {
	switch r {
	case bot.RoleLead, bot.RoleAdmin:
		return Lead
	case bot.RoleEngineer:
		return Engineer
	}
	return Nurse
}

// Session lifetimes: a browser session ends 12 h after login whatever
// happens (a shift), or after 30 min without a request (a ward PC left
// unlocked).
const (
	SessionAbsolute = 12 * time.Hour
	SessionIdle     = 30 * time.Minute
	// touchEvery bounds the writes a busy session costs: last-seen is
	// stored at most once a minute, so idle expiry is exact to a minute.
	touchEvery = time.Minute
)

// Token is a per-person API token as stored: never the raw token, only
// its SHA-256 (Hash).
type Token struct {
	ID      int64
	UserID  string
	Role    Role
	Label   string
	Created time.Time
	Expires time.Time // zero: never
	Revoked time.Time // zero: in force
}

// Session is a browser login. Strong sessions may change the roster:
// they passed both factors, or came from a lead's CLI-made token.
type Session struct {
	ID       int64
	UserID   string
	Role     Role
	Method   string // "token" or "wecom"
	TokenID  int64  // the token a "token" session was made from
	Strong   bool
	Created  time.Time
	LastSeen time.Time
}

// Principal is who a request acts as.
type Principal struct {
	UserID string
	Name   string
	Role   Role
	// Strong: this request may change the roster and people (see Session).
	Strong    bool
	SessionID int64 // 0 for a bearer token
	TokenID   int64 // 0 for a session
}

// From is where a request came from, for the audit log.
type From struct {
	IP        string
	UserAgent string
}

// Entry is one audit log row. Before and After are JSON (null when there
// is nothing: a creation has no before, a deletion no after).
type Entry struct {
	ID     int64
	At     time.Time
	Actor  string // the user id, or what a failed login claimed ("" if nothing)
	Action string // e.g. "login.token", "login.failed", "oncall.override.set"
	Target string
	Before json.RawMessage
	After  json.RawMessage
	IP     string
	Agent  string
}

// AuditFilter selects audit rows, newest first; zero fields do not filter.
type AuditFilter struct {
	Actor    string
	Action   string
	From, To time.Time
	// BeforeID lists only rows older than that one: an export's cursor,
	// which rows appended meanwhile cannot shift as they shift an offset.
	BeforeID int64
	Offset   int
	Limit    int // 0: all
}

// AuditRetention is how long audit rows are kept at least: six calendar
// months are at most 184 days.
const AuditRetention = 184 * 24 * time.Hour

// Store keeps tokens, sessions, one-time codes and the audit log
// (storage.DB).
type Store interface {
	CreateToken(ctx context.Context, t Token, hash []byte) (int64, error)
	// TokenByHash returns bot.ErrNotFound for an unknown hash.
	TokenByHash(ctx context.Context, hash []byte) (*Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	// RevokeToken also ends the sessions made from the token; it returns
	// bot.ErrNotFound for an unknown or revoked id.
	RevokeToken(ctx context.Context, id int64, at time.Time) error

	CreateSession(ctx context.Context, s Session, hash []byte) (int64, error)
	SessionByHash(ctx context.Context, hash []byte) (*Session, error)
	TouchSession(ctx context.Context, id int64, at time.Time) error
	StrengthenSession(ctx context.Context, id int64) error
	DeleteSession(ctx context.Context, id int64) error

	// CreateCode stores a one-time code's hash for a session and queues msg
	// in the same transaction: the code exists only if its message does.
	CreateCode(ctx context.Context, sessionID int64, hash []byte, expires time.Time, msg bot.Outgoing) error
	// UseCode marks the session's unexpired, unused code with hash used;
	// false when there is none.
	UseCode(ctx context.Context, sessionID int64, hash []byte, now time.Time) (bool, error)

	AppendAudit(ctx context.Context, e Entry) error
	Audit(ctx context.Context, f AuditFilter) ([]Entry, error)
	// PurgeAudit deletes the rows older than AuditRetention before now
	// and returns how many.
	PurgeAudit(ctx context.Context, now time.Time) (int64, error)
}

// Limiter counts attempts per key in a sliding window shared by the
// replicas (redisstore.RateLog): the wait is zero when the attempt is
// counted, else how long until one fits.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (time.Duration, error)
}

// Login rate limit: per client IP and per account.
const (
	LoginLimit  = 5
	LoginWindow = time.Minute
)

// Code is the one-time code's validity.
const CodeTTL = 5 * time.Minute

// Errors the edge maps to answers.
var (
	// ErrUnauthenticated: no, a wrong, an expired or a revoked credential (401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrRateLimited: too many login attempts (429); see RateLimited.
	ErrRateLimited = errors.New("too many login attempts")
)

// RateLimited is ErrRateLimited with the wait.
type RateLimited struct{ Wait time.Duration }

func (e *RateLimited) Error() string {
	return fmt.Sprintf("too many login attempts, retry in %s", e.Wait)
}
func (e *RateLimited) Unwrap() error { return ErrRateLimited }

// People looks persons up (storage.DB).
type People interface {
	Person(ctx context.Context, userID string) (*bot.Person, error)
}

// Service is the access use cases.
type Service struct {
	store   Store
	people  People
	limiter Limiter
	clock   bot.Clock
	texts   Texts
	log     *slog.Logger
}

// Texts words the one-time code's message (the catalogue).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// New returns the service.
func New(store Store, people People, limiter Limiter, clock bot.Clock, texts Texts, log *slog.Logger) *Service {
	if clock == nil {
		clock = bot.SystemClock{}
	}
	return &Service{store: store, people: people, limiter: limiter, clock: clock, texts: texts, log: log}
}

// tokenPrefix marks weibao's tokens so a leaked one is recognisable
// (secret scanners, logs).
const tokenPrefix = "wbt_"

// Hash is how tokens, session ids and codes are stored: SHA-256. A token
// has 256 random bits, so a fast hash is enough; the database never holds
// what a request presents.
func Hash(raw string) []byte {
	sum := sha256.Sum256([]byte(raw))
	return sum[:]
}

func random(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// CreateToken makes a token for userID with role (empty: the most the
// person may have) and returns it raw, the only time it is ever seen.
// ttl 0 means it never expires.
func (s *Service) CreateToken(ctx context.Context, userID string, role Role, label string, ttl time.Duration) (string, Token, error) {
	p, err := s.people.Person(ctx, userID)
	if errors.Is(err, bot.ErrNotFound) {
		return "", Token{}, bot.Errorf(bot.ErrInvalid, "api.bad_field", map[string]any{"field": "person", "form": "known_person"},
			"person %q is not in the directory", userID)
	}
	if err != nil {
		return "", Token{}, err
	}
	top := MaxRole(p.Role)
	if role == "" {
		role = top
	}
	if top == Nurse || !top.AtLeast(role) {
		return "", Token{}, bot.Errorf(bot.ErrInvalid, "admin.role_too_high", map[string]any{"field": "role", "person": userID, "role": string(role)},
			"%s is a %s in the directory and may not hold a %s token", userID, p.Role, role)
	}
	now := s.clock.Now().UTC()
	t := Token{UserID: userID, Role: role, Label: label, Created: now}
	if ttl > 0 {
		t.Expires = now.Add(ttl)
	}
	raw := random(tokenPrefix)
	if t.ID, err = s.store.CreateToken(ctx, t, Hash(raw)); err != nil {
		return "", Token{}, err
	}
	return raw, t, nil
}

// Tokens lists every token, revoked ones too.
func (s *Service) Tokens(ctx context.Context) ([]Token, error) { return s.store.Tokens(ctx) }

// RevokeToken ends a token and the sessions made from it.
func (s *Service) RevokeToken(ctx context.Context, id int64) error {
	return s.store.RevokeToken(ctx, id, s.clock.Now().UTC())
}

// token resolves a raw token to the principal it acts as.
func (s *Service) token(ctx context.Context, raw string) (*Token, *bot.Person, error) {
	t, err := s.store.TokenByHash(ctx, Hash(raw))
	if errors.Is(err, bot.ErrNotFound) {
		return nil, nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, nil, err
	}
	now := s.clock.Now()
	if !t.Revoked.IsZero() || (!t.Expires.IsZero() && !now.Before(t.Expires)) {
		return nil, nil, ErrUnauthenticated
	}
	p, err := s.activePerson(ctx, t.UserID)
	if err != nil {
		return nil, nil, err
	}
	return t, p, nil
}

// activePerson is userID if the directory still has them active: someone
// who left loses access with their next request.
func (s *Service) activePerson(ctx context.Context, userID string) (*bot.Person, error) {
	p, err := s.people.Person(ctx, userID)
	if errors.Is(err, bot.ErrNotFound) || (err == nil && !p.Active) {
		return nil, ErrUnauthenticated
	}
	return p, err
}

// effective caps role by what the person's directory role allows today.
func effective(role Role, p *bot.Person) Role {
	if top := MaxRole(p.Role); !top.AtLeast(role) {
		return top
	}
	return role
}

// Bearer authenticates a request carrying an API token. A lead's token
// was made on the server (weibao token create), which is itself proof of
// access to it: it may change the roster.
func (s *Service) Bearer(ctx context.Context, raw string) (Principal, error) {
	t, p, err := s.token(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	role := effective(t.Role, p)
	return Principal{UserID: p.UserID, Name: p.Name, Role: role, Strong: role == Lead, TokenID: t.ID}, nil
}

// Cookie authenticates a request carrying a session id, ending sessions
// past their absolute or idle expiry.
func (s *Service) Cookie(ctx context.Context, raw string) (Principal, error) {
	ss, err := s.store.SessionByHash(ctx, Hash(raw))
	if errors.Is(err, bot.ErrNotFound) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	now := s.clock.Now()
	if !now.Before(ss.Created.Add(SessionAbsolute)) || !now.Before(ss.LastSeen.Add(SessionIdle)) {
		if err := s.store.DeleteSession(ctx, ss.ID); err != nil {
			return Principal{}, err
		}
		return Principal{}, ErrUnauthenticated
	}
	p, err := s.activePerson(ctx, ss.UserID)
	if err != nil {
		return Principal{}, err
	}
	if now.Sub(ss.LastSeen) >= touchEvery {
		if err := s.store.TouchSession(ctx, ss.ID, now.UTC()); err != nil {
			return Principal{}, err
		}
	}
	return Principal{UserID: p.UserID, Name: p.Name, Role: effective(ss.Role, p), Strong: ss.Strong, SessionID: ss.ID}, nil
}

// limit counts one login attempt against each key; ErrRateLimited (as
// *RateLimited) when any is over. A limiter that cannot count refuses: a
// login is never let through unlimited.
func (s *Service) limit(ctx context.Context, keys ...string) error {
	now := s.clock.Now()
	for _, k := range keys {
		wait, err := s.limiter.Allow(ctx, "login:"+k, LoginLimit, LoginWindow, now)
		if err != nil {
			return fmt.Errorf("login rate limit: %w: %w", bot.ErrUnavailable, err)
		}
		if wait > 0 {
			return &RateLimited{Wait: wait}
		}
	}
	return nil
}

// audit appends e, stamped now. The change it records has happened: a
// failed append is returned so the caller answers 500 and logs it.
func (s *Service) audit(ctx context.Context, e Entry) error {
	e.At = s.clock.Now().UTC()
	return s.store.AppendAudit(ctx, e)
}

// Audit records a change made through the API by p.
func (s *Service) Audit(ctx context.Context, p Principal, from From, action, target string, before, after any) error {
	return s.audit(ctx, Entry{Actor: p.UserID, Action: action, Target: target, Before: asJSON(before), After: asJSON(after),
		IP: from.IP, Agent: from.UserAgent})
}

// AuditLog lists audit rows.
func (s *Service) AuditLog(ctx context.Context, f AuditFilter) ([]Entry, error) {
	return s.store.Audit(ctx, f)
}

func asJSON(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	if b, ok := v.(json.RawMessage); ok {
		return b
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(err.Error())
	}
	return b
}

// newSession stores a session and returns its raw id for the cookie.
func (s *Service) newSession(ctx context.Context, userID string, role Role, tokenID int64, strong bool) (string, Session, error) {
	now := s.clock.Now().UTC()
	method := "wecom"
	if tokenID != 0 {
		method = "token"
	}
	ss := Session{UserID: userID, Role: role, Method: method, TokenID: tokenID, Strong: strong, Created: now, LastSeen: now}
	raw := random("")
	id, err := s.store.CreateSession(ctx, ss, Hash(raw))
	ss.ID = id
	return raw, ss, err
}

// LoginToken exchanges an API token for a browser session (raw id for the
// cookie). Attempts are limited per client IP, and once the token names
// its person per account too. Success and failure are audited.
func (s *Service) LoginToken(ctx context.Context, raw string, from From) (string, Principal, error) {
	if err := s.limit(ctx, "ip:"+from.IP); err != nil {
		s.loginFailed(ctx, "", "login.token", from, err)
		return "", Principal{}, err
	}
	t, p, err := s.token(ctx, strings.TrimSpace(raw))
	if err == nil {
		err = s.limit(ctx, "user:"+p.UserID)
	}
	if err != nil {
		actor := ""
		if p != nil {
			actor = p.UserID
		}
		s.loginFailed(ctx, actor, "login.token", from, err)
		return "", Principal{}, err
	}
	role := effective(t.Role, p)
	id, ss, err := s.newSession(ctx, p.UserID, role, t.ID, role == Lead)
	if err != nil {
		return "", Principal{}, err
	}
	pr := Principal{UserID: p.UserID, Name: p.Name, Role: role, Strong: ss.Strong, SessionID: ss.ID}
	err = s.audit(ctx, Entry{Actor: p.UserID, Action: "login.token", Target: fmt.Sprintf("token:%d", t.ID),
		After: asJSON(map[string]any{"role": role, "strong": ss.Strong}), IP: from.IP, Agent: from.UserAgent})
	return id, pr, err
}

// loginFailed audits a refused login. The refusal stands whatever the
// append does; a failed append is logged, so it is at least said.
func (s *Service) loginFailed(ctx context.Context, actor, action string, from From, why error) {
	reason := "bad_credential"
	switch {
	case errors.Is(why, ErrRateLimited):
		reason = "rate_limited"
	case errors.Is(why, bot.ErrUnavailable):
		reason = "unavailable"
	}
	err := s.audit(ctx, Entry{Actor: actor, Action: action + ".failed", After: asJSON(map[string]string{"reason": reason}),
		IP: from.IP, Agent: from.UserAgent})
	if err != nil {
		s.log.Error("audit: a refused login is not recorded", "action", action, "ip", from.IP, "err", err)
	}
}

// Logout ends the session p came with.
func (s *Service) Logout(ctx context.Context, p Principal, from From) error {
	if p.SessionID == 0 {
		return nil
	}
	if err := s.store.DeleteSession(ctx, p.SessionID); err != nil {
		return err
	}
	return s.audit(ctx, Entry{Actor: p.UserID, Action: "logout", Target: fmt.Sprintf("session:%d", p.SessionID), IP: from.IP, Agent: from.UserAgent})
}

// sixDigits is a uniformly random 000000–999999.
func sixDigits() string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
	return fmt.Sprintf("%06d", n.Int64())
}
