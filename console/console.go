// Package console is weibao's web console (/console/) and try-it page
// (/try): server-rendered pages (html/template, which escapes everything
// shown) with a little JavaScript and no build step, every asset embedded in
// the binary. It reads the database directly and changes things only
// through the admin API (/api/v1), which checks the person's role and
// writes the audit log; handlers mounts its http.Handler.
package console

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"weibao/bot"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Texts is the message catalogue (*catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
	Duration(d time.Duration) string
}

// Store is what the pages read (storage.DB).
type Store interface {
	Tickets(ctx context.Context, f bot.TicketFilter) ([]*bot.Ticket, error)
	Ticket(ctx context.Context, no string) (*bot.Ticket, error)
	Timeline(ctx context.Context, no string) ([]bot.Event, error)
	People(ctx context.Context, role bot.Role) ([]bot.Person, error)
	Wards(ctx context.Context) ([]bot.Ward, error)
	Categories(ctx context.Context) ([]bot.Category, error)
	Analysis(ctx context.Context, no string) (*bot.FaultAnalysis, error)
	SpanStats(ctx context.Context, bounds []time.Time, asOf time.Time) ([]bot.GroupStats, error)
	GroupStats(ctx context.Context, s bot.Span, d bot.Dimension, asOf time.Time) ([]bot.GroupStats, error)
	Runs(ctx context.Context, job string, offset, limit int) ([]bot.JobRun, error)
	QueuedMessages(ctx context.Context, statuses []string, offset, limit int) ([]bot.QueuedMessage, error)
}

// Roster answers who is on call (*roster.Roster).
type Roster interface {
	OnCall(ctx context.Context, at time.Time) (bot.OnCall, error)
}

// Options configure the console; all but WeComState, WeComLogin and Try are
// required.
type Options struct {
	Store  Store
	Roster Roster
	Texts  Texts
	Clock  bot.Clock
	// Location is the hospital's time zone, for every time shown.
	Location *time.Location
	// Session names who a request's session (the admin API's cookie) logged
	// in as: ErrNoSession when none, or one not allowed the console.
	Session func(r *http.Request) (Viewer, error)
	// WeComState is the catalogue key of the WeCom connection's state, for
	// the support page.
	WeComState func() string
	// WeComLogin offers WeCom's web login (the admin API's
	// /api/v1/login/wecom) and the one-time code that completes it.
	WeComLogin bool
	// Try is the try-it page's transcript; nil leaves /try unserved.
	Try    *Try
	Logger *slog.Logger
}

// ErrNoSession is Session's answer for a visitor who must log in.
var ErrNoSession = errors.New("console: not logged in")

// Viewer is who is logged in to the console.
type Viewer struct{ UserID, Name string }

// Console serves the pages.
type Console struct {
	opt  Options
	tmpl map[string]*template.Template
	mux  *http.ServeMux

	// board holds the browsers watching the live board.
	mu    sync.Mutex
	board map[chan string]struct{}
	done  chan struct{}
}

// New parses the templates and builds the routes.
func New(opt Options) (*Console, error) {
	if opt.Store == nil || opt.Roster == nil || opt.Texts == nil || opt.Clock == nil || opt.Location == nil ||
		opt.Session == nil || opt.Logger == nil {
		return nil, errors.New("console: Store, Roster, Texts, Clock, Location, Session and Logger are required")
	}
	c := &Console{opt: opt, tmpl: map[string]*template.Template{}, board: map[chan string]struct{}{}, done: make(chan struct{})}
	funcs := template.FuncMap{
		"t":  func(key string, kv ...any) string { return opt.Texts.Text(key, pairs(kv)) },
		"tm": func(t time.Time) string { return c.clockTime(t) },
	}
	pages, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, p := range pages {
		if p == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", p)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		c.tmpl[strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")] = t
	}
	static, _ := fs.Sub(assets, "static")
	m := http.NewServeMux()
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /console/login", c.login)
	m.HandleFunc("GET /console/{$}", c.auth(c.boardPage, true))
	m.HandleFunc("GET /console/board/rows", c.auth(c.boardRows, false))
	m.HandleFunc("GET /console/events", c.auth(c.events, false))
	m.HandleFunc("GET /console/tickets/{no}", c.auth(c.ticketPage, true))
	m.HandleFunc("GET /console/oncall", c.auth(c.oncallPage, true))
	m.HandleFunc("GET /console/reports", c.auth(c.reportsPage, true))
	m.HandleFunc("GET /console/support", c.auth(c.supportPage, true))
	if opt.Try != nil {
		m.HandleFunc("GET /try", c.tryPage)
		m.HandleFunc("GET /try/events", opt.Try.events)
		m.HandleFunc("POST /try/say", opt.Try.say)
	}
	c.mux = m
	return c, nil
}

// Handler serves /console/… and /try.
func (c *Console) Handler() http.Handler { return c.mux }

