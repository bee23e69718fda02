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

func newTestServer(ready map[string]Checker) *Server {
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
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name       string
		ready      map[string]Checker
		path       string
		wantStatus int
		wantBody   string
	}{
		{"healthz", nil, "/healthz", 200, `"ok"`},
		{"ready", map[string]Checker{"database": ok, "redis": ok}, "/readyz", 200, `"redis":"ok"`},
		{"redis down", map[string]Checker{"database": ok, "redis": down}, "/readyz", 503, "connection refused"},
		{"index", nil, "/", 200, "weibao"},
		{"unknown", nil, "/nope", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, newTestServer(tt.ready).Handler(), tt.path)
			if code != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.wantStatus, tt.wantBody)
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
		if logged != tt.line || logged && !strings.Contains(out.String(), "client=10.1.2.3") {
			t.Errorf("GET %s logged %q; want a line with the client: %v", tt.path, out.String(), tt.line)
		}
	}
}
