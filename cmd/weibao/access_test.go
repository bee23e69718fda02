package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/handlers"
	"weibao/storage"
)

// call sends one API request with the cookies given and returns the answer.
func call(t *testing.T, method, u, body string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func cookieOf(t *testing.T, res *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range res.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie in %v", name, res.Header)
	return nil
}

// TestDemoLogin: on the embedded default the printed start-up token logs
// the demo lead in, with the right to change the roster; the next start
// revokes it.
func TestDemoLogin(t *testing.T) {
	m, stop := openTestMain(t, nil)
	defer stop()
	if !m.Config.Embedded || !strings.HasPrefix(m.DemoToken, "wbt_") {
		t.Fatalf("embedded %v, demo token %q", m.Config.Embedded, m.DemoToken)
	}
	res, body := call(t, "POST", m.URL()+"/api/v1/login/token", `{"token":"`+m.DemoToken+`"}`)
	if res.StatusCode != 204 {
		t.Fatalf("login = %d %s", res.StatusCode, body)
	}
	session := cookieOf(t, res, handlers.SessionCookie)
	if res, body := call(t, "GET", m.URL()+"/api/v1/me", "", session); res.StatusCode != 200 ||
		!strings.Contains(body, `"userid":"lead1"`) || !strings.Contains(body, `"strong":true`) {
		t.Errorf("/me = %d %s, want lead1, strong", res.StatusCode, body)
	}
	if res, body := call(t, "PUT", m.URL()+"/api/v1/oncall/overrides/2026-12-24", `{"primary":"eng2"}`, session); res.StatusCode != 204 {
		t.Errorf("override as the demo lead = %d %s", res.StatusCode, body)
	}
	// A second start (same database) revokes the first token.
	first := m.DemoToken
	if err := demoLogin(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Access.Bearer(context.Background(), first); err == nil {
		t.Errorf("the previous start-up token still works")
	}
}

// TestWeComLoginEndToEnd: WeCom web login through the fake WeCom, the
// one-time code delivered by the outbox to the lead's WeCom 1:1, then a
// roster change.
func TestWeComLoginEndToEnd(t *testing.T) {
	m, w, fake, _ := openWeComMainEnv(t, "callback", make(chan bot.Message, 10), map[string]string{"WEIBAO_SERVER_PUBLIC_URL": "https://weibao.example"})
	res, _ := call(t, "GET", m.URL()+"/api/v1/login/wecom", "")
	state := regexp.MustCompile(`state=([0-9a-f]+)`).FindStringSubmatch(res.Header.Get("Location"))
	if res.StatusCode != 302 || state == nil || !strings.Contains(res.Header.Get("Location"), "appid=") ||
		!strings.Contains(res.Header.Get("Location"), "redirect_uri="+url.QueryEscape("https://weibao.example/api/v1/login/wecom/callback")) {
		t.Fatalf("login/wecom = %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	stateCookie := cookieOf(t, res, "weibao_oauth_state")
	res, body := call(t, "GET", m.URL()+"/api/v1/login/wecom/callback?code="+fake.LoginCode("lead1")+"&state="+state[1], "", stateCookie)
	if res.StatusCode != 200 {
		t.Fatalf("callback = %d %s", res.StatusCode, body)
	}
	session := cookieOf(t, res, handlers.SessionCookie)
	w.Outbox.Kick()
	var code string
	for code == "" {
		r := nextCall(t, fake)
		text, _ := r.Body["text"].(map[string]any)
		if c, _ := text["content"].(string); r.API == "message/send" && r.Body["touser"] == "lead1" {
			code = regexp.MustCompile(`\d{6}`).FindString(c)
		}
	}
	if res, body := call(t, "PUT", m.URL()+"/api/v1/oncall/overrides/2026-12-24", `{"primary":"eng2"}`, session); res.StatusCode != 403 {
		t.Errorf("change before the code = %d %s, want 403", res.StatusCode, body)
	}
	if res, body := call(t, "POST", m.URL()+"/api/v1/login/code", `{"code":"`+code+`"}`, session); res.StatusCode != 204 {
		t.Fatalf("code = %d %s", res.StatusCode, body)
	}
	if res, body := call(t, "PUT", m.URL()+"/api/v1/oncall/overrides/2026-12-24", `{"primary":"eng2"}`, session); res.StatusCode != 204 {
		t.Errorf("change after both factors = %d %s", res.StatusCode, body)
	}
}

func TestTokenCommand(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "weibao.db")
	run := func(args ...string) (string, string, error) {
		t.Helper()
		cmd := weibaoCmd(t, []string{"WEIBAO_DATABASE_DRIVER=sqlite", "WEIBAO_DATABASE_DSN=" + dsn}, args...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}
	out, _, err := run("token", "create", "--person", "eng1", "--role", "viewer", "--label", "dashboard")
	tok := regexp.MustCompile(`wbt_[A-Za-z0-9_-]{43}`).FindString(out)
	if err != nil || tok == "" || !strings.Contains(out, "eng1 (viewer)") {
		t.Fatalf("token create = %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"token", "create", "--person", "nurse1"},
		{"token", "create", "--person", "eng1", "--role", "lead"},
		{"token", "create", "--person", "ghost"},
		{"token", "create", "--person", "eng1", "--role", "admin"},
		{"token", "revoke", "x"},
		{"token", "revoke", "99"},
	} {
		if _, errOut, err := run(bad...); err == nil || errOut == "" {
			t.Errorf("%v: want a refusal on stderr, got %v %q", bad, err, errOut)
		}
	}
	if out, _, err := run("token", "list"); err != nil || !regexp.MustCompile(`1\s+eng1\s+viewer\s+dashboard\s+\S+ \S+\s+-\s+-`).MatchString(out) ||
		strings.Contains(out, tok) {
		t.Errorf("token list = %v\n%s", err, out)
	}
	if out, _, err := run("token", "revoke", "1"); err != nil || !strings.Contains(out, "revoked") {
		t.Errorf("token revoke = %v\n%s", err, out)
	}
	if out, _, _ := run("token", "list"); regexp.MustCompile(`1\s+eng1\s+viewer\s+dashboard\s+\S+ \S+\s+-\s+-`).MatchString(out) {
		t.Errorf("revoked token listed as in force:\n%s", out)
	}
	db, err := storage.Open(context.Background(), "sqlite", dsn, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Audit(context.Background(), access.AuditFilter{})
	if err != nil || len(rows) != 2 || rows[1].Action != "token.create" || rows[0].Action != "token.revoke" ||
		!strings.HasPrefix(rows[1].Actor, "cli") || strings.Contains(string(rows[1].After), tok) {
		t.Errorf("audit rows %+v (%v): want token.create then token.revoke by the CLI, never the token", rows, err)
	}
}
