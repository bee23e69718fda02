package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"weibao/bot"
	"weibao/bot/access"
)

// Board is what the ticket and support pages read (storage.DB).
type Board interface {
	Tickets(ctx context.Context, f bot.TicketFilter) ([]*bot.Ticket, error)
	Ticket(ctx context.Context, no string) (*bot.Ticket, error)
	Timeline(ctx context.Context, no string) ([]bot.Event, error)
	Ward(ctx context.Context, code string) (*bot.Ward, error)
	Wards(ctx context.Context) ([]bot.Ward, error)
	Categories(ctx context.Context) ([]bot.Category, error)
	QueuedMessages(ctx context.Context, statuses []string, offset, limit int) ([]bot.QueuedMessage, error)
}

// APIOptions configure the ticket, directory, support and audit API.
type APIOptions struct {
	Board    Board
	Location *time.Location // dates in queries are local to it
	Clock    bot.Clock
}

// RegisterAPI adds the read API and the audit log (after RegisterAccess).
// Every list takes ?page=1&per_page=50 (at most 200) and answers
// {"items":[…],"page":1,"per_page":50,"has_more":false}; an unknown query
// parameter is a 400 naming it.
//
//	GET /api/v1/tickets?status=new,acknowledged&ward=med-icu&priority=P1,P2&from=2026-11-01&to=2026-11-30
//	                                 viewer: tickets, newest first (from/to: report date, inclusive)
//	GET /api/v1/tickets/:no          viewer: {"ticket":{…},"timeline":[…]}
//	GET /api/v1/wards                viewer: the wards
//	GET /api/v1/categories           viewer: the fault categories
//	GET /api/v1/outbox?status=failed viewer: messages waiting (pending) or given up (failed, expired), oldest first; never their text
//	GET /api/v1/audit?actor=&action=&from=&to=
//	                                 lead: the audit log, newest first
//	GET /api/v1/audit/export?…       lead: the same rows, all of them, as CSV (UTF-8, for Excel)
func (s *Server) RegisterAPI(opt APIOptions) {
	if s.auth == nil || opt.Board == nil {
		return
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	h := &apiHandler{opt: opt, log: s.opt.Logger, texts: s.opt.Texts, access: s.auth.access}
	g := s.engine.Group("/api/v1")
	read := s.authed(access.Viewer)
	g.GET("/tickets", read, h.tickets)
	g.GET("/tickets/:no", read, h.ticket)
	g.GET("/wards", read, h.wards)
	g.GET("/categories", read, h.categories)
	g.GET("/outbox", read, h.outbox)
	g.GET("/audit", s.authed(access.Lead), h.audit)
	g.GET("/audit/export", s.authed(access.Lead), h.auditExport)
}

type apiHandler struct {
	opt    APIOptions
	log    *slog.Logger
	texts  Texts
	access *access.Service
}

// MaxPerPage bounds one page of any list.
const MaxPerPage = 200

// page is a list's ?page=&per_page=.
type page struct{ n, per int }

func (p page) offset() int { return (p.n - 1) * p.per }

// readPage reads the page parameters and refuses any query parameter not in
// allowed (or the page's own): a mistyped filter would otherwise list
// everything.
func readPage(c *gin.Context, allowed ...string) (page, error) {
	q := c.Request.URL.Query()
	if err := onlyParams(q, append(allowed, "page", "per_page")...); err != nil {
		return page{}, err
	}
	p := page{n: 1, per: 50}
	for _, f := range []struct {
		name string
		v    *int
		max  int
	}{{"page", &p.n, 1 << 20}, {"per_page", &p.per, MaxPerPage}} {
		if s := q.Get(f.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > f.max {
				return page{}, badField(f.name, f.name, "%s: %q is not a whole number from 1 to %d", f.name, s, f.max)
			}
			*f.v = n
		}
	}
	return p, nil
}

func onlyParams(q url.Values, allowed ...string) error {
	for k := range q {
		if !slices.Contains(allowed, k) {
			return badField(k, "no_such_param", "query: unknown parameter %q", k)
		}
	}
	return nil
}

// listPage answers one page of a list fetched with one item more than the
// page holds: that extra item only says there is a next page.
func listPage[T any](c *gin.Context, p page, items []T) {
	more := len(items) > p.per
	if more {
		items = items[:p.per]
	}
	if items == nil {
		items = []T{}
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "page": p.n, "per_page": p.per, "has_more": more})
}

