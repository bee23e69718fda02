package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"weibao/catalog"
)

func newTestServer(ready []Check) *Server {
	return New(Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry(), Ready: ready, Index: "weibao",
		Texts: catalog.Default()})
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestHealthAndReady(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial tcp 10.0.0.7:3306: connect: connection refused") }
	// A database that stalls: its deadline is its own, not Redis's.
	stall := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	journal := Check{Name: "inbox_journal", Check: ok, Needed: true}
	tests := []struct {
		name       string
		ready      []Check
		path       string
		wantStatus int
		wantBody   string
	}{
		{"healthz", nil, "/healthz", 200, `"ok"`},
		{"ready", []Check{journal, {Name: "database", Check: ok}, {Name: "redis", Check: ok}}, "/readyz", 200,
			`{"checks":{"database":"ok","inbox_journal":"ok","redis":"ok"},"status":"ready"}`},
		{"database down, journal takes callbacks", []Check{journal, {Name: "database", Check: down}, {Name: "redis", Check: ok}}, "/readyz", 200,
			`{"checks":{"database":"down","inbox_journal":"ok","redis":"ok"},"status":"degraded"}`},
		{"database stalls", []Check{journal, {Name: "database", Check: stall}, {Name: "redis", Check: ok}}, "/readyz", 200,
			`{"checks":{"database":"down","inbox_journal":"ok","redis":"ok"},"status":"degraded"}`},
		{"journal fails", []Check{{Name: "inbox_journal", Check: down, Needed: true}, {Name: "redis", Check: ok}}, "/readyz", 503,
			`{"checks":{"inbox_journal":"down","redis":"ok"},"status":"unready"}`},
		{"no WeCom: the database is needed", []Check{{Name: "database", Check: down, Needed: true}}, "/readyz", 503,
			`{"checks":{"database":"down"},"status":"unready"}`},
		{"index", nil, "/", 200, "weibao"},
		{"unknown", nil, "/nope", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, newTestServer(tt.ready).Handler(), tt.path)
			if code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantStatus, tt.wantBody)
			}
			if strings.Contains(body, "refused") || strings.Contains(body, "10.0.0.7") {
				t.Errorf("GET %s tells an unauthenticated caller the dial error: %s", tt.path, body)
			}
		})
	}
}

// The access log names the client: the peer, unless a trusted proxy
// forwarded the request.
func TestAccessLogClientIP(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted []string
		want    string
	}{
		{"no proxy trusted: X-Forwarded-For is ignored", nil, "client_ip=192.0.2.1 "},
		{"the load balancer is trusted", []string{"192.0.2.0/24"}, "client_ip=203.0.113.9 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs strings.Builder
			// DEBUG: a served request's line is logged at DEBUG only.
			s := New(Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Registry: prometheus.NewRegistry(), TrustedProxies: tc.trusted, Texts: catalog.Default()})
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "192.0.2.1:5555"
			req.Header.Set("X-Forwarded-For", "203.0.113.9")
			s.Handler().ServeHTTP(httptest.NewRecorder(), req)
			if !strings.Contains(logs.String(), tc.want) {
				t.Errorf("access log %q lacks %q", logs.String(), tc.want)
			}
		})
	}
}

func TestMetricsCountRequests(t *testing.T) {
	s := newTestServer(nil)
	get(t, s.Handler(), "/healthz")
	code, body := get(t, s.Handler(), "/metrics")
	if code != 200 || !strings.Contains(body, `weibao_http_requests_total{route="/healthz",status="200"} 1`) {
		t.Errorf("metrics: %d\n%s", code, body)
	}
}

func TestPanicIsRecoveredAndBodyLimited(t *testing.T) {
	s := newTestServer(nil)
	s.Engine().GET("/boom", func(c *gin.Context) { panic("boom") })
	s.Engine().POST("/echo", func(c *gin.Context) {
		b, err := io.ReadAll(c.Request.Body)
		if err != nil {
			c.Status(http.StatusRequestEntityTooLarge)
			return
		}
		c.String(200, "%d", len(b))
	})
	if code, _ := get(t, s.Handler(), "/boom"); code != 500 {
		t.Errorf("panic: status %d, want 500", code)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/echo", strings.NewReader(strings.Repeat("x", 2<<20)))
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MB body: status %d, want 413", rec.Code)
	}
}

// TestAccessLogKeepsINFOForFailures: at INFO a served request leaves no
// line, a failed one leaves one with the client's address.
func TestAccessLogKeepsINFOForFailures(t *testing.T) {
	var out strings.Builder
	s := New(Options{Logger: slog.New(slog.NewTextHandler(&out, nil)), Registry: prometheus.NewRegistry(), Index: "weibao",
		Texts: catalog.Default()})
	s.Engine().GET("/fail", func(c *gin.Context) { c.Status(http.StatusUnauthorized) })
	tests := []struct {
		path string
		line bool
	}{
		{"/", false},
		{"/fail", true},
		{"/nowhere", true},
	}
	for _, tt := range tests {
		out.Reset()
		req := httptest.NewRequest(http.MethodGet, tt.path, nil)
		req.RemoteAddr = "10.1.2.3:4567"
		s.Handler().ServeHTTP(httptest.NewRecorder(), req)
		logged := strings.Contains(out.String(), "msg=http")
		if logged != tt.line || logged && !strings.Contains(out.String(), "client_ip=10.1.2.3") {
			t.Errorf("GET %s logged %q; want a line with the client: %v", tt.path, out.String(), tt.line)
		}
	}
}
