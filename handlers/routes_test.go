package handlers

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/storage"
)

// route is one API route, the least credential it takes, and a request it
// answers with want when given that credential.
type route struct {
	method, path, body string
	min                string // nurse, viewer, engineer, lead, strong (a lead who passed both factors)
	want               int
	audit              string // the audit action a successful call writes, if any
}

var routes = []route{
	{"GET", "/api/v1/me", "", "nurse", 200, ""},
	{"GET", "/api/v1/oncall", "", "viewer", 200, ""},
	{"PUT", "/api/v1/oncall", `{"lead":"lead1","start":"2026-11-23 09:00","shift":"168h","primary":["eng1","eng2"],"overrides":[{"date":"2026-12-31","primary":"eng3"}]}`, "strong", 204, "oncall.replace"},
	{"PUT", "/api/v1/oncall/overrides/2026-12-01", `{"primary":"eng3"}`, "strong", 204, "oncall.override.set"},
	{"DELETE", "/api/v1/oncall/overrides/2026-12-01", "", "strong", 204, "oncall.override.delete"},
	{"GET", "/api/v1/reports/digest?date=2026-11-25", "", "viewer", 200, ""},
	{"GET", "/api/v1/reports/monthly?month=2026-11", "", "viewer", 200, ""},
	{"GET", "/api/v1/reports/quarterly?quarter=2026Q4", "", "viewer", 200, ""},
	{"GET", "/api/v1/tickets/F20261112-0004/analysis", "", "viewer", 200, ""},
	{"POST", "/api/v1/tickets/F20261112-0004/analysis", `{"cause":"接口超时","impact":"无","conclusion":"已修复"}`, "engineer", 204, "analysis.submit"},
	{"GET", "/api/v1/jobs/runs", "", "viewer", 200, ""},
	{"GET", "/api/v1/files/99", "", "viewer", 404, ""},
	{"GET", "/api/v1/tickets?status=new", "", "viewer", 200, ""},
	{"GET", "/api/v1/tickets/F20261124-0001", "", "viewer", 200, ""},
	{"GET", "/api/v1/wards", "", "viewer", 200, ""},
	{"GET", "/api/v1/categories", "", "viewer", 200, ""},
	{"GET", "/api/v1/outbox", "", "viewer", 200, ""},
	{"GET", "/api/v1/audit", "", "lead", 200, ""},
	{"GET", "/api/v1/audit/export", "", "lead", 200, "audit.export"},
}

// creds holds one credential per role: bearer tokens, and a lead's
// session that passed WeCom login but not the one-time code.
type creds map[string]req

func newCreds(t *testing.T, env *apiEnv) creds {
	t.Helper()
	env.tokenRaw(t, "nurse1", access.Nurse, "wbt_nurse-token")
	c := creds{
		"nurse":    {bearer: "wbt_nurse-token"},
		"viewer":   {bearer: env.token(t, "lead1", access.Viewer)},
		"engineer": {bearer: env.token(t, "eng1", access.Engineer)},
		"lead":     {bearer: env.token(t, "lead1", access.Lead)},
	}
	c["weak-lead"] = req{cookie: env.wecomLogin(t, "lead1", "10.9.9.9")}
	c["strong"] = c["lead"]
	return c
}

// below is the credential one step short of min, and the code it gets.
var below = map[string]struct{ cred, code string }{
	"viewer":   {"nurse", "forbidden"},
	"engineer": {"viewer", "forbidden"},
	"lead":     {"engineer", "forbidden"},
	"strong":   {"weak-lead", "second_factor_required"},
}

func (r route) with(c req) req {
	c.method, c.path, c.body = r.method, r.path, r.body
	return c
}

func TestEveryRouteNeedsAuthentication(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	bad := []req{{}, {bearer: "wbt_unknown"}, {cookie: "not-a-session"}}
	for _, r := range routes {
		for _, c := range bad {
			a := env.do(t, r.with(c))
			if a.code != 401 || a.err.Code != "unauthenticated" || a.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s with %+v = %d %s, want 401 unauthenticated with a challenge", r.method, r.path, c, a.code, a.body)
			}
		}
	}
	for _, r := range []route{{method: "POST", path: "/api/v1/logout"}, {method: "POST", path: "/api/v1/login/code", body: `{"code":"123456"}`}} {
		if a := env.do(t, r.with(req{})); a.code != 401 {
			t.Errorf("%s %s without a session = %d, want 401", r.method, r.path, a.code)
		}
	}
}