// sliceFor is one page of a list held whole (wards, categories), with the
// extra item listPage looks for.
func sliceFor[T any](all []T, p page) []T {
	from := min(p.offset(), len(all))
	return all[from:min(from+p.per+1, len(all))]
}

// dates reads ?from=&to= (inclusive local dates) as [from, to+1 day).
func dates(c *gin.Context, loc *time.Location) (from, to time.Time, err error) {
	for _, f := range []struct {
		name string
		t    *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := c.Query(f.name); s != "" {
			if *f.t, err = time.ParseInLocation("2006-01-02", s, loc); err != nil {
				return from, to, badField(f.name, "date", "%s: %q is not a date like 2026-11-25", f.name, s)
			}
		}
	}
	if !to.IsZero() {
		to = to.AddDate(0, 0, 1)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, badField("to", "date_after_from", "to: %s is before from", c.Query("to"))
	}
	return from, to, nil
}

// list splits a comma-separated parameter and checks each value is one of
// valid.
func list[T ~string](c *gin.Context, name, form string, valid []T) ([]T, error) {
	s := c.Query(name)
	if s == "" {
		return nil, nil
	}
	var out []T
	for _, v := range strings.Split(s, ",") {
		if !slices.Contains(valid, T(v)) {
			return nil, badField(name, form, "%s: %q is not one of %v", name, v, valid)
		}
		out = append(out, T(v))
	}
	return out, nil
}

var allStatuses = []bot.Status{bot.StatusNew, bot.StatusAcknowledged, bot.StatusInProgress, bot.StatusOnSite, bot.StatusResolved,
	bot.StatusConfirmed, bot.StatusClosed, bot.StatusCancelled, bot.StatusMerged}

func (h *apiHandler) tickets(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := readPage(c, "status", "ward", "priority", "from", "to")
	var f bot.TicketFilter
	if err == nil {
		f.Statuses, err = list(c, "status", "status", allStatuses)
	}
	if err == nil {
		f.Priorities, err = list(c, "priority", "priority", []bot.Priority{bot.P1, bot.P2, bot.P3, bot.P4})
	}
	if err == nil {
		f.From, f.To, err = dates(c, h.opt.Location)
	}
	if f.WardCode = c.Query("ward"); err == nil && f.WardCode != "" {
		if _, werr := h.opt.Board.Ward(ctx, f.WardCode); errors.Is(werr, bot.ErrNotFound) {
			err = badField("ward", "known_ward", "ward: %q is not a ward code (see /api/v1/wards)", f.WardCode)
		} else if werr != nil {
			err = werr
		}
	}
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	f.Offset, f.Limit = p.offset(), p.per+1
	ts, err := h.opt.Board.Tickets(ctx, f)
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	out := make([]ticketJSON, len(ts))
	for i, t := range ts {
		out[i] = h.ticketJSON(t)
	}
	listPage(c, p, out)
}

func (h *apiHandler) ticket(c *gin.Context) {
	ctx, no := c.Request.Context(), c.Param("no")
	if !bot.ValidTicketNo(no) {
		badRequest(c, h.texts, badField("no", "ticket_no", "no: %q is not a ticket number like F20261125-0001", no))
		return
	}
	t, err := h.opt.Board.Ticket(ctx, no)
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	evs, err := h.opt.Board.Timeline(ctx, no)
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	timeline := make([]gin.H, len(evs))
	for i, e := range evs {
		timeline[i] = gin.H{"kind": e.Kind, "actor": e.Actor, "at": e.At.In(h.opt.Location), "from": e.From, "to": e.To,
			"detail": e.Detail, "clock": e.Clock}
	}
	c.JSON(http.StatusOK, gin.H{"ticket": h.ticketJSON(t), "timeline": timeline})
}