// Committed is the console's subscriber to the feed of committed changes:
// every browser on the live board redraws the rows.
func (c *Console) Committed(ctx context.Context, cm bot.Committed) {
	if cm.Ticket == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for ch := range c.board {
		select {
		case ch <- cm.Ticket.No:
		default: // it redraws on the next one
		}
	}
}

// Run ends the event streams when ctx ends, so the server's shutdown does
// not wait on them.
func (c *Console) Run(ctx context.Context) error {
	<-ctx.Done()
	close(c.done)
	if c.opt.Try != nil {
		c.opt.Try.Close()
	}
	return nil
}

type viewerKey struct{}

// auth lets only a logged-in visitor through: a page sends the others to
// the login page, what the pages fetch answers them 401.
func (c *Console) auth(h http.HandlerFunc, page bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := c.opt.Session(r)
		switch {
		case errors.Is(err, ErrNoSession) && page:
			http.Redirect(w, r, "/console/login", http.StatusSeeOther)
			return
		case errors.Is(err, ErrNoSession):
			http.Error(w, c.opt.Texts.Text("console.need_login", nil), http.StatusUnauthorized)
			return
		case err != nil:
			c.fail(w, r, err) // the database is down: say so rather than ask for a login
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, &p)))
	}
}

// page is what every template gets.
type page struct {
	Title  string
	Nav    string
	Viewer *Viewer
	Try    bool
	Data   any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, name, nav, title string, data any) {
	p := page{Title: title, Nav: nav, Try: c.opt.Try != nil, Data: data}
	p.Viewer, _ = r.Context().Value(viewerKey{}).(*Viewer)
	c.exec(w, name, "layout.html", p)
}

func (c *Console) exec(w http.ResponseWriter, name, tmpl string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// Only the binary's own script and styles run, and no other site frames
	// the pages: escaping is not the only line of defence.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	if err := c.tmpl[name].ExecuteTemplate(w, tmpl, data); err != nil {
		c.opt.Logger.Error("console template", "page", name, "err", err)
	}
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, bot.ErrNotFound) {
		status = http.StatusNotFound
	} else {
		c.opt.Logger.Error("console", "path", r.URL.Path, "err", err)
	}
	http.Error(w, c.opt.Texts.Text("console.error", map[string]any{"error": http.StatusText(status)}), status)
}

func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "login", "", c.opt.Texts.Text("console.login.title", nil), c.opt.WeComLogin)
}

func (c *Console) tryPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	people, err := c.opt.Store.People(ctx, "")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	wards, err := c.opt.Store.Wards(ctx)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	type persona struct {
		bot.Person
		RoleName, Chat string
	}
	var ps []persona
	for _, p := range people {
		if !p.Active {
			continue
		}
		pe := persona{Person: p, RoleName: c.opt.Texts.Text("role."+string(p.Role), nil)}
		for _, wd := range wards {
			if wd.Code == p.WardCode && p.Role == bot.RoleNurse {
				pe.Chat = wd.ChatID
			}
		}
		ps = append(ps, pe)
	}
	// A newcomer starts as a nurse: reporting is where a fault begins.
	rank := map[bot.Role]int{bot.RoleNurse: 0, bot.RoleEngineer: 1, bot.RoleLead: 2}
	slices.SortStableFunc(ps, func(a, b persona) int { return cmp.Compare(rank[a.Role], rank[b.Role]) })
	var groups []bot.Ward
	for _, wd := range wards {
		if wd.ChatID != "" {
			groups = append(groups, wd)
		}
	}
	// The names the transcript's user ids are shown by.
	names := map[string]string{}
	for _, p := range people {
		names[p.UserID] = p.Name
	}
	c.render(w, r, "try", "try", c.opt.Texts.Text("console.try.title", nil),
		map[string]any{"People": ps, "Groups": groups, "Names": names})
}

// sse writes Server-Sent Events.
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func startSSE(w http.ResponseWriter) sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx in front must not buffer the stream
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	s := sse{w: w, f: f}
	s.flush()
	return s
}

// send writes one event with id and v as JSON; false once the browser is gone.
func (s sse) send(id int, v any) bool {
	b, err := json.Marshal(v)
	if err != nil {
		return false
	}
	if _, err := fmt.Fprintf(s.w, "id: %d\ndata: %s\n\n", id, b); err != nil {
		return false
	}
	s.flush()
	return true
}

func (s sse) flush() {
	if s.f != nil {
		s.f.Flush()
	}
}

func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"code": code, "message": msg})
}

// pairs turns template arguments "k1", v1, "k2", v2 into catalogue fields.
func pairs(kv []any) map[string]any {
	if len(kv) == 0 {
		return nil
	}
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		if k, ok := kv[i].(string); ok {
			m[k] = kv[i+1]
		}
	}
	return m
}

func (c *Console) clockTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(c.opt.Location).Format("01-02 15:04")
}

func (c *Console) names(ctx context.Context) map[string]string {
	people, _ := c.opt.Store.People(ctx, "")
	m := map[string]string{}
	for _, p := range people {
		m[p.UserID] = p.Name
	}
	return m
}
