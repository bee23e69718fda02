package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/bot/roster"
	"weibao/storage"
	"weibao/storage/redisstore"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// apiEnv is the whole authenticated API over a fresh database and Redis.
type apiEnv struct {
	h       http.Handler
	db      *storage.DB
	svc     *access.Service
	clock   *testClock
	reports *fakeReports
	wecom   *fakeWeComLogin
}

// newAPI serves every API route over a database holding three engineers, a
// lead and a nurse and the seeded roster, at adminNow (the reports' clock
// is 2026-12-03 10:00).
func newAPI(t *testing.T) *apiEnv {
	t.Helper()
	rd, _ := redistest.Open(t)
	return newAPIOn(t, rd)
}

// newAPIOn is newAPI with the login rate limit in rd.
func newAPIOn(t *testing.T, rd *redisstore.Store) *apiEnv {
	t.Helper()
	ctx := context.Background()
	db := storagetest.Open(t)
	people := []bot.Person{
		{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer}, {UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer},
		{UserID: "eng3", Name: "王工", Role: bot.RoleEngineer}, {UserID: "lead1", Name: "赵经理", Role: bot.RoleLead},
		{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse},
	}
	if err := db.SyncDirectory(ctx, storage.DirectoryData{People: people,
		Wards: []bot.Ward{{Code: "med-icu", Name: "内科ICU"}}, Categories: []bot.Category{{Code: "his", Name: "HIS接口", Type: bot.FaultType("software")}}}); err != nil {
		t.Fatal(err)
	}
	ros := roster.New(db, db, storagetest.Shanghai)
	if _, err := ros.Seed(ctx, seededRoster()); err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: adminNow}
	s := newTestServer(nil)
	env := &apiEnv{db: db, clock: clock, reports: &fakeReports{}, wecom: &fakeWeComLogin{codes: map[string]string{}}}
	env.svc = access.New(db, db, rd.RateLog(redistest.Prefix()+"login:"), clock, s.opt.Texts, s.opt.Logger)
	s.RegisterAccess(env.svc)
	s.RegisterWeComLogin(env.wecom, "")
	s.RegisterAdmin(AdminOptions{Roster: ros, Clock: clock})
	loc := time.FixedZone("CST", 8*3600)
	s.RegisterReports(ReportOptions{Reports: env.reports, Runs: db, Files: db, Location: loc, Clock: clockAt(time.Date(2026, 12, 3, 10, 0, 0, 0, loc))})
	s.RegisterAPI(APIOptions{Board: db, Location: storagetest.Shanghai, Clock: clock})
	env.h = s.Handler()
	return env
}

