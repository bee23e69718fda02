package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"weibao/bot"
	"weibao/bot/access"
)

// Records serves the maintenance records (*records.Service).
type Records interface {
	Create(ctx context.Context, actor string, in bot.Record) (*bot.Record, error)
	Step(ctx context.Context, actor, no string, cs ...bot.RecordChange) (*bot.Record, error)
	Record(ctx context.Context, no string) (*bot.Record, []bot.RecordEvent, error)
	List(ctx context.Context, f bot.RecordFilter) ([]*bot.Record, error)
	Period(p string) (bot.Span, error)
	ExportFile(ctx context.Context, kind bot.RecordKind, period string) (name string, data []byte, err error)
}

// RegisterRecords adds the records API (after RegisterAccess), by role:
//
//	GET  /api/v1/records?kind=inspection&period=2026-12   viewer: records of a month or quarter (JSON)
//	GET  /api/v1/records/:no                               viewer: one record with its timeline
//	POST /api/v1/records                                   engineer: {"kind","subject","at","fields","by"}: a complete record (audited)
//	POST /api/v1/records/:no/changes                       engineer: {"kind","text","fields","ticket","by"}: a change (audited)
//	GET  /api/v1/records/export?kind=inspection&period=2026Q4   viewer: the kind's workbook (xlsx)
//
// "by" is the engineer or lead the record is kept by: the caller, or for
// a lead someone else.
func (s *Server) RegisterRecords(recs Records, loc *time.Location) {
	if s.auth == nil || recs == nil {
		return
	}
	if loc == nil {
		loc = time.UTC
	}
	h := &recordHandler{recs: recs, loc: loc, rep: &reportHandler{log: s.opt.Logger, texts: s.opt.Texts}, access: s.auth.access}
	g := s.engine.Group("/api/v1/records")
	read, write := s.authed(access.Viewer), s.authed(access.Engineer)
	g.GET("", read, h.list)
	g.GET("/export", read, h.export)
	g.GET("/:no", read, h.get)
	g.POST("", write, h.create)
	g.POST("/:no/changes", write, h.change)
}

type recordHandler struct {
	recs   Records
	loc    *time.Location
	rep    *reportHandler // its file and error answers
	access *access.Service
}

// keeper checks who a record is kept by (required): the caller, or for a
// lead someone else.
func (h *recordHandler) keeper(c *gin.Context, by string) (string, bool) {
	switch p := Who(c); {
	case by == "":
		badRequest(c, h.rep.texts, badField("by", "userid", "by: who keeps the record is required"))
		return "", false
	case by != p.UserID && p.Role != access.Lead:
		abort(c, h.rep.texts, http.StatusForbidden, "forbidden", "only a lead keeps a record for someone else")
		return "", false
	}
	return by, true
}

type recordJSON struct {
	No      string            `json:"no"`
	Kind    bot.RecordKind    `json:"kind"`
	Status  bot.RecordStatus  `json:"status"`
	Subject string            `json:"subject,omitempty"`
	At      time.Time         `json:"at"`
	DoneAt  *time.Time        `json:"done_at,omitempty"`
	By      string            `json:"by"`
	Fields  map[string]string `json:"fields"`
	Tickets []string          `json:"tickets"`
}

type recordEventJSON struct {
	Kind   bot.RecordEventKind `json:"kind"`
	Actor  string              `json:"actor"`
	At     time.Time           `json:"at"`
	From   bot.RecordStatus    `json:"from,omitempty"`
	To     bot.RecordStatus    `json:"to"`
	Detail string              `json:"detail,omitempty"`
}

func (h *recordHandler) toJSON(r *bot.Record) recordJSON {
	out := recordJSON{No: r.No, Kind: r.Kind, Status: r.Status, Subject: r.Subject, At: r.At.In(h.loc), By: r.CreatedBy,
		Fields: r.Fields, Tickets: r.Tickets}
	if !r.DoneAt.IsZero() {
		t := r.DoneAt.In(h.loc)
		out.DoneAt = &t
	}
	if out.Tickets == nil {
		out.Tickets = []string{}
	}
	return out
}

