package console_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/roster"
	"weibao/catalog"
	"weibao/console"
	"weibao/storage"
	"weibao/storage/storagetest"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var now = time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC) // 10:00 in Shanghai

// open is the console on a fresh database with a demo roster and one open
// ticket whose description is markup; a request is logged in when it
// carries the cookie "s=ok".
func open(t *testing.T, try *console.Try) (*console.Console, *storage.DB, string) {
	t.Helper()
	ctx := context.Background()
	db := storagetest.Open(t)
	err := db.SyncDirectory(ctx, storage.DirectoryData{
		Wards: []bot.Ward{{Code: "med-icu", Name: "内科ICU", ChatID: "wrMed"}},
		People: []bot.Person{{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"},
			{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer, Mobile: "13800000001"}},
		Categories: []bot.Category{{Code: "login", Name: "无法登录", Type: bot.TypeSoftware, Difficulty: bot.DifficultyRoutine}},
	})
	if err != nil {
		t.Fatal(err)
	}
	at := now.Add(-20 * time.Minute)
	tk, ev, err := bot.NewTicket(bot.Ticket{ReporterID: "nurse1", WardCode: "med-icu", Category: "login",
		Description: `<script>alert("x")</script>`, Classification: bot.Classification{Scope: bot.ScopeDepartment,
			Type: bot.TypeSoftware, Severity: bot.SeverityClinical, Difficulty: bot.DifficultyRoutine, Priority: bot.P2,
			SLAClass: "routine"}, Due: bot.Deadlines{Ack: at.Add(10 * time.Minute), Resolve: at.Add(60 * time.Minute)}}, "nurse1", at)
	if err != nil {
		t.Fatal(err)
	}
	msg := bot.Outgoing{Key: "page:1", ToUsers: []string{"eng1"}, Text: "新工单"}
	if err := db.CreateTicket(ctx, tk, bot.Effects{Events: []bot.Event{ev}, Messages: []bot.Outgoing{msg}}); err != nil {
		t.Fatal(err)
	}
	c, err := console.New(console.Options{Store: db, Roster: roster.New(db, db, storagetest.Shanghai), Texts: catalog.Default(),
		Clock: fixedClock{now}, Location: storagetest.Shanghai, Try: try, Logger: slog.New(slog.DiscardHandler),
		Session: func(r *http.Request) (console.Viewer, error) {
			if ck, err := r.Cookie("s"); err == nil && ck.Value == "ok" {
				return console.Viewer{UserID: "lead1", Name: "赵经理"}, nil
			}
			return console.Viewer{}, console.ErrNoSession
		}})
	if err != nil {
		t.Fatal(err)
	}
	return c, db, tk.No
}

func get(t *testing.T, h http.Handler, path string, loggedIn bool) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if loggedIn {
		r.AddCookie(&http.Cookie{Name: "s", Value: "ok"})
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestPagesNeedLogin(t *testing.T) {
	c, _, no := open(t, nil)
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/console/", http.StatusSeeOther},
		{"/console/tickets/" + no, http.StatusSeeOther},
		{"/console/oncall", http.StatusSeeOther},
		{"/console/reports", http.StatusSeeOther},
		{"/console/support", http.StatusSeeOther},
		{"/console/board/rows", http.StatusUnauthorized},
		{"/console/login", http.StatusOK},
		{"/try", http.StatusNotFound}, // no Try: not served
	} {
		if w := get(t, c.Handler(), tc.path, false); w.Code != tc.status {
			t.Errorf("GET %s without a session = %d, want %d", tc.path, w.Code, tc.status)
		}
	}
}

// TestPagesRender opens every page logged in; whatever a ticket says is
// escaped, and the board colours the open ticket by its running clock.
func TestPagesRender(t *testing.T) {
	c, db, no := open(t, nil)
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/console/", []string{`class="lvl-breached"`, "响应已超时 10分钟", no, "无法登录", "内科ICU"}},
		{"/console/board/rows", []string{`data-no="` + no + `"`}},
		{"/console/tickets/" + no, []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "报修", "王护士"}},
		{"/console/oncall", []string{"值班日历 2026-12", `class="cell gap`, "无人值班"}},
		{"/console/oncall?month=2027-01", []string{"值班日历 2027-01"}},
		{"/console/reports", []string{"<svg", "无法登录", "/api/v1/reports/monthly?month=2026-12"}},
		{"/console/support", []string{"定时任务最近运行", "page:1", "等待发送", "未配置企业微信"}},
	} {
		w := get(t, c.Handler(), tc.path, true)
		body := w.Body.String()
		if w.Code != http.StatusOK {
			t.Errorf("GET %s = %d: %s", tc.path, w.Code, body)
			continue
		}
		for _, s := range tc.want {
			if !strings.Contains(body, s) {
				t.Errorf("GET %s lacks %q", tc.path, s)
			}
		}
		if !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("GET %s has no content security policy", tc.path)
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("GET %s shows the ticket's markup unescaped", tc.path)
		}
	}
	// A ticket that needs a fault analysis offers its three questions.
	if _, err := db.OpenAnalysis(context.Background(), bot.FaultAnalysis{TicketNo: no, EngineerID: "eng1", OpenedAt: now,
		DueAt: now.Add(72 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	body := get(t, c.Handler(), "/console/tickets/"+no, true).Body.String()
	for _, s := range []string{`<form id="analysis"`, `name="cause"`, `name="impact"`, `name="conclusion"`, "/api/v1/tickets/" + no + "/analysis?format=html"} {
		if !strings.Contains(body, s) {
			t.Errorf("ticket page with an open analysis lacks %q", s)
		}
	}
	for _, path := range []string{"/console/tickets/F20261204-9999", "/console/tickets/nonsense", "/console/oncall?month=13"} {
		if w := get(t, c.Handler(), path, true); w.Code != http.StatusNotFound && w.Code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 404 or 400", path, w.Code)
		}
	}
}

type chat struct{ said []string }

func (c *chat) Say(ctx context.Context, user, where, text string) error {
	c.said = append(c.said, user+"@"+where+":"+text)
	return nil
}

func (c *chat) Click(ctx context.Context, user, where string, b bot.ButtonClick) error {
	c.said = append(c.said, user+" clicked "+b.Key)
	return nil
}

// TestTrySay takes lines and clicks for the chat; bad ones are refused and
// change nothing.
func TestTrySay(t *testing.T) {
	db := storagetest.Open(t)
	if err := db.SyncDirectory(context.Background(), storage.DirectoryData{
		People: []bot.Person{{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse}}}); err != nil {
		t.Fatal(err)
	}
	try := console.NewTry(db, catalog.Default())
	ch := &chat{}
	try.Connect(ch)
	c, _, _ := open(t, try)
	post := func(body string) int {
		w := httptest.NewRecorder()
		c.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/try/say", strings.NewReader(body)))
		return w.Code
	}
	for _, bad := range []string{`nonsense`, `{"as":"nurse1"}`, `{"as":"nobody","text":"hi"}`, `{"text":"hi"}`} {
		if code := post(bad); code != http.StatusBadRequest {
			t.Errorf("POST %s = %d, want 400", bad, code)
		}
	}
	if len(ch.said) > 0 {
		t.Fatalf("refused lines reached the chat: %q", ch.said)
	}
	if code := post(`{"as":"nurse1","in":"wrMed","text":"电脑登不上"}`); code != http.StatusNoContent {
		t.Errorf("a line = %d", code)
	}
	if code := post(`{"as":"nurse1","text":"接单","key":"ack:F1","task":"t1"}`); code != http.StatusNoContent {
		t.Errorf("a click = %d", code)
	}
	want := []string{"nurse1@wrMed:电脑登不上", "nurse1 clicked ack:F1"}
	if strings.Join(ch.said, "|") != strings.Join(want, "|") {
		t.Errorf("chat got %q, want %q", ch.said, want)
	}
	// The event stream replays the transcript: the two lines said.
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/try/events", nil)
	pr, pw := io.Pipe()
	go func() {
		w := &streamRecorder{ResponseRecorder: httptest.NewRecorder(), w: pw}
		c.Handler().ServeHTTP(w, r)
		pw.Close()
	}()
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "〔接单〕") {
		n, err := pr.Read(buf)
		if err != nil {
			t.Fatalf("event stream ended: %v after %q", err, got.String())
		}
		got.Write(buf[:n])
	}
	cancel()
	if !strings.Contains(got.String(), `"text":"电脑登不上"`) || !strings.Contains(got.String(), "id: 2\n") {
		t.Errorf("event stream %q", got.String())
	}
}

// streamRecorder passes what the handler writes on at once.
type streamRecorder struct {
	*httptest.ResponseRecorder
	w io.Writer
}

func (s *streamRecorder) Write(b []byte) (int, error) { return s.w.Write(b) }
func (s *streamRecorder) Flush()                      {}

func TestLevels(t *testing.T) {
	start := now
	due := now.Add(40 * time.Minute)
	for _, tc := range []struct {
		at   time.Duration
		want string
	}{
		{0, "ok"}, {19 * time.Minute, "ok"}, {21 * time.Minute, "warn"}, {31 * time.Minute, "near"},
		{40 * time.Minute, "breached"}, {3 * time.Hour, "breached"},
	} {
		if got := console.LevelOf(start, due, now.Add(tc.at)); got != tc.want {
			t.Errorf("%s into a 40 min clock: %s, want %s", tc.at, got, tc.want)
		}
	}
}
