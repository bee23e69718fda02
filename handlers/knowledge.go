package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"weibao/bot"
	"weibao/bot/access"
)

// Knowledge is the knowledge base's use cases (*knowledge.Service).
type Knowledge interface {
	Search(ctx context.Context, query string, faqOnly bool) ([]bot.KBEntry, error)
	Approve(ctx context.Context, actor string, id int64) (*bot.KBEntry, error)
	Edit(ctx context.Context, actor string, id int64, e bot.KBEdit) (*bot.KBEntry, error)
	SetFAQ(ctx context.Context, actor string, id int64, faq bool) (*bot.KBEntry, error)
}

// KnowledgeEntries reads the knowledge base (storage.DB).
type KnowledgeEntries interface {
	Entry(ctx context.Context, id int64) (*bot.KBEntry, error)
	Entries(ctx context.Context, f bot.KBFilter) ([]bot.KBEntry, error)
}

// Upgrades are the upgrade use cases (*upgrade.Service).
type Upgrades interface {
	Approve(ctx context.Context, actor, no string) (*bot.Record, error)
	History(ctx context.Context, system string) ([]*bot.Record, error)
}

// Requirements confirms extra requirements (*register.Service).
type Requirements interface {
	Confirm(ctx context.Context, actor, no string) (*bot.Record, error)
}

// KnowledgeOptions configure the knowledge-base API and the actions on
// upgrade and requirement records (their lists and details are the
// records API's: GET /api/v1/records?kind=upgrade).
type KnowledgeOptions struct {
	Knowledge    Knowledge
	Entries      KnowledgeEntries
	Upgrades     Upgrades
	Requirements Requirements
	Location     *time.Location
	Clock        bot.Clock
	// ReviewAfter is when an entry is due for review (stale=true); default 182 days.
	ReviewAfter time.Duration
}

// RegisterKnowledge adds the knowledge-base API (viewers read; the
// signed-in person acts, and the use case checks their role on the roster
// as in chat: an engineer approves an entry, the lead an upgrade, the
// hospital contact a requirement):
//
//	GET  /api/v1/knowledge?status=proposed&faq=true&stale=true&q=监护仪 黑屏
//	GET  /api/v1/knowledge/:id
//	POST /api/v1/knowledge/:id/approve
//	POST /api/v1/knowledge/:id/edit     {"category","symptom","cause","fix"} (empty keeps)
//	POST /api/v1/knowledge/:id/faq      {"faq":true}
//	POST /api/v1/upgrades/:no/approve   the lead approves, before the window
//	GET  /api/v1/upgrades/history?system=重症系统   a system's completed upgrades
//	POST /api/v1/requirements/:no/confirm   the hospital contact confirms an extra requirement
func (s *Server) RegisterKnowledge(opt KnowledgeOptions) {
	if s.auth == nil || opt.Knowledge == nil || opt.Entries == nil {
		return
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.ReviewAfter <= 0 {
		opt.ReviewAfter = 182 * 24 * time.Hour
	}
	h := &knowledgeHandler{opt: opt, log: s.opt.Logger, texts: s.opt.Texts}
	// Who may act is the use case's to say, by the signed-in person's roster role.
	signed := s.authed(access.Viewer)
	g := s.engine.Group("/api/v1/knowledge")
	g.GET("", signed, h.list)
	g.GET("/:id", signed, h.entry)
	g.POST("/:id/approve", signed, h.approve)
	g.POST("/:id/edit", signed, h.edit)
	g.POST("/:id/faq", signed, h.faq)
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	rec := &recordHandler{loc: opt.Location}
	api := s.engine.Group("/api/v1")
	if opt.Upgrades != nil {
		api.POST("/upgrades/:no/approve", signed, func(c *gin.Context) {
			h.recordAction(c, rec, func(ctx context.Context, actor, no string) (*bot.Record, error) {
				return opt.Upgrades.Approve(ctx, actor, no)
			})
		})
		api.GET("/upgrades/history", signed, func(c *gin.Context) {
			rs, err := opt.Upgrades.History(c.Request.Context(), c.Query("system"))
			if err != nil {
				h.fail(c, err)
				return
			}
			out := make([]recordJSON, len(rs))
			for i, r := range rs {
				out[i] = rec.toJSON(r)
			}
			c.JSON(http.StatusOK, gin.H{"records": out})
		})
	}
	if opt.Requirements != nil {
		api.POST("/requirements/:no/confirm", signed, func(c *gin.Context) {
			h.recordAction(c, rec, func(ctx context.Context, actor, no string) (*bot.Record, error) {
				return opt.Requirements.Confirm(ctx, actor, no)
			})
		})
	}
}

// recordAction runs an actor's action on the record the path names.
func (h *knowledgeHandler) recordAction(c *gin.Context, rec *recordHandler, act func(ctx context.Context, actor, no string) (*bot.Record, error)) {
	no := c.Param("no")
	if !bot.ValidRecordNo(no) {
		badRequest(c, h.texts, badField("no", "record_no", "no: %q is not a record number like R20261204-0001", no))
		return
	}
	r, err := act(c.Request.Context(), Who(c).UserID, no)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, rec.toJSON(r))
}

type knowledgeHandler struct {
	opt   KnowledgeOptions
	log   *slog.Logger
	texts Texts
}

