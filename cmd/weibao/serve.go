package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on server.pprof_addr
	"os"
	"time"
	"weibao/bot/records"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/bot/ticketing"
	"weibao/catalog"
	"weibao/configs"
	"weibao/console"
	"weibao/handlers"
	"weibao/storage"
	"weibao/storage/redisstore"
	"weibao/terminal"
)

// Main is one running weibao: its configuration and every component main
// wired. The end-to-end tests build one on ":0" exactly as the binary does.
type Main struct {
	Config   *configs.Config
	Logger   *slog.Logger
	Clock    bot.Clock
	Catalog  *catalog.Catalog
	DB       *storage.DB
	Redis    *redisstore.Store
	Sessions *redisstore.Sessions
	Registry *prometheus.Registry
	Server   *handlers.Server
	// Tickets is the ticketing use cases (bot.go, built by wireEscalation).
	Tickets *ticketing.Service
	// Escalation is the SLA clocks, roster and paging (escalation.go).
	Escalation *Escalation
	// Reports is the lead's reports and the scheduler (reports.go).
	Reports *Reports
	// Records is the maintenance records (records.go).
	Records *records.Service
	// Bot is the ticketing use cases and the conversation engine (bot.go);
	// WeCom is the channel connected to it by serve (connectWeCom).
	Bot   *Bot
	WeCom *WeCom
	// Knowledge is the knowledge base and the war rooms (knowledge.go).
	Knowledge *Knowledge
	// Try is the /try page's transcript when that page is the channel
	// (console.go); nil otherwise.
	Try *console.Try
	// Access is authentication and the audit log (access.go); DemoToken the
	// demo lead's API token on the embedded default.
	Access    *access.Service
	DemoToken string

	listener net.Listener
	closers  []func()
	// workers are the background loops (inbox, outbox, timers, cron) that Run
	// starts and stops with the server.
	workers []func(ctx context.Context) error
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg, err := parseConfig(fs, args)
	if err != nil {
		return err
	}
	// The /try page runs on a clock its visitors may move forward (/later),
	// as weibao chat's does.
	var clock bot.Clock = bot.SystemClock{}
	tryClock := &terminal.Clock{}
	if tryChannel(cfg) {
		clock = tryClock
	}
	m, err := openWith(ctx, cfg, newLogger(cfg), clock)
	if err != nil {
		return err
	}
	defer m.Close()
	logDoctor(cfg, m.Logger)
	// Without WeCom nor the /try page nothing would reach anyone: the outbox
	// keeps what is queued, and the doctor's report says to try weibao chat.
	switch {
	case cfg.WeCom.Configured():
		err = connectWeCom(m)
	case m.Try != nil:
		err = connectTry(m, tryClock)
	}
	if err != nil {
		return err
	}
	return m.Run(ctx)
}

func newLogger(cfg *configs.Config) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level)) // validated by configs
	opt := &slog.HandlerOptions{Level: level, ReplaceAttr: maskAttr}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, opt)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(os.Stderr, opt)
	}
	return slog.New(quietCancel{h})
}

// maskAttr passes every string and error a log line carries through
// bot.MaskLog: message text, names and phone numbers reach logs inside
// error strings and fields nobody thought of, so the mask is applied once
// here rather than at each call (tender 九).
func maskAttr(_ []string, a slog.Attr) slog.Attr {
	switch v := a.Value; {
	case v.Kind() == slog.KindString:
		a.Value = slog.StringValue(bot.MaskLog(v.String()))
	case v.Kind() == slog.KindAny:
		if err, ok := v.Any().(error); ok {
			a.Value = slog.StringValue(bot.MaskLog(err.Error()))
		}
	}
	return a
}

// quietCancel drops the records whose err is context.Canceled: each loop
// logs one when shutdown cancels it mid-query, which is no failure.
type quietCancel struct{ slog.Handler }

