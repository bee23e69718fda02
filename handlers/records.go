package handlers

import (
	"context"
	"errors"
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

// RegisterRecords adds the records API (viewers read, engineers keep
// records):
//
//	GET  /api/v1/records?kind=inspection&period=2026-12   records of a month or quarter (JSON)
//	GET  /api/v1/records/:no                               one record with its timeline
//	POST /api/v1/records                                   {"kind","subject","at","fields","by"}: a complete record
//	POST /api/v1/records/:no/changes                       {"kind","text","fields","ticket","by"}: a change
//	GET  /api/v1/records/export?kind=inspection&period=2026Q4   the kind's workbook (xlsx)
//
// "by" is the engineer or lead the record is kept by.
func (s *Server) RegisterRecords(recs Records, loc *time.Location) {
	if recs == nil {
		return
	}
	if loc == nil {
		loc = time.UTC
	}
	h := &recordHandler{recs: recs, loc: loc, rep: &reportHandler{log: s.opt.Logger, texts: s.opt.Texts}}
	g := s.engine.Group("/api/v1/records")
	read, keep := s.authed(access.Viewer), s.authed(access.Engineer)
	g.GET("", read, h.list)
	g.GET("/export", read, h.export)
	g.GET("/:no", read, h.get)
	g.POST("", keep, h.create)
	g.POST("/:no/changes", keep, h.change)
}

type recordHandler struct {
	recs Records
	loc  *time.Location
	rep  *reportHandler // its file and error answers
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
	if in.By == "" {
		badRequest(c, h.rep.texts, badField("by", "userid", "by: who keeps the record is required"))
		return
	}
	r, err := h.recs.Create(c.Request.Context(), in.By, bot.Record{Kind: in.Kind, Subject: in.Subject, At: in.At, Fields: in.Fields})
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
	if in.By == "" {
		badRequest(c, h.rep.texts, badField("by", "userid", "by: who changes the record is required"))
		return
	}
	r, err := h.recs.Step(c.Request.Context(), in.By, c.Param("no"),
		bot.RecordChange{Kind: in.Kind, Text: in.Text, Fields: in.Fields, TicketNo: in.Ticket})
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

// fail answers a record error: 403 for who may not, 409 for a conflict,
// else as the report API does.
func (h *recordHandler) fail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, bot.ErrForbidden):
		c.JSON(http.StatusForbidden, gin.H{"error": err.Error()})
	case errors.Is(err, bot.ErrConflict):
		c.JSON(http.StatusConflict, gin.H{"error": err.Error()})
	default:
		h.rep.fail(c, err)
	}
}
