// Package handlers is weibao's HTTP edge (gin): health, metrics, WeCom
// callbacks and the API. Handlers parse, call one service, map the error and
// answer; business rules live in bot and its subpackages.
package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MaxBody bounds every request body. WeCom callbacks are a few KB; anything
// near this is not from WeCom.
const MaxBody = 1 << 20

// Checker reports whether a dependency answers.
type Checker func(ctx context.Context) error

// Options are the server's dependencies.
type Options struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Ready lists what /readyz checks, by name (e.g. "database", "redis").
	Ready map[string]Checker
	// TrustedProxies may set X-Forwarded-For (the access log's client_ip);
	// none by default, so the peer address is logged.
	TrustedProxies []string
	// Index is the plain-text page served at "/".
	Index string
	// Texts words a bad request's answer in Chinese (the catalogue).
	Texts Texts
}

// Texts renders catalogue entries (*catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Server holds the gin engine with weibao's routes.
type Server struct {
	engine *gin.Engine
	opt    Options
	auth   *authn // set by RegisterAccess; the API's routes need it
}

// New builds the router. More routes are added with Handle.
func New(opt Options) *Server {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.ContextWithFallback = true
	s := &Server{engine: e, opt: opt}
	if err := e.SetTrustedProxies(opt.TrustedProxies); err != nil {
		// configs validated them; only a programming error gets here.
		panic(err)
	}
	e.Use(requestID(), s.accessLog(newHTTPMetrics(opt.Registry)), s.recovery(), s.limitBody(MaxBody))
	e.GET("/", func(c *gin.Context) { c.String(http.StatusOK, opt.Index) })
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opt.Registry, promhttp.HandlerOpts{Registry: opt.Registry})))
	return s
}

// Handler returns the http.Handler to serve.
func (s *Server) Handler() http.Handler { return s.engine }

// Engine exposes the router so other parts of weibao register their routes.
func (s *Server) Engine() *gin.Engine { return s.engine }

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	status, checks := http.StatusOK, gin.H{}
	for name, check := range s.opt.Ready {
		if err := check(ctx); err != nil {
			status = http.StatusServiceUnavailable
			checks[name] = err.Error()
			s.opt.Logger.Warn("not ready", "check", name, "err", err)
			continue
		}
		checks[name] = "ok"
	}
	c.JSON(status, checks)
}

func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if id == "" || len(id) > 64 {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Set("request_id", id)
		c.Header("X-Request-Id", id)
		c.Next()
	}
}

// RequestID returns the id of the request c serves.
func RequestID(c *gin.Context) string { return c.GetString("request_id") }

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "weibao_http_requests_total",
			Help: "HTTP requests by route and status."}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "weibao_http_request_duration_seconds",
			Help: "HTTP answer time by route.", Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, 1}}, []string{"route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// slowRequest is the answer time past which a request is logged at INFO.
const slowRequest = time.Second

// accessLog records metrics by route pattern (not raw path) for every
// request, and logs a line (ids and the client's address, never bodies:
// they carry fault text) at INFO for a failed or slow request, at DEBUG for
// the rest: at thousands of callbacks a second a line each is a tenth of
// the CPU and says nothing the metrics do not.
func (s *Server) accessLog(m *httpMetrics) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		d := time.Since(start)
		status := c.Writer.Status()
		m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		m.duration.WithLabelValues(route).Observe(d.Seconds())
		if route == "/healthz" || route == "/readyz" || route == "/metrics" {
			return
		}
		level := slog.LevelDebug
		if status >= 400 || d >= slowRequest {
			level = slog.LevelInfo
		}
		if !s.opt.Logger.Enabled(c, level) {
			return
		}
		s.opt.Logger.Log(c, level, "http", "method", c.Request.Method, "route", route, "status", status,
			"duration_ms", d.Milliseconds(), "client", c.ClientIP(), "request_id", RequestID(c))
	}
}

func (s *Server) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				s.opt.Logger.Error("panic in handler", "panic", r, "route", c.FullPath(), "request_id", RequestID(c))
				c.AbortWithStatus(http.StatusInternalServerError)
			}
		}()
		c.Next()
	}
}

func (s *Server) limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			abort(c, s.opt.Texts, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("body over %d bytes", n))
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}