func (h quietCancel) Handle(ctx context.Context, r slog.Record) error {
	canceled := false
	r.Attrs(func(a slog.Attr) bool {
		err, ok := a.Value.Any().(error)
		canceled = ok && errors.Is(err, context.Canceled)
		return !canceled
	})
	if canceled {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietCancel) WithAttrs(as []slog.Attr) slog.Handler {
	return quietCancel{h.Handler.WithAttrs(as)}
}
func (h quietCancel) WithGroup(name string) slog.Handler {
	return quietCancel{h.Handler.WithGroup(name)}
}

// Open connects the database and Redis, syncs the configured directory and
// builds the HTTP server, listening on cfg.Server.Addr.
func Open(ctx context.Context, cfg *configs.Config, logger *slog.Logger) (*Main, error) {
	return openWith(ctx, cfg, logger, bot.SystemClock{})
}

// openWith is Open on the given clock (`weibao chat` moves its clock forward).
func openWith(ctx context.Context, cfg *configs.Config, logger *slog.Logger, clock bot.Clock) (_ *Main, err error) {
	m := &Main{Config: cfg, Logger: logger, Clock: clock, Registry: prometheus.NewRegistry()}
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	m.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if m.Catalog, err = catalog.Load(cfg.Catalog); err != nil {
		return nil, err
	}
	if m.DB, err = storage.Open(ctx, cfg.Database.Driver, cfg.Database.DSN,
		storage.Options{Location: cfg.Location, Clock: clock, ReadDSN: cfg.Database.ReadDSN}); err != nil {
		return nil, err
	}
	m.closers = append(m.closers, func() { m.DB.Close() })
	if err = m.DB.SyncDirectory(ctx, directory(cfg)); err != nil {
		return nil, err
	}
	if tryChannel(cfg) {
		m.Try = console.NewTry(m.DB, m.Catalog)
	}
	if m.Redis, err = redisstore.Open(ctx, cfg.Redis.URL); err != nil {
		return nil, err
	}
	// The dialogue's state, which the reports also queue surveys in.
	m.Sessions = m.Redis.Sessions(cfg.Redis.Prefix + "conv:")
	m.closers = append(m.closers, func() { m.Redis.Close() })
	m.Server = handlers.New(handlers.Options{
		Logger:   logger.With("component", "http"),
		Registry: m.Registry,
		Texts:    m.Catalog,
		// Ready means "can take callbacks" (SECURITY.md): with WeCom the
		// inbox journal is what they need (connectWeCom adds it); without,
		// only the database-backed API is served.
		Ready: []handlers.Check{
			{Name: "database", Check: m.DB.Ping, Needed: !cfg.WeCom.Configured()},
			{Name: "redis", Check: m.Redis.Ping},
		},
		TrustedProxies: cfg.Server.TrustedProxies,
		Index:          index,
	})
	// Subsystems, in the order their constructors need each other (tickets and
	// the roster, then the reports, then the dialogue over both): each wires
	// itself in a file of its own (cmd/weibao/<area>.go) and appends its
	// background loops to m.workers. Reactions to committed changes go through
	// the database's feed, so no subsystem is handed to an earlier one.
	for _, wire := range []func(context.Context, *Main) error{wireAccess, wireEscalation, wireRecords, wireReports, wireKnowledge, wireBot, wireConsole} {
		if err = wire(ctx, m); err != nil {
			return nil, err
		}
	}
	if m.listener, err = net.Listen("tcp", cfg.Server.Addr); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Server.Addr, err)
	}
	m.closers = append(m.closers, func() { m.listener.Close() })
	m.logReady()
	return m, nil
}

func (m *Main) logReady() {
	cfg := m.Config
	db, rd := cfg.Database.Driver, "server"
	if db == "sqlite" {
		db += " (" + cfg.Database.DSN + ")" // a file path; a MySQL DSN holds a password
	}
	if m.Redis.Embedded() {
		rd = "in-process"
	}
	urls := []any{"url", m.URL(), "console", m.URL() + "/console/"}
	if m.Try != nil {
		urls = append(urls, "try", m.URL()+"/try")
	}
	m.Logger.Info("weibao ready", append(urls, "storage", fmt.Sprintf("database=%s redis=%s", db, rd), "demo_roster", cfg.Embedded)...)
	if m.DemoToken != "" {
		m.Logger.Info("demo lead login (valid 12 h, until the next start): POST /api/v1/login/token, or Authorization: Bearer",
			"token", m.DemoToken)
	}
}

const index = `weibao is running.

  GET /console/  the web console (log in with an API token)
  GET /try       chat with weibao in the browser (try.enabled: the demo has it on)
  GET /healthz   process alive
  GET /readyz    can take callbacks (the inbox journal); database and Redis reported
  GET /metrics   Prometheus metrics
`

// URL is where the server listens.
func (m *Main) URL() string { return "http://" + m.listener.Addr().String() }

// Run serves until ctx ends, then shuts down gracefully: stop taking
// requests, finish those in flight, stop the background workers.
func (m *Main) Run(ctx context.Context) error {
	srv := &http.Server{Handler: m.Server.Handler(), ReadHeaderTimeout: 5 * time.Second}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(m.listener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	for _, w := range m.workers {
		g.Go(func() error { return w(ctx) })
	}
	if addr := m.Config.Server.PprofAddr; addr != "" {
		// Profiles for the product benchmark; DefaultServeMux holds only
		// net/http/pprof's handlers.
		psrv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second}
		go psrv.ListenAndServe()
		defer psrv.Close()
	}
	g.Go(func() error {
		<-ctx.Done()
		m.Logger.Info("shutting down")
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	})
	return g.Wait()
}

// Close releases everything Open acquired, in reverse order.
func (m *Main) Close() {
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
}

func directory(cfg *configs.Config) storage.DirectoryData {
	var d storage.DirectoryData
	for _, c := range cfg.Campuses {
		d.Campuses = append(d.Campuses, bot.Campus{Code: c.Code, Name: c.Name, Lat: c.Lat, Lng: c.Lng})
	}
	for _, w := range cfg.Wards {
		d.Wards = append(d.Wards, bot.Ward{Code: w.Code, Name: w.Name, CampusCode: w.Campus, ChatID: w.ChatID})
	}
	for _, p := range cfg.People {
		d.People = append(d.People, bot.Person{UserID: p.UserID, Name: p.Name, Role: bot.Role(p.Role), Mobile: p.Mobile, WardCode: p.Ward})
	}
	for _, c := range cfg.Categories {
		d.Categories = append(d.Categories, bot.Category{Code: c.Code, Name: c.Name, Type: bot.FaultType(c.Type),
			Difficulty: bot.Difficulty(c.Difficulty), Keywords: c.Keywords, SelfHelp: c.SelfHelp})
	}
	return d
}