// ticketJSON is a ticket as the API shows it; a zero time is null.
type ticketJSON struct {
	No          string     `json:"no"`
	Status      bot.Status `json:"status"`
	Priority    string     `json:"priority"`
	Ward        string     `json:"ward"`
	Category    string     `json:"category"`
	Description string     `json:"description"`
	Reporter    string     `json:"reporter"`
	Assignee    string     `json:"assignee"`
	Triage      bool       `json:"triage"`
	Urgent      bool       `json:"urgent"`
	Paused      bool       `json:"paused"`
	Escalation  int        `json:"escalation_level"`
	Reported    *time.Time `json:"reported_at"`
	Ack         *time.Time `json:"acknowledged_at"`
	Resolved    *time.Time `json:"resolved_at"`
	Closed      *time.Time `json:"closed_at"`
	AckDue      *time.Time `json:"ack_due"`
	ResolveDue  *time.Time `json:"resolve_due"`
	OnSiteDue   *time.Time `json:"onsite_due"`
}

func (h *apiHandler) ticketJSON(t *bot.Ticket) ticketJSON {
	at := func(x time.Time) *time.Time {
		if x.IsZero() {
			return nil
		}
		x = x.In(h.opt.Location)
		return &x
	}
	return ticketJSON{No: t.No, Status: t.Status, Priority: string(t.Priority), Ward: t.WardCode, Category: t.Category,
		Description: t.Description, Reporter: t.ReporterID, Assignee: t.AssigneeID, Triage: t.Triage, Urgent: t.Urgent,
		Paused: !t.PausedAt.IsZero(), Escalation: t.EscalationLevel, Reported: at(t.ReportedAt), Ack: at(t.AcknowledgedAt),
		Resolved: at(t.ResolvedAt), Closed: at(t.ClosedAt), AckDue: at(t.Due.Ack), ResolveDue: at(t.Due.Resolve), OnSiteDue: at(t.Due.OnSite)}
}

func (h *apiHandler) wards(c *gin.Context) {
	p, err := readPage(c)
	if err != nil {
		badRequest(c, h.texts, err)
		return
	}
	ws, err := h.opt.Board.Wards(c.Request.Context())
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	out := make([]gin.H, len(ws))
	for i, w := range ws {
		out[i] = gin.H{"code": w.Code, "name": w.Name, "campus": w.CampusCode, "chat_id": w.ChatID}
	}
	listPage(c, p, sliceFor(out, p))
}

func (h *apiHandler) categories(c *gin.Context) {
	p, err := readPage(c)
	if err != nil {
		badRequest(c, h.texts, err)
		return
	}
	cs, err := h.opt.Board.Categories(c.Request.Context())
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	out := make([]gin.H, len(cs))
	for i, x := range cs {
		out[i] = gin.H{"code": x.Code, "name": x.Name, "type": x.Type, "difficulty": x.Difficulty, "keywords": x.Keywords,
			"self_help": x.SelfHelp}
	}
	listPage(c, p, sliceFor(out, p))
}

// outboxStatuses are the outbox rows support looks at: waiting, and given up
// (failed, or expired by its rule).
var outboxStatuses = []string{"pending", "failed", "expired"}

