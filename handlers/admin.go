package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/bot/roster"
)

// RosterAdmin is the on-call roster as the admin API edits it (*roster.Roster).
type RosterAdmin interface {
	Doc(ctx context.Context) (roster.Doc, error)
	Replace(ctx context.Context, d roster.Doc, by string) error
	SetOverride(ctx context.Context, o roster.Override, by string) error
	DeleteOverride(ctx context.Context, date, by string) error
	OnCall(ctx context.Context, at time.Time) (bot.OnCall, error)
	Next(ctx context.Context, at time.Time) (time.Time, bot.OnCall, bool, error)
}

// AdminOptions configure the roster API.
type AdminOptions struct {
	Roster RosterAdmin
	Clock  bot.Clock
}

// RegisterAdmin adds the roster API (after RegisterAccess; without it the
// routes are not registered):
//
//	GET    /api/v1/oncall                   viewer: the roster, who is on call now and next
//	PUT    /api/v1/oncall                   lead, strong: replace the roster (JSON roster.Doc)
//	PUT    /api/v1/oncall/overrides/:date   lead, strong: set one day's override ({"primary","backup"})
//	DELETE /api/v1/oncall/overrides/:date   lead, strong: remove it
//
// Every person named must have the duty's role: engineers on primary and
// backup, a lead as lead. Every change is audited with the roster before
// and after.
func (s *Server) RegisterAdmin(opt AdminOptions) {
	if s.auth == nil || opt.Roster == nil {
		return
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	h := &adminHandler{opt: opt, log: s.opt.Logger, texts: s.opt.Texts, access: s.auth.access}
	g := s.engine.Group("/api/v1")
	g.GET("/oncall", s.authed(access.Viewer), h.getRoster)
	change := []gin.HandlerFunc{s.authed(access.Lead), s.strong()}
	g.PUT("/oncall", append(change, h.putRoster)...)
	g.PUT("/oncall/overrides/:date", append(change, h.putOverride)...)
	g.DELETE("/oncall/overrides/:date", append(change, h.deleteOverride)...)
}

type adminHandler struct {
	opt    AdminOptions
	log    *slog.Logger
	texts  Texts
	access *access.Service
}

type personJSON struct {
	UserID string `json:"userid"`
	Name   string `json:"name"`
}

type onCallJSON struct {
	At      time.Time   `json:"at"`
	Primary *personJSON `json:"primary"` // null: a gap, the lead is paged
	Backup  *personJSON `json:"backup"`
	Lead    *personJSON `json:"lead"`
}

func toJSON(at time.Time, oc bot.OnCall) *onCallJSON {
	p := func(x *bot.Person) *personJSON {
		if x == nil {
			return nil
		}
		return &personJSON{UserID: x.UserID, Name: x.Name}
	}
	return &onCallJSON{At: at, Primary: p(oc.Primary), Backup: p(oc.Backup), Lead: p(oc.Lead)}
}

func (h *adminHandler) getRoster(c *gin.Context) {
	ctx, now := c.Request.Context(), h.opt.Clock.Now()
	doc, err := h.opt.Roster.Doc(ctx)
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	oc, err := h.opt.Roster.OnCall(ctx, now)
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	out := gin.H{"roster": doc, "now": toJSON(now, oc), "next": nil}
	if at, next, ok, err := h.opt.Roster.Next(ctx, now); err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	} else if ok {
		out["next"] = toJSON(at, next)
	}
	c.JSON(http.StatusOK, out)
}

func (h *adminHandler) putRoster(c *gin.Context) {
	var d roster.Doc
	if err := bindStrict(c, &d); err != nil {
		badRequest(c, h.texts, err)
		return
	}
	h.change(c, "oncall.replace", "oncall", func(ctx context.Context) error {
		return h.opt.Roster.Replace(ctx, d, Who(c).UserID)
	})
}

func (h *adminHandler) putOverride(c *gin.Context) {
	var o roster.Override
	if err := bindStrict(c, &o); err != nil {
		badRequest(c, h.texts, err)
		return
	}
	o.Date = c.Param("date")
	h.change(c, "oncall.override.set", "oncall/overrides/"+o.Date, func(ctx context.Context) error {
		return h.opt.Roster.SetOverride(ctx, o, Who(c).UserID)
	})
}

func (h *adminHandler) deleteOverride(c *gin.Context) {
	date := c.Param("date")
	h.change(c, "oncall.override.delete", "oncall/overrides/"+date, func(ctx context.Context) error {
		return h.opt.Roster.DeleteOverride(ctx, date, Who(c).UserID)
	})
}

// change runs one roster edit and audits it with the roster before and
// after. Two leads editing at once may each record the other's edit in
// their before; the rows' order still tells what happened.
func (h *adminHandler) change(c *gin.Context, action, target string, edit func(context.Context) error) {
	ctx := c.Request.Context()
	before, err := h.opt.Roster.Doc(ctx)
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	if err := edit(ctx); err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	after, err := h.opt.Roster.Doc(ctx)
	if err == nil {
		err = h.access.Audit(ctx, Who(c), from(c), action, target, before, after)
	}
	if err != nil {
		answerErr(c, h.texts, h.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// bindStrict decodes exactly one JSON value into v and refuses unknown
// fields: with gin's lenient binding a mistyped key ("primery") would store
// an empty rotation and send every page to the lead. Its errors name the
// field at fault (see badRequest), never the decoder's own words alone.
func bindStrict(c *gin.Context, v any) error {
	dec := json.NewDecoder(c.Request.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var be *bot.Error
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &be):
			return err
		case errors.As(err, &te):
			return badField(te.Field, "json_type", "body: field %q has the wrong type (got a JSON %s)", te.Field, te.Value)
		case errors.As(err, &se):
			return badField("body", "json", "body: not JSON (syntax error at byte %d)", se.Offset)
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return badField(f, "no_such_field", "body: unknown field %q", f)
		}
		return badField("body", "json", "body: want one JSON object, got none or a cut-off one")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badField("body", "json", "body: more than one JSON value")
	}
	return nil
}

// badField is an invalid request naming the field and, by the catalogue's
// api.form.<form>, the form it expects.
func badField(field, form, format string, args ...any) error {
	return bot.Errorf(bot.ErrInvalid, "api.bad_field", map[string]any{"field": field, "form": form}, format, args...)
}
