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
	"sync"
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

// Check is one dependency /readyz asks about, each with its own deadline,
// so one that stalls is never taken for another.
type Check struct {
	Name  string
	Check Checker
	// Needed: without it this replica cannot take callbacks, so a load
	// balancer should send them elsewhere (503). The others are reported
	// as degraded with 200: while the journal accepts, a database or Redis
	// outage must not pull every replica out at once.
	Needed bool
}

// checkTimeout bounds each readiness check.
const checkTimeout = time.Second

// Options are the server's dependencies.
type Options struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Ready lists what /readyz checks; AddCheck adds more.
	Ready []Check
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

// AddCheck adds c to /readyz; call it while wiring, before serving.
func (s *Server) AddCheck(c Check) { s.opt.Ready = append(s.opt.Ready, c) }

// readyz answers "ready", "degraded" (a check failed that callbacks do not
// need) or "unready" (503), with each check's "ok" or "down". It is
// unauthenticated: why a check failed is logged, never answered.
func (s *Server) readyz(c *gin.Context) {
	errs := make([]error, len(s.opt.Ready))
	var wg sync.WaitGroup
	for i, ch := range s.opt.Ready {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.Request.Context(), checkTimeout)
			defer cancel()
			errs[i] = ch.Check(ctx)
		})
	}
	wg.Wait()
	state, checks := "ready", gin.H{}
	for i, ch := range s.opt.Ready {
		checks[ch.Name] = "ok"
		if errs[i] == nil {
			continue
		}
		checks[ch.Name] = "down"
		s.opt.Logger.Warn("readiness check failed", "check", ch.Name, "needed", ch.Needed, "err", errs[i])
		if ch.Needed {
			state = "unready"
		} else if state == "ready" {
			state = "degraded"
		}
	}
	status := http.StatusOK
	if state == "unready" {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, gin.H{"status": state, "checks": checks})
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
			"duration_ms", d.Milliseconds(), "client_ip", c.ClientIP(), "request_id", RequestID(c))
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