func TestEveryRouteChecksTheRole(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	c := newCreds(t, env)
	env.addTicket(t, adminNow.Add(-time.Hour), bot.P2)
	for _, r := range routes {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			if b, ok := below[r.min]; ok {
				if a := env.do(t, r.with(c[b.cred])); a.code != 403 || a.err.Code != b.code {
					t.Errorf("as %s = %d %s, want 403 %s", b.cred, a.code, a.body, b.code)
				}
				if r.min == "strong" {
					if a := env.do(t, r.with(c["engineer"])); a.code != 403 || a.err.Code != "forbidden" {
						t.Errorf("as engineer = %d %s, want 403 forbidden", a.code, a.body)
					}
				}
			}
			a := env.do(t, r.with(c[r.min]))
			if a.code != r.want {
				t.Fatalf("as %s = %d %s, want %d", r.min, a.code, a.body, r.want)
			}
			if r.audit == "" {
				return
			}
			rows := env.audit(t, r.audit)
			if len(rows) != 1 {
				t.Fatalf("%d audit rows %q, want 1", len(rows), r.audit)
			}
			e := rows[0]
			if e.Actor == "" || e.IP == "" || e.Agent != "api-test" || e.At.IsZero() || e.Target == "" || len(e.After) == 0 {
				t.Errorf("audit row %+v: want who, from where, when, what and the after", e)
			}
			if strings.HasPrefix(r.audit, "oncall.") && len(e.Before) == 0 {
				t.Errorf("audit row %+v: a roster change records the before too", e)
			}
		})
	}
}

// A person whose directory role is now nurse loses their token's rights
// at the next request: the role is checked against the directory, not
// only the token.
func TestDemotedPersonIsForbidden(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	raw := env.token(t, "eng2", access.Engineer)
	if a := env.do(t, req{method: "GET", path: "/api/v1/oncall", bearer: raw}); a.code != 200 {
		t.Fatalf("as engineer = %d", a.code)
	}
	if err := env.db.SyncDirectory(context.Background(), storage.DirectoryData{People: []bot.Person{
		{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer}, {UserID: "eng2", Name: "刘工", Role: bot.RoleNurse},
		{UserID: "eng3", Name: "王工", Role: bot.RoleEngineer}, {UserID: "lead1", Name: "赵经理", Role: bot.RoleLead},
		{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse}}}); err != nil {
		t.Fatal(err)
	}
	if a := env.do(t, req{method: "GET", path: "/api/v1/oncall", bearer: raw}); a.code != 403 {
		t.Errorf("as a nurse now = %d %s, want 403", a.code, a.body)
	}
	if a := env.do(t, req{method: "GET", path: "/api/v1/me", bearer: raw}); a.code != 200 || !strings.Contains(a.body, `"role":"nurse"`) {
		t.Errorf("/me as a nurse now = %d %s", a.code, a.body)
	}
}

