package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot/access"
	"weibao/bot/roster"
	"weibao/storage/storagetest"
)

const adminToken = "s3cret-admin"

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// adminNow is Tuesday of the seeded roster's first week: eng1 primary, eng2
// backup; eng2 takes over on Monday 2026-11-30 09:00.
var adminNow = time.Date(2026, 11, 24, 12, 0, 0, 0, storagetest.Shanghai)

func seededRoster() roster.Doc {
	return roster.Doc{Lead: "lead1", Start: "2026-11-23 09:00", Shift: roster.Duration(168 * time.Hour),
		Primary: []string{"eng1", "eng2"}, Overrides: []roster.Override{{Date: "2026-12-31", Primary: "eng3"}}}
}

// newAdminServer serves the API over a fresh database holding three
// engineers, a lead and a nurse, and the seeded roster; adminToken is the
// lead's API token.
func newAdminServer(t *testing.T) http.Handler {
	t.Helper()
	env := newAPI(t)
	env.tokenRaw(t, "lead1", access.Lead, adminToken)
	return env.h
}

// do sends one request with the bearer token (none when empty).
func do(t *testing.T, h http.Handler, method, path, token, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

type rosterView struct {
	Roster roster.Doc  `json:"roster"`
	Now    *onCallView `json:"now"`
	Next   *onCallView `json:"next"`
}

type onCallView struct {
	At      time.Time   `json:"at"`
	Primary *personJSON `json:"primary"`
	Backup  *personJSON `json:"backup"`
	Lead    *personJSON `json:"lead"`
}

// ids is "primary/backup/lead" by user id, "-" for nobody.
func (v *onCallView) ids() string {
	if v == nil {
		return "none"
	}
	id := func(p *personJSON) string {
		if p == nil {
			return "-"
		}
		return p.UserID
	}
	return id(v.Primary) + "/" + id(v.Backup) + "/" + id(v.Lead)
}

func getRoster(t *testing.T, h http.Handler) rosterView {
	t.Helper()
	code, body := do(t, h, http.MethodGet, "/api/v1/oncall", adminToken, "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/oncall = %d %s", code, body)
	}
	var v rosterView
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET /api/v1/oncall: %v in %s", err, body)
	}
	return v
}

var adminRoutes = []struct{ method, path, body string }{
	{http.MethodGet, "/api/v1/oncall", ""},
	{http.MethodPut, "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"24h","primary":["eng3"]}`},
	{http.MethodPut, "/api/v1/oncall/overrides/2026-12-01", `{"primary":"eng3"}`},
	{http.MethodDelete, "/api/v1/oncall/overrides/2026-12-31", ""},
}

func TestAdminAuth(t *testing.T) {
	h := newAdminServer(t)
	tests := []struct {
		name, header string
	}{
		{"no token", ""},
		{"wrong token", "Bearer nope"},
		{"token prefix", "Bearer " + adminToken[:4]},
		{"not bearer", "Basic " + adminToken},
		{"bare token", adminToken},
	}
	for _, tt := range tests {
		for _, r := range adminRoutes {
			t.Run(tt.name+" "+r.method+" "+r.path, func(t *testing.T) {
				req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
					t.Errorf("status %d (WWW-Authenticate %q), want 401 with a challenge", rec.Code, rec.Header().Get("WWW-Authenticate"))
				}
			})
		}
	}
	if diff := cmp.Diff(seededRoster(), getRoster(t, h).Roster); diff != "" {
		t.Errorf("unauthorised requests changed the roster (-want +got):\n%s", diff)
	}
}

func TestAdminGet(t *testing.T) {
	h := newAdminServer(t)
	v := getRoster(t, h)
	if diff := cmp.Diff(seededRoster(), v.Roster); diff != "" {
		t.Errorf("roster (-want +got):\n%s", diff)
	}
	if got, want := v.Now.ids(), "eng1/eng2/lead1"; got != want {
		t.Errorf("now = %s, want %s", got, want)
	}
	if !v.Now.At.Equal(adminNow) || v.Now.Primary.Name != "张工" {
		t.Errorf("now = %+v at %v, want 张工 at %v", v.Now.Primary, v.Now.At, adminNow)
	}
	if got, want := v.Next.ids(), "eng2/eng1/lead1"; got != want || !v.Next.At.Equal(time.Date(2026, 11, 30, 9, 0, 0, 0, storagetest.Shanghai)) {
		t.Errorf("next = %s at %v, want %s at Monday 09:00", got, v.Next.At, want)
	}
}