type kbJSON struct {
	ID         int64      `json:"id"`
	TicketNo   string     `json:"ticket_no"`
	Category   string     `json:"category"`
	Symptom    string     `json:"symptom"`
	Cause      string     `json:"cause"`
	Fix        string     `json:"fix"`
	FAQ        bool       `json:"faq"`
	Status     string     `json:"status"`
	ProposedAt time.Time  `json:"proposed_at"`
	ReviewedAt *time.Time `json:"reviewed_at,omitempty"`
	ReviewedBy string     `json:"reviewed_by,omitempty"`
}

func toKBJSON(e bot.KBEntry) kbJSON {
	j := kbJSON{ID: e.ID, TicketNo: e.TicketNo, Category: e.Category, Symptom: e.Symptom, Cause: e.Cause, Fix: e.Fix,
		FAQ: e.FAQ, Status: string(e.Status), ProposedAt: e.ProposedAt, ReviewedBy: e.ReviewedBy}
	if !e.ReviewedAt.IsZero() {
		j.ReviewedAt = &e.ReviewedAt
	}
	return j
}

func (h *knowledgeHandler) list(c *gin.Context) {
	ctx := c.Request.Context()
	var es []bot.KBEntry
	var err error
	if q := c.Query("q"); q != "" {
		es, err = h.opt.Knowledge.Search(ctx, q, c.Query("faq") == "true")
	} else {
		f := bot.KBFilter{Status: bot.KBStatus(c.Query("status")), FAQ: c.Query("faq") == "true", Limit: 500}
		if f.Status != "" && f.Status != bot.KBProposed && f.Status != bot.KBApproved {
			badRequest(c, h.texts, badField("status", "kb_status", "status: %q is not proposed or approved", f.Status))
			return
		}
		if c.Query("stale") == "true" {
			f.ReviewedBefore = h.opt.Clock.Now().Add(-h.opt.ReviewAfter)
		}
		es, err = h.opt.Entries.Entries(ctx, f)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	out := make([]kbJSON, len(es))
	for i, e := range es {
		out[i] = toKBJSON(e)
	}
	c.JSON(http.StatusOK, gin.H{"entries": out})
}

func (h *knowledgeHandler) id(c *gin.Context) (int64, bool) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		badRequest(c, h.texts, badField("id", "kb_id", "id: %q is not an entry id", c.Param("id")))
		return 0, false
	}
	return id, true
}

func (h *knowledgeHandler) entry(c *gin.Context) {
	id, ok := h.id(c)
	if !ok {
		return
	}
	e, err := h.opt.Entries.Entry(c.Request.Context(), id)
	h.respond(c, e, err)
}

type kbActionJSON struct {
	Category string `json:"category"`
	Symptom  string `json:"symptom"`
	Cause    string `json:"cause"`
	Fix      string `json:"fix"`
	FAQ      *bool  `json:"faq"`
}

// action binds the body of a POST (an empty body is an empty object).
func (h *knowledgeHandler) action(c *gin.Context) (int64, kbActionJSON, bool) {
	var a kbActionJSON
	id, ok := h.id(c)
	if !ok {
		return 0, a, false
	}
	if c.Request.ContentLength != 0 {
		if err := bindStrict(c, &a); err != nil {
			badRequest(c, h.texts, err)
			return 0, a, false
		}
	}
	return id, a, true
}

func (h *knowledgeHandler) approve(c *gin.Context) {
	if id, _, ok := h.action(c); ok {
		e, err := h.opt.Knowledge.Approve(c.Request.Context(), Who(c).UserID, id)
		h.respond(c, e, err)
	}
}

func (h *knowledgeHandler) edit(c *gin.Context) {
	if id, a, ok := h.action(c); ok {
		e, err := h.opt.Knowledge.Edit(c.Request.Context(), Who(c).UserID, id,
			bot.KBEdit{Category: a.Category, Symptom: a.Symptom, Cause: a.Cause, Fix: a.Fix})
		h.respond(c, e, err)
	}
}

func (h *knowledgeHandler) faq(c *gin.Context) {
	if id, a, ok := h.action(c); ok {
		if a.FAQ == nil {
			badRequest(c, h.texts, badField("faq", "bool", "faq: true or false is required"))
			return
		}
		e, err := h.opt.Knowledge.SetFAQ(c.Request.Context(), Who(c).UserID, id, *a.FAQ)
		h.respond(c, e, err)
	}
}

func (h *knowledgeHandler) respond(c *gin.Context, e *bot.KBEntry, err error) {
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, toKBJSON(*e))
}

func (h *knowledgeHandler) fail(c *gin.Context, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, bot.ErrInvalid):
		badRequest(c, h.texts, err)
		return
	case errors.Is(err, bot.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, bot.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, bot.ErrConflict):
		status = http.StatusConflict
	default:
		h.log.Error("knowledge api", "route", c.FullPath(), "err", err, "request_id", RequestID(c))
		c.JSON(status, gin.H{"error": "internal error", "request_id": RequestID(c)})
		return
	}
	out := gin.H{"error": err.Error()}
	if key, f := bot.UserText(err); key != "" {
		out["message"] = h.texts.Text(key, f)
	}
	c.JSON(status, out)
}