func TestBadInputNamesTheField(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	c := newCreds(t, env)
	lead := c["lead"]
	audited := len(env.audit(t, ""))
	tests := []struct {
		method, path, body, field string
	}{
		{"PUT", "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"168h","primary":["nurse1"]}`, "primary"},
		{"PUT", "/api/v1/oncall", `{"lead":"eng1","start":"2026-11-23 09:00","shift":"168h","primary":["eng1"]}`, "lead"},
		{"PUT", "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1"],"backup":["lead1"]}`, "backup"},
		{"PUT", "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1"],"overrides":[{"date":"2026-12-01","primary":"nurse1"}]}`, "overrides.primary"},
		{"PUT", "/api/v1/oncall/overrides/2026-12-01", `{"primary":"nurse1"}`, "primary"},
		{"PUT", "/api/v1/oncall/overrides/2026-12-01", `{"primary":"eng1","backup":"lead1"}`, "backup"},
		{"DELETE", "/api/v1/oncall/overrides/1.12.2026", "", "date"},
		{"GET", "/api/v1/reports/monthly?month=Nov", "", "month"},
		{"GET", "/api/v1/tickets/x/analysis", "", "no"},
		{"POST", "/api/v1/tickets/F20261112-0004/analysis", `{"cause":"a","impact":"b"}`, "conclusion"},
		{"POST", "/api/v1/tickets/x/analysis", `{"cause":"a","impact":"b","conclusion":"c"}`, "no"},
		{"GET", "/api/v1/jobs/runs?per_page=1000", "", "per_page"},
		{"GET", "/api/v1/jobs/runs?limit=5", "", "limit"},
		{"GET", "/api/v1/files/abc", "", "id"},
		{"GET", "/api/v1/tickets?status=open", "", "status"},
		{"GET", "/api/v1/tickets?priority=P5", "", "priority"},
		{"GET", "/api/v1/tickets?ward=nowhere", "", "ward"},
		{"GET", "/api/v1/tickets?from=2026-11-30&to=2026-11-01", "", "to"},
		{"GET", "/api/v1/tickets?from=yesterday", "", "from"},
		{"GET", "/api/v1/tickets?statsu=new", "", "statsu"},
		{"GET", "/api/v1/tickets?page=0", "", "page"},
		{"GET", "/api/v1/tickets/F2026-1", "", "no"},
		{"GET", "/api/v1/wards?per_page=x", "", "per_page"},
		{"GET", "/api/v1/categories?page=-1", "", "page"},
		{"GET", "/api/v1/outbox?status=sent", "", "status"},
		{"GET", "/api/v1/audit?from=2026-13-01", "", "from"},
		{"GET", "/api/v1/audit/export?who=me", "", "who"},
		{"POST", "/api/v1/login/token", `{"token":""}`, "token"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.field, func(t *testing.T) {
			r := lead
			r.method, r.path, r.body = tt.method, tt.path, tt.body
			a := env.do(t, r)
			if a.code != 400 || a.err.Code != "invalid_field" || a.err.Field != tt.field {
				t.Fatalf("= %d %s, want 400 invalid_field naming %q", a.code, a.body, tt.field)
			}
			checkBadRequest(t, a.err.MessageEn, a.err.Message, a.err.Field)
		})
	}
	if rows := env.audit(t, ""); len(rows) != audited {
		t.Errorf("refused requests wrote audit rows: %+v", rows[0])
	}
}