func TestAdminRejects(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		wantCode                 int
		wantReason               string
	}{
		{"roster not JSON", http.MethodPut, "/api/v1/oncall", `{"primary":`, 400, "body"},
		{"roster empty body", http.MethodPut, "/api/v1/oncall", ``, 400, "body"},
		{"roster unknown field", http.MethodPut, "/api/v1/oncall", `{"primery":["eng1"]}`, 400, "primery"},
		{"roster two values", http.MethodPut, "/api/v1/oncall", `{"primary":[]} {}`, 400, "more than one"},
		{"roster wrong type", http.MethodPut, "/api/v1/oncall", `{"primary":"eng1"}`, 400, "primary"},
		{"bad shift", http.MethodPut, "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"a week","primary":["eng1"]}`, 400, "duration"},
		{"shift in weeks", http.MethodPut, "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"1 week","primary":["eng1"]}`, 400, "shift"},
		{"short shift", http.MethodPut, "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"30m","primary":["eng1"]}`, 400, "shorter than an hour"},
		{"bad start", http.MethodPut, "/api/v1/oncall", `{"start":"Monday 9am","shift":"168h","primary":["eng1"]}`, 400, "start"},
		{"start without time", http.MethodPut, "/api/v1/oncall", `{"start":"2026-11-23","shift":"168h","primary":["eng1"]}`, 400, "start"},
		{"empty id", http.MethodPut, "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1",""]}`, 400, "empty user id"},
		{"unknown primary", http.MethodPut, "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1","eng9"]}`, 400, "eng9"},
		{"unknown backup", http.MethodPut, "/api/v1/oncall", `{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1"],"backup":["ghost"]}`, 400, "ghost"},
		{"unknown lead", http.MethodPut, "/api/v1/oncall", `{"lead":"boss","start":"2026-11-23 09:00","shift":"168h","primary":["eng1"]}`, 400, "boss"},
		{"unknown in override", http.MethodPut, "/api/v1/oncall",
			`{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1"],"overrides":[{"date":"2026-12-01","primary":"eng7"}]}`, 400, "eng7"},
		{"bad override date in roster", http.MethodPut, "/api/v1/oncall",
			`{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1"],"overrides":[{"date":"1.12.2026","primary":"eng2"}]}`, 400, "1.12.2026"},
		{"duplicate override", http.MethodPut, "/api/v1/oncall",
			`{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1"],"overrides":[{"date":"2026-12-01","primary":"eng2"},{"date":"2026-12-01","backup":"eng3"}]}`, 400, "two overrides"},
		{"override not JSON", http.MethodPut, "/api/v1/oncall/overrides/2026-12-01", `primary=eng2`, 400, "body"},
		{"override unknown field", http.MethodPut, "/api/v1/oncall/overrides/2026-12-01", `{"primary":"eng2","backupp":"eng3"}`, 400, "backupp"},
		{"override bad date", http.MethodPut, "/api/v1/oncall/overrides/2026-13-01", `{"primary":"eng2"}`, 400, "2026-13-01"},
		{"override short date", http.MethodPut, "/api/v1/oncall/overrides/2026-1-5", `{"primary":"eng2"}`, 400, "2026-1-5"},
		{"override names nobody", http.MethodPut, "/api/v1/oncall/overrides/2026-12-01", `{}`, 400, "names nobody"},
		{"override unknown primary", http.MethodPut, "/api/v1/oncall/overrides/2026-12-01", `{"primary":"eng9"}`, 400, "eng9"},
		{"override unknown backup", http.MethodPut, "/api/v1/oncall/overrides/2026-12-01", `{"primary":"eng2","backup":"ghost"}`, 400, "ghost"},
		{"delete bad date", http.MethodDelete, "/api/v1/oncall/overrides/31.12.2026", "", 400, "31.12.2026"},
		{"delete missing override", http.MethodDelete, "/api/v1/oncall/overrides/2026-12-01", "", 404, "2026-12-01"},
	}
	// One database for all: a refused request leaves it as seeded.
	h := newAdminServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, h, tt.method, tt.path, adminToken, tt.body)
			var resp apiErrorView
			if err := json.Unmarshal([]byte(body), &resp); err != nil {
				t.Fatalf("%s %s = %d, body not JSON: %q", tt.method, tt.path, code, body)
			}
			if code != tt.wantCode || !strings.Contains(resp.MessageEn, tt.wantReason) {
				t.Errorf("%s %s = %d %q, want %d with a reason containing %q", tt.method, tt.path, code, resp.MessageEn, tt.wantCode, tt.wantReason)
			}
			if code == http.StatusBadRequest {
				checkBadRequest(t, resp.MessageEn, resp.Message, resp.Field)
			}
			if diff := cmp.Diff(seededRoster(), getRoster(t, h).Roster); diff != "" {
				t.Errorf("a refused request changed the roster (-want +got):\n%s", diff)
			}
		})
	}
}

// checkBadRequest checks that a 400 names the field, in English and in a
// Chinese sentence from the catalogue, and that no Go error text reaches the
// person who reads it.
func checkBadRequest(t *testing.T, english, chinese, field string) {
	t.Helper()
	if field == "" || !strings.Contains(chinese, "「"+field+"」无效：应为") || strings.HasSuffix(chinese, "应为。") {
		t.Errorf("message %q (field %q), want the field and its expected form in Chinese", chinese, field)
	}
	for _, goText := range []string{"time:", "json:", "2006-01-02", "Key: '", "unknown unit", "invalid character", "EOF", "[]string", "0s"} {
		if strings.Contains(english+chinese, goText) {
			t.Errorf("answer %q / %q carries Go error text %q", english, chinese, goText)
		}
	}
}