func (h *recordHandler) list(c *gin.Context) {
	f := bot.RecordFilter{Limit: 500}
	if k := c.Query("kind"); k != "" {
		if !bot.RecordKind(k).Valid() {
			badRequest(c, h.rep.texts, badField("kind", "record_kind", "kind: %q is not a record kind", k))
			return
		}
		f.Kinds = []bot.RecordKind{bot.RecordKind(k)}
	}
	if p := c.Query("period"); p != "" {
		span, err := h.recs.Period(p)
		if err != nil {
			badRequest(c, h.rep.texts, err)
			return
		}
		f.From, f.To = span.From, span.To
	}
	if l, err := strconv.Atoi(c.Query("limit")); err == nil && l > 0 && l < f.Limit {
		f.Limit = l
	}
	rs, err := h.recs.List(c.Request.Context(), f)
	if err != nil {
		h.rep.fail(c, err)
		return
	}
	out := make([]recordJSON, len(rs))
	for i, r := range rs {
		out[i] = h.toJSON(r)
	}
	c.JSON(http.StatusOK, gin.H{"records": out})
}

func (h *recordHandler) get(c *gin.Context) {
	no := c.Param("no")
	if !bot.ValidRecordNo(no) {
		badRequest(c, h.rep.texts, badField("no", "record_no", "no: %q is not a record number like R20261204-0001", no))
		return
	}
	r, tl, err := h.recs.Record(c.Request.Context(), no)
	if err != nil {
		h.rep.fail(c, err)
		return
	}
	evs := make([]recordEventJSON, len(tl))
	for i, e := range tl {
		evs[i] = recordEventJSON{Kind: e.Kind, Actor: e.Actor, At: e.At.In(h.loc), From: e.From, To: e.To, Detail: e.Detail}
	}
	c.JSON(http.StatusOK, gin.H{"record": h.toJSON(r), "timeline": evs})
}

type newRecordJSON struct {
	Kind    bot.RecordKind    `json:"kind"`
	Subject string            `json:"subject"`
	At      time.Time         `json:"at"`
	Fields  map[string]string `json:"fields"`
	By      string            `json:"by"`
}

func (h *recordHandler) create(c *gin.Context) {
	var in newRecordJSON
	if err := bindStrict(c, &in); err != nil {
		badRequest(c, h.rep.texts, err)
		return
	}
	by, ok := h.keeper(c, in.By)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	r, err := h.recs.Create(ctx, by, bot.Record{Kind: in.Kind, Subject: in.Subject, At: in.At, Fields: in.Fields})
	if err == nil {
		err = h.access.Audit(ctx, Who(c), from(c), "record.create", "records/"+r.No, nil, h.toJSON(r))
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"record": h.toJSON(r)})
}

type recordChangeJSON struct {
	Kind   bot.RecordEventKind `json:"kind"`
	Text   string              `json:"text"`
	Fields map[string]string   `json:"fields"`
	Ticket string              `json:"ticket"`
	By     string              `json:"by"`
}

func (h *recordHandler) change(c *gin.Context) {
	var in recordChangeJSON
	if err := bindStrict(c, &in); err != nil {
		badRequest(c, h.rep.texts, err)
		return
	}
	by, ok := h.keeper(c, in.By)
	if !ok {
		return
	}
	ctx, no := c.Request.Context(), c.Param("no")
	if !bot.ValidRecordNo(no) {
		badRequest(c, h.rep.texts, badField("no", "record_no", "no: %q is not a record number like R20261204-0001", no))
		return
	}
	before, _, err := h.recs.Record(ctx, no)
	if err != nil {
		h.fail(c, err)
		return
	}
	r, err := h.recs.Step(ctx, by, no, bot.RecordChange{Kind: in.Kind, Text: in.Text, Fields: in.Fields, TicketNo: in.Ticket})
	if err == nil {
		err = h.access.Audit(ctx, Who(c), from(c), "record.change", "records/"+no, h.toJSON(before), h.toJSON(r))
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"record": h.toJSON(r)})
}

func (h *recordHandler) export(c *gin.Context) {
	kind := bot.RecordKind(c.Query("kind"))
	if !kind.Valid() {
		badRequest(c, h.rep.texts, badField("kind", "record_kind", "kind: %q is not a record kind", kind))
		return
	}
	name, data, err := h.recs.ExportFile(c.Request.Context(), kind, c.Query("period"))
	h.rep.file(c, name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", data, err)
}

func (h *recordHandler) fail(c *gin.Context, err error) { h.rep.fail(c, err) }