func TestTicketList(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	c := newCreds(t, env)
	day := time.Date(2026, 11, 20, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for i := range 5 {
		env.addTicket(t, day.AddDate(0, 0, i), []bot.Priority{bot.P1, bot.P3}[i%2])
	}
	list := func(q string) (nos []string, more bool) {
		t.Helper()
		r := c["viewer"]
		r.method, r.path = "GET", "/api/v1/tickets"+q
		a := env.do(t, r)
		var out struct {
			Items   []ticketJSON `json:"items"`
			HasMore bool         `json:"has_more"`
			Page    int          `json:"page"`
			PerPage int          `json:"per_page"`
		}
		if a.code != 200 || json.Unmarshal([]byte(a.body), &out) != nil {
			t.Fatalf("GET %s = %d %s", q, a.code, a.body)
		}
		for _, x := range out.Items {
			nos = append(nos, x.No)
		}
		return nos, out.HasMore
	}
	tests := []struct {
		q    string
		want string
		more bool
	}{
		{"", "F20261124-0001 F20261123-0001 F20261122-0001 F20261121-0001 F20261120-0001", false},
		{"?priority=P1", "F20261124-0001 F20261122-0001 F20261120-0001", false},
		{"?priority=P1,P3&ward=med-icu&status=new", "F20261124-0001 F20261123-0001 F20261122-0001 F20261121-0001 F20261120-0001", false},
		{"?from=2026-11-21&to=2026-11-22", "F20261122-0001 F20261121-0001", false},
		{"?status=resolved", "", false},
		{"?per_page=2", "F20261124-0001 F20261123-0001", true},
		{"?per_page=2&page=2", "F20261122-0001 F20261121-0001", true},
		{"?per_page=2&page=3", "F20261120-0001", false},
		{"?per_page=2&page=9", "", false},
	}
	for _, tt := range tests {
		nos, more := list(tt.q)
		if got := strings.Join(nos, " "); got != tt.want || more != tt.more {
			t.Errorf("GET /api/v1/tickets%s = %q (more %v), want %q (more %v)", tt.q, got, more, tt.want, tt.more)
		}
	}

	r := c["viewer"]
	r.method, r.path = "GET", "/api/v1/tickets/F20261122-0001"
	a := env.do(t, r)
	var detail struct {
		Ticket   ticketJSON `json:"ticket"`
		Timeline []struct {
			Kind, Actor string
		} `json:"timeline"`
	}
	if a.code != 200 || json.Unmarshal([]byte(a.body), &detail) != nil || detail.Ticket.Priority != "P1" ||
		len(detail.Timeline) != 1 || detail.Timeline[0].Kind != "reported" {
		t.Errorf("ticket detail = %d %s", a.code, a.body)
	}
	r.path = "/api/v1/tickets/F20261122-0009"
	if a := env.do(t, r); a.code != 404 || a.err.Code != "not_found" {
		t.Errorf("unknown ticket = %d %s, want 404", a.code, a.body)
	}
}

func TestOutboxNeverShowsText(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	c := newCreds(t, env) // the weak lead's login queued a one-time code
	r := c["viewer"]
	r.method, r.path = "GET", "/api/v1/outbox?status=pending"
	a := env.do(t, r)
	if a.code != 200 || !strings.Contains(a.body, `"to_users":["lead1"]`) {
		t.Fatalf("outbox = %d %s, want the code's message to lead1", a.code, a.body)
	}
	if code := env.sentCode(t, "lead1"); strings.Contains(a.body, code+"，") || strings.Contains(a.body, "验证码") {
		t.Errorf("outbox shows a message's text: %s", a.body)
	}
}

func TestAuditListAndExport(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	c := newCreds(t, env)
	for i := range 3 {
		env.do(t, req{method: "POST", path: "/api/v1/login/token", body: `{"token":"wbt_wrong"}`, ip: "10.3.0." + string(rune('1'+i))})
	}
	r := c["lead"]
	r.method, r.path = "GET", "/api/v1/audit?action=login.token.failed&per_page=2"
	a := env.do(t, r)
	var page struct {
		Items []struct {
			Action, IP string
		} `json:"items"`
		HasMore bool `json:"has_more"`
	}
	if a.code != 200 || json.Unmarshal([]byte(a.body), &page) != nil || len(page.Items) != 2 || !page.HasMore || page.Items[0].IP != "10.3.0.3" {
		t.Errorf("audit page = %d %s, want the 2 newest failed logins and more", a.code, a.body)
	}

	r.path = "/api/v1/audit/export?action=login.token.failed"
	a = env.do(t, r)
	if a.code != 200 || !strings.HasPrefix(a.header.Get("Content-Type"), "text/csv") || !strings.Contains(a.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export = %d %v", a.code, a.header)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(a.body, "\uFEFF"))).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][3] != "action" || recs[1][3] != "login.token.failed" {
		t.Errorf("export CSV = %v (%v), want a header and the 3 failed logins", recs, err)
	}
	if got := env.audit(t, "audit.export"); len(got) != 1 || got[0].Actor != "lead1" {
		t.Errorf("export not audited: %+v", got)
	}
}

// wecomLogin logs userID in through the (fake) WeCom web login and returns
// the session cookie; the session has not passed the one-time code.
func (e *apiEnv) wecomLogin(t *testing.T, userID, ip string) string {
	t.Helper()
	a := e.do(t, req{method: "GET", path: "/api/v1/login/wecom", ip: ip})
	loc := a.header.Get("Location")
	m := regexp.MustCompile(`state=([0-9a-f]+)`).FindStringSubmatch(loc)
	if a.code != http.StatusFound || m == nil || !strings.Contains(loc, "redirect_uri=http://example.com/api/v1/login/wecom/callback") {
		t.Fatalf("login/wecom = %d to %q, want a redirect to WeCom with a state", a.code, loc)
	}
	state := m[1]
	var stateCookie string
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == "weibao_oauth_state" {
			stateCookie = c.Value
		}
	}
	code := "oauth-" + userID + "-" + state
	e.wecom.mu.Lock()
	e.wecom.codes[code] = userID
	e.wecom.mu.Unlock()
	hr := req{method: "GET", path: "/api/v1/login/wecom/callback?code=" + code + "&state=" + state, ip: ip}
	rec := e.raw(t, hr, &http.Cookie{Name: "weibao_oauth_state", Value: stateCookie})
	if rec.code != 200 || !strings.Contains(rec.body, `url=/`) {
		t.Fatalf("callback = %d %s", rec.code, rec.body)
	}
	for _, c := range (&http.Response{Header: rec.header}).Cookies() {
		if c.Name == SessionCookie && c.Value != "" {
			return c.Value
		}
	}
	t.Fatalf("callback set no session")
	return ""
}