// addTicket stores a ticket reported at at in med-icu.
func (e *apiEnv) addTicket(t *testing.T, at time.Time, p bot.Priority) *bot.Ticket {
	t.Helper()
	tk, _, err := bot.NewTicket(bot.Ticket{ReporterID: "nurse1", WardCode: "med-icu", Category: "his", Description: "护士站电脑登不上重症系统",
		Classification: bot.Classification{Scope: bot.ScopeDepartment, Type: bot.TypeSoftware, Severity: bot.SeverityClinical,
			Difficulty: bot.DifficultyRoutine, Priority: p, SLAClass: "routine"},
		Due: bot.Deadlines{Ack: at.Add(10 * time.Minute), Resolve: at.Add(30 * time.Minute)}}, "nurse1", at)
	if err != nil {
		t.Fatal(err)
	}
	ev := bot.Event{Kind: bot.EventReported, Actor: "nurse1", At: at, To: bot.StatusNew, Detail: tk.Description}
	if err := e.db.CreateTicket(context.Background(), tk, bot.Effects{Events: []bot.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	return tk
}

// tokenRaw stores raw as userID's API token with role (as weibao token
// create would store one it made).
func (e *apiEnv) tokenRaw(t *testing.T, userID string, role access.Role, raw string) {
	t.Helper()
	if _, err := e.db.CreateToken(context.Background(), access.Token{UserID: userID, Role: role, Created: e.clock.Now()}, access.Hash(raw)); err != nil {
		t.Fatal(err)
	}
}

// token makes userID a token with role through the service.
func (e *apiEnv) token(t *testing.T, userID string, role access.Role) string {
	t.Helper()
	raw, _, err := e.svc.CreateToken(context.Background(), userID, role, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// req is one request: bearer token or session cookie (either may be empty).
type req struct {
	method, path, body string
	bearer, cookie     string
	ip                 string
}

type answer struct {
	code   int
	body   string
	header http.Header
	err    apiErrorView
}

type apiErrorView struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEn string `json:"message_en"`
	Field     string `json:"field"`
}

func (e *apiEnv) do(t *testing.T, r req) answer {
	t.Helper()
	return e.doWith(t, r, nil)
}

func (e *apiEnv) doWith(t *testing.T, r req, cookies []*http.Cookie) answer {
	t.Helper()
	hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		hr.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.cookie != "" {
		hr.AddCookie(&http.Cookie{Name: SessionCookie, Value: r.cookie})
	}
	for _, c := range cookies {
		hr.AddCookie(c)
	}
	if r.ip != "" {
		hr.RemoteAddr = r.ip + ":4321"
	}
	hr.Header.Set("User-Agent", "api-test")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, hr)
	a := answer{code: rec.Code, body: rec.Body.String(), header: rec.Header()}
	if rec.Code >= 400 {
		if err := json.Unmarshal(rec.Body.Bytes(), &a.err); err != nil || a.err.Code == "" || a.err.Message == "" || a.err.MessageEn == "" {
			t.Errorf("%s %s = %d %q: want a JSON error with code, message and message_en", r.method, r.path, rec.Code, rec.Body.String())
		}
	}
	return a
}

// login exchanges raw for a session and returns its cookie value.
func (e *apiEnv) login(t *testing.T, raw string) string {
	t.Helper()
	a := e.do(t, req{method: "POST", path: "/api/v1/login/token", body: `{"token":"` + raw + `"}`})
	if a.code != http.StatusNoContent {
		t.Fatalf("login = %d %s", a.code, a.body)
	}
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == SessionCookie {
			return c.Value
		}
	}
	t.Fatalf("login set no %s cookie: %v", SessionCookie, a.header)
	return ""
}

// audit is the audit log's rows with action, newest first.
func (e *apiEnv) audit(t *testing.T, action string) []access.Entry {
	t.Helper()
	rows, err := e.db.Audit(context.Background(), access.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// fakeWeComLogin is WeCom's web login: codes map an OAuth code to a user
// id, each usable once, as WeCom's are.
type fakeWeComLogin struct {
	mu    sync.Mutex
	codes map[string]string
}

func (f *fakeWeComLogin) LoginURL(redirectURI, state string) string {
	return "https://login.work.weixin.qq.com/wwlogin/sso/login?state=" + state + "&redirect_uri=" + redirectURI
}

func (f *fakeWeComLogin) UserFromCode(ctx context.Context, code string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.codes[code]
	if !ok {
		return "", access.ErrUnauthenticated
	}
	delete(f.codes, code)
	return id, nil
}

func TestSessionLogin(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	raw := env.token(t, "eng1", "")
	cookie := env.login(t, raw)

	a := env.do(t, req{method: "GET", path: "/api/v1/me", cookie: cookie})
	var me struct {
		UserID, Name, Role, Via string
		Strong                  bool
	}
	json.Unmarshal([]byte(a.body), &me)
	if a.code != 200 || me.UserID != "eng1" || me.Name != "张工" || me.Role != "engineer" || me.Via != "session" || me.Strong {
		t.Errorf("/me = %d %s, want eng1 张工 engineer via a session, not strong", a.code, a.body)
	}
	if a := env.do(t, req{method: "GET", path: "/api/v1/me", bearer: raw}); a.code != 200 || !strings.Contains(a.body, `"via":"token"`) {
		t.Errorf("/me by bearer = %d %s", a.code, a.body)
	}
	if rows := env.audit(t, "login.token"); len(rows) != 1 || rows[0].Actor != "eng1" || rows[0].IP == "" || rows[0].Agent != "api-test" {
		t.Errorf("login audit rows %+v, want one for eng1 with IP and agent", rows)
	}

	// Idle for 31 minutes: the session is over.
	env.clock.Add(31 * time.Minute)
	if a := env.do(t, req{method: "GET", path: "/api/v1/me", cookie: cookie}); a.code != 401 || a.err.Code != "unauthenticated" {
		t.Errorf("/me after 31 idle minutes = %d %s, want 401", a.code, a.body)
	}

	// Active every 20 minutes, it still ends 12 h after the login.
	cookie = env.login(t, raw)
	for range 35 {
		env.clock.Add(20 * time.Minute)
		if a := env.do(t, req{method: "GET", path: "/api/v1/me", cookie: cookie}); a.code != 200 {
			t.Fatalf("/me while active = %d", a.code)
		}
	}
	env.clock.Add(20 * time.Minute) // 12 h
	if a := env.do(t, req{method: "GET", path: "/api/v1/me", cookie: cookie}); a.code != 401 {
		t.Errorf("/me 12 h after login = %d, want 401", a.code)
	}

	// Revoking the token ends the sessions made from it.
	cookie = env.login(t, raw)
	tokens, err := env.svc.Tokens(context.Background())
	if err != nil || env.svc.RevokeToken(context.Background(), tokens[0].ID) != nil {
		t.Fatal(err)
	}
	if a := env.do(t, req{method: "GET", path: "/api/v1/me", cookie: cookie}); a.code != 401 {
		t.Errorf("/me after the token was revoked = %d, want 401", a.code)
	}

	raw = env.token(t, "eng1", "")
	cookie = env.login(t, raw)
	if a := env.do(t, req{method: "POST", path: "/api/v1/logout", cookie: cookie}); a.code != 204 {
		t.Fatalf("logout = %d %s", a.code, a.body)
	}
	if a := env.do(t, req{method: "GET", path: "/api/v1/me", cookie: cookie}); a.code != 401 {
		t.Errorf("/me after logout = %d, want 401", a.code)
	}
	if len(env.audit(t, "logout")) != 1 {
		t.Errorf("logout not audited")
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	raw := env.token(t, "lead1", "")
	for _, https := range []bool{false, true} {
		hr := httptest.NewRequest("POST", "/api/v1/login/token", strings.NewReader(`{"token":"`+raw+`"}`))
		if https {
			hr.Header.Set("X-Forwarded-Proto", "https")
		}
		rec := httptest.NewRecorder()
		env.h.ServeHTTP(rec, hr)
		cs := rec.Result().Cookies()
		if rec.Code != 204 || len(cs) != 1 {
			t.Fatalf("login = %d, cookies %v", rec.Code, cs)
		}
		c := cs[0]
		if c.Name != SessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure != https || c.Path != "/" {
			t.Errorf("https=%v: cookie %+v, want HttpOnly, SameSite=Strict, Secure only over https", https, c)
		}
		if c.Value == raw || len(c.Value) < 40 {
			t.Errorf("cookie value %q: want a fresh random session id, not the token", c.Value)
		}
	}
}

func TestLoginRefused(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	revoked := env.token(t, "eng2", "")
	tokens, _ := env.svc.Tokens(context.Background())
	env.svc.RevokeToken(context.Background(), tokens[0].ID)
	expiring, _, err := env.svc.CreateToken(context.Background(), "eng3", "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	env.clock.Add(time.Hour)
	tests := []struct {
		name, body string
		code       int
		field      string
	}{
		{"wrong token", `{"token":"wbt_nope"}`, 401, ""},
		{"revoked token", `{"token":"` + revoked + `"}`, 401, ""},
		{"expired token", `{"token":"` + expiring + `"}`, 401, ""},
		{"empty token", `{"token":""}`, 400, "token"},
		{"not JSON", `token=x`, 400, "body"},
		{"unknown field", `{"tokn":"x"}`, 400, "tokn"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each from its own address: the rate limit is another test's.
			a := env.do(t, req{method: "POST", path: "/api/v1/login/token", body: tt.body, ip: "10.0.0." + string(rune('1'+i))})
			if a.code != tt.code || a.err.Field != tt.field {
				t.Errorf("= %d %s, want %d naming field %q", a.code, a.body, tt.code, tt.field)
			}
			if len(a.header.Values("Set-Cookie")) != 0 {
				t.Errorf("a refused login set a cookie")
			}
		})
	}
	if got := len(env.audit(t, "login.token.failed")); got != 3 {
		t.Errorf("%d failed logins audited, want 3", got)
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	raw := env.token(t, "eng1", "")
	for i := range access.LoginLimit {
		if a := env.do(t, req{method: "POST", path: "/api/v1/login/token", body: `{"token":"wbt_wrong"}`, ip: "10.1.1.1"}); a.code != 401 {
			t.Fatalf("attempt %d = %d, want 401", i+1, a.code)
		}
	}
	// The sixth attempt within the minute is refused, even with the right token.
	a := env.do(t, req{method: "POST", path: "/api/v1/login/token", body: `{"token":"` + raw + `"}`, ip: "10.1.1.1"})
	if a.code != 429 || a.err.Code != "rate_limited" || a.header.Get("Retry-After") == "" {
		t.Errorf("sixth attempt = %d %s (Retry-After %q), want 429 with Retry-After", a.code, a.body, a.header.Get("Retry-After"))
	}
	// Another address is not held up.
	if a := env.do(t, req{method: "POST", path: "/api/v1/login/token", body: `{"token":"` + raw + `"}`, ip: "10.1.1.2"}); a.code != 204 {
		t.Errorf("login from another address = %d, want 204", a.code)
	}
	env.clock.Add(access.LoginWindow)
	if a := env.do(t, req{method: "POST", path: "/api/v1/login/token", body: `{"token":"` + raw + `"}`, ip: "10.1.1.1"}); a.code != 204 {
		t.Errorf("login a minute later = %d %s, want 204", a.code, a.body)
	}
	if rows := env.audit(t, "login.token.failed"); len(rows) != 6 || !strings.Contains(string(rows[0].After), "rate_limited") {
		t.Errorf("failed logins audited: %d (latest %s), want 6, the latest rate_limited", len(rows), rows[0].After)
	}
}

func TestTokenRoles(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	ctx := context.Background()
	tests := []struct {
		person string
		role   access.Role
		ok     bool
		want   access.Role
	}{
		{"lead1", "", true, access.Lead},
		{"lead1", access.Viewer, true, access.Viewer},
		{"eng1", "", true, access.Engineer},
		{"eng1", access.Viewer, true, access.Viewer},
		{"eng1", access.Lead, false, ""},
		{"nurse1", "", false, ""},
		{"nurse1", access.Viewer, false, ""},
		{"ghost", "", false, ""},
	}
	for _, tt := range tests {
		_, tok, err := env.svc.CreateToken(ctx, tt.person, tt.role, "", 0)
		if (err == nil) != tt.ok || (tt.ok && tok.Role != tt.want) {
			t.Errorf("CreateToken(%s, %q) = %v, %v; want ok=%v role %s", tt.person, tt.role, tok.Role, err, tt.ok, tt.want)
		}
	}
}

// With Redis down no login is let through uncounted: 503, and the refusal
// is audited; requests with a credential already held still work.
func TestLoginWithRedisDown(t *testing.T) {
	t.Parallel()
	env := newAPIOn(t, redistest.Down(t))
	raw := env.token(t, "eng1", "")
	a := env.do(t, req{method: "POST", path: "/api/v1/login/token", body: `{"token":"` + raw + `"}`})
	if a.code != 503 || a.err.Code != "unavailable" {
		t.Errorf("login with Redis down = %d %s, want 503 unavailable", a.code, a.body)
	}
	if rows := env.audit(t, "login.token.failed"); len(rows) != 1 || !strings.Contains(string(rows[0].After), "unavailable") {
		t.Errorf("refused login audited as %+v", rows)
	}
	if a := env.do(t, req{method: "GET", path: "/api/v1/oncall", bearer: raw}); a.code != 200 {
		t.Errorf("bearer request with Redis down = %d, want 200", a.code)
	}
}