func (h *apiHandler) outbox(c *gin.Context) {
	p, err := readPage(c, "status")
	var statuses []string
	if err == nil {
		statuses, err = list(c, "status", "outbox_status", outboxStatuses)
	}
	if err != nil {
		badRequest(c, h.texts, err)
		return
	}
	if statuses == nil {
		statuses = outboxStatuses
	}
	ms, err := h.opt.Board.QueuedMessages(c.Request.Context(), statuses, p.offset(), p.per+1)
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	out := make([]gin.H, len(ms))
	for i, m := range ms {
		out[i] = gin.H{"id": m.ID, "key": m.Key, "ticket_no": m.TicketNo, "status": m.Status, "to_users": m.ToUsers,
			"to_chat": m.ToChat, "format": m.Format, "file": m.HasFile, "attempts": m.Attempts, "last_error": m.LastError,
			"next_attempt_at": m.NextAttempt.In(h.opt.Location), "created_at": m.Created.In(h.opt.Location)}
	}
	listPage(c, p, out)
}

// auditFilter reads the audit log's filters.
func (h *apiHandler) auditFilter(c *gin.Context) (access.AuditFilter, error) {
	f := access.AuditFilter{Actor: c.Query("actor"), Action: c.Query("action")}
	var err error
	f.From, f.To, err = dates(c, h.opt.Location)
	return f, err
}

func (h *apiHandler) audit(c *gin.Context) {
	p, err := readPage(c, "actor", "action", "from", "to")
	var f access.AuditFilter
	if err == nil {
		f, err = h.auditFilter(c)
	}
	if err != nil {
		badRequest(c, h.texts, err)
		return
	}
	f.Offset, f.Limit = p.offset(), p.per+1
	rows, err := h.access.AuditLog(c.Request.Context(), f)
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	out := make([]gin.H, len(rows))
	for i, e := range rows {
		out[i] = gin.H{"id": e.ID, "at": e.At.In(h.opt.Location), "actor": e.Actor, "action": e.Action, "target": e.Target,
			"before": e.Before, "after": e.After, "ip": e.IP, "user_agent": e.Agent}
	}
	listPage(c, p, out)
}

// auditExport writes every matching row as CSV, a thousand rows per query
// (by id, so rows written meanwhile neither repeat nor hide one) and a
// half-year log never sits in memory at once. The export itself is
// audited: who took a copy of the log is part of it.
func (h *apiHandler) auditExport(c *gin.Context) {
	ctx := c.Request.Context()
	if err := onlyParams(c.Request.URL.Query(), "actor", "action", "from", "to"); err != nil {
		badRequest(c, h.texts, err)
		return
	}
	f, err := h.auditFilter(c)
	if err != nil {
		badRequest(c, h.texts, err)
		return
	}
	if err := h.access.Audit(ctx, Who(c), from(c), "audit.export", "audit", nil, c.Request.URL.RawQuery); err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	first := true
	w := csv.NewWriter(c.Writer)
	for f.Limit = 1000; ; {
		rows, err := h.access.AuditLog(ctx, f)
		if err != nil {
			if first {
				answerErr(c, h.texts, h.log, err)
				return
			}
			// Mid-stream the status is sent: end the file with the reason.
			h.log.Error("audit export", "err", err, "request_id", RequestID(c))
			w.Write([]string{"export cut short: " + err.Error()})
			w.Flush()
			return
		}
		if first {
			name := "审计日志-" + h.opt.Clock.Now().In(h.opt.Location).Format("2006-01-02") + ".csv"
			c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q; filename*=UTF-8''%s", asciiName(name), url.PathEscape(name)))
			c.Header("Content-Type", "text/csv; charset=utf-8")
			c.Status(http.StatusOK)
			c.Writer.WriteString("\uFEFF") // Excel reads UTF-8 only after a byte-order mark
			w.Write([]string{"id", "at", "actor", "action", "target", "before", "after", "ip", "user_agent"})
			first = false
		}
		for _, e := range rows {
			w.Write([]string{strconv.FormatInt(e.ID, 10), e.At.In(h.opt.Location).Format(time.RFC3339), e.Actor, e.Action, e.Target,
				string(e.Before), string(e.After), e.IP, e.Agent})
		}
		if len(rows) < f.Limit {
			break
		}
		f.BeforeID = rows[len(rows)-1].ID
	}
	w.Flush()
}