// raw is do with extra cookies.
func (e *apiEnv) raw(t *testing.T, r req, cookies ...*http.Cookie) answer {
	t.Helper()
	return e.doWith(t, r, cookies)
}

// sentCode is the one-time code the bot queued for userID last.
func (e *apiEnv) sentCode(t *testing.T, userID string) string {
	t.Helper()
	// The outbox keeps wall-clock times, not the test's clock.
	ds, err := e.db.ClaimDeliveries(context.Background(), time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	code := ""
	for _, d := range ds {
		if len(d.Message.ToUsers) == 1 && d.Message.ToUsers[0] == userID && strings.HasPrefix(d.Message.Key, "login-code:") {
			code = regexp.MustCompile(`\d{6}`).FindString(d.Message.Text)
		}
	}
	if code == "" {
		t.Fatalf("no one-time code queued for %s", userID)
	}
	return code
}

func TestTwoFactorLogin(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	override := func(cookie string) answer {
		return env.do(t, req{method: "PUT", path: "/api/v1/oncall/overrides/2026-12-02", body: `{"primary":"eng2"}`, cookie: cookie})
	}
	cookie := env.wecomLogin(t, "lead1", "10.5.0.1")
	code := env.sentCode(t, "lead1")
	if a := env.do(t, req{method: "GET", path: "/api/v1/oncall", cookie: cookie}); a.code != 200 {
		t.Errorf("a WeCom session may read: %d", a.code)
	}
	if a := override(cookie); a.code != 403 || a.err.Code != "second_factor_required" {
		t.Errorf("change before the code = %d %s, want 403 second_factor_required", a.code, a.body)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if a := env.do(t, req{method: "POST", path: "/api/v1/login/code", body: `{"code":"` + wrong + `"}`, cookie: cookie, ip: "10.5.0.1"}); a.code != 401 {
		t.Errorf("wrong code = %d %s, want 401", a.code, a.body)
	}
	if a := env.do(t, req{method: "POST", path: "/api/v1/login/code", body: `{"code":"12345"}`, cookie: cookie}); a.code != 400 || a.err.Field != "code" {
		t.Errorf("5-digit code = %d %s, want 400 naming code", a.code, a.body)
	}
	if a := env.do(t, req{method: "POST", path: "/api/v1/login/code", body: `{"code":"` + code + `"}`, cookie: cookie, ip: "10.5.0.1"}); a.code != 204 {
		t.Fatalf("right code = %d %s, want 204", a.code, a.body)
	}
	if a := override(cookie); a.code != 204 {
		t.Errorf("change after both factors = %d %s, want 204", a.code, a.body)
	}
	if rows := env.audit(t, "oncall.override.set"); len(rows) != 1 || rows[0].Actor != "lead1" {
		t.Errorf("change not audited as lead1: %+v", rows)
	}

	// One use: the same code does not strengthen a second session. (A
	// minute on: lead1's five login attempts a minute are used up.)
	env.clock.Add(access.LoginWindow)
	cookie2 := env.wecomLogin(t, "lead1", "10.5.0.2")
	env.sentCode(t, "lead1")
	if a := env.do(t, req{method: "POST", path: "/api/v1/login/code", body: `{"code":"` + code + `"}`, cookie: cookie2, ip: "10.5.0.2"}); a.code != 401 {
		t.Errorf("a used code on another session = %d, want 401", a.code)
	}

	// Expiry: a code is good for 5 minutes.
	env.clock.Add(access.LoginWindow)
	cookie3 := env.wecomLogin(t, "lead1", "10.5.0.3")
	code3 := env.sentCode(t, "lead1")
	env.clock.Add(access.CodeTTL + time.Second)
	if a := env.do(t, req{method: "POST", path: "/api/v1/login/code", body: `{"code":"` + code3 + `"}`, cookie: cookie3, ip: "10.5.0.3"}); a.code != 401 {
		t.Errorf("a code after 5 min = %d, want 401", a.code)
	}
	if a := override(cookie3); a.code != 403 {
		t.Errorf("change with an expired code's session = %d, want 403", a.code)
	}
	if n := len(env.audit(t, "login.code.failed")); n != 3 {
		t.Errorf("%d failed codes audited, want 3", n)
	}
}

func TestWeComLoginRefused(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	// A nurse is who WeCom says, but has no console.
	a := env.do(t, req{method: "GET", path: "/api/v1/login/wecom"})
	state := regexp.MustCompile(`state=([0-9a-f]+)`).FindStringSubmatch(a.header.Get("Location"))[1]
	env.wecom.codes["c-nurse"] = "nurse1"
	r := env.raw(t, req{method: "GET", path: "/api/v1/login/wecom/callback?code=c-nurse&state=" + state}, &http.Cookie{Name: "weibao_oauth_state", Value: state})
	if r.code != 401 {
		t.Errorf("nurse's WeCom login = %d %s, want 401", r.code, r.body)
	}
	// A state that is not this browser's: refused before WeCom is asked.
	env.wecom.codes["c-lead"] = "lead1"
	r = env.raw(t, req{method: "GET", path: "/api/v1/login/wecom/callback?code=c-lead&state=" + state}, &http.Cookie{Name: "weibao_oauth_state", Value: "other"})
	if r.code != 400 || r.err.Field != "state" {
		t.Errorf("foreign state = %d %s, want 400 naming state", r.code, r.body)
	}
	if _, ok := env.wecom.codes["c-lead"]; !ok {
		t.Errorf("the code was spent on a refused state")
	}
	// A code WeCom does not know.
	r = env.raw(t, req{method: "GET", path: "/api/v1/login/wecom/callback?code=forged&state=" + state}, &http.Cookie{Name: "weibao_oauth_state", Value: state})
	if r.code != 401 {
		t.Errorf("forged code = %d, want 401", r.code)
	}
	if n := len(env.audit(t, "login.wecom.failed")); n != 2 {
		t.Errorf("%d failed WeCom logins audited, want 2", n)
	}
}

func TestCodeRateLimit(t *testing.T) {
	t.Parallel()
	env := newAPI(t)
	cookie := env.wecomLogin(t, "lead1", "10.6.0.1")
	code := env.sentCode(t, "lead1")
	wrong := "999999"
	if code == wrong {
		wrong = "999998"
	}
	// Each guess from a new address: the per-account limit still holds.
	for i := range access.LoginLimit {
		env.do(t, req{method: "POST", path: "/api/v1/login/code", body: `{"code":"` + wrong + `"}`, cookie: cookie, ip: "10.6.1." + string(rune('1'+i))})
	}
	a := env.do(t, req{method: "POST", path: "/api/v1/login/code", body: `{"code":"` + code + `"}`, cookie: cookie, ip: "10.6.2.1"})
	if a.code != 429 || a.header.Get("Retry-After") == "" {
		t.Errorf("sixth code attempt for lead1 = %d %s, want 429", a.code, a.body)
	}
}