func TestAdminEdits(t *testing.T) {
	// The steps run in order on one database; each must answer 204 and
	// show in GET.
	h := newAdminServer(t)
	dec1 := time.Date(2026, 12, 1, 9, 0, 0, 0, storagetest.Shanghai)
	tests := []struct {
		name, method, path, body string
		want                     func(d *roster.Doc)
		wantNow, wantNext        string
		wantNextAt               time.Time
	}{
		{
			name: "override tomorrow", method: http.MethodPut, path: "/api/v1/oncall/overrides/2026-11-25",
			body: `{"primary":"eng3","backup":"eng1"}`,
			want: func(d *roster.Doc) {
				d.Overrides = []roster.Override{{Date: "2026-11-25", Primary: "eng3", Backup: "eng1"}, {Date: "2026-12-31", Primary: "eng3"}}
			},
			wantNow: "eng1/eng2/lead1", wantNext: "eng3/eng1/lead1", wantNextAt: time.Date(2026, 11, 25, 9, 0, 0, 0, storagetest.Shanghai),
		},
		{
			// The date in the path wins over one in the body.
			name: "replace that override", method: http.MethodPut, path: "/api/v1/oncall/overrides/2026-11-25",
			body: `{"date":"2027-01-01","backup":"eng3"}`,
			want: func(d *roster.Doc) {
				d.Overrides = []roster.Override{{Date: "2026-11-25", Backup: "eng3"}, {Date: "2026-12-31", Primary: "eng3"}}
			},
			wantNow: "eng1/eng2/lead1", wantNext: "eng1/eng3/lead1", wantNextAt: time.Date(2026, 11, 25, 9, 0, 0, 0, storagetest.Shanghai),
		},
		{
			name: "delete it", method: http.MethodDelete, path: "/api/v1/oncall/overrides/2026-11-25",
			want:    func(d *roster.Doc) { d.Overrides = []roster.Override{{Date: "2026-12-31", Primary: "eng3"}} },
			wantNow: "eng1/eng2/lead1", wantNext: "eng2/eng1/lead1", wantNextAt: time.Date(2026, 11, 30, 9, 0, 0, 0, storagetest.Shanghai),
		},
		{
			name: "replace the roster", method: http.MethodPut, path: "/api/v1/oncall",
			body: `{"lead":"lead1","start":"2026-11-24 09:00","shift":"24h","primary":["eng2","eng3"],"backup":["eng1"]}`,
			want: func(d *roster.Doc) {
				*d = roster.Doc{Lead: "lead1", Start: "2026-11-24 09:00", Shift: roster.Duration(24 * time.Hour),
					Primary: []string{"eng2", "eng3"}, Backup: []string{"eng1"}}
			},
			wantNow: "eng2/eng1/lead1", wantNext: "eng3/eng1/lead1", wantNextAt: time.Date(2026, 11, 25, 9, 0, 0, 0, storagetest.Shanghai),
		},
		{
			name: "replace with a one-person rotation and a swap", method: http.MethodPut, path: "/api/v1/oncall",
			body: `{"start":"2026-11-23 09:00","shift":"168h","primary":["eng1"],"overrides":[{"date":"2026-12-01","primary":"eng2"}]}`,
			want: func(d *roster.Doc) {
				*d = roster.Doc{Start: "2026-11-23 09:00", Shift: roster.Duration(168 * time.Hour), Primary: []string{"eng1"},
					Overrides: []roster.Override{{Date: "2026-12-01", Primary: "eng2"}}}
			},
			// No lead named: the first active lead stands in.
			wantNow: "eng1/-/lead1", wantNext: "eng2/-/lead1", wantNextAt: dec1,
		},
	}
	want := seededRoster()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := do(t, h, tt.method, tt.path, adminToken, tt.body); code != http.StatusNoContent {
				t.Fatalf("%s %s = %d %s, want 204", tt.method, tt.path, code, body)
			}
			tt.want(&want)
			v := getRoster(t, h)
			if diff := cmp.Diff(want, v.Roster); diff != "" {
				t.Errorf("roster after %s (-want +got):\n%s", tt.name, diff)
			}
			if got := v.Now.ids(); got != tt.wantNow {
				t.Errorf("now = %s, want %s", got, tt.wantNow)
			}
			if got := v.Next.ids(); got != tt.wantNext || !v.Next.At.Equal(tt.wantNextAt) {
				t.Errorf("next = %s at %v, want %s at %v", got, v.Next.At, tt.wantNext, tt.wantNextAt)
			}
		})
	}
}
