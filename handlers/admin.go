package handlers

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"weibao/bot"
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

// AdminOptions configure the admin API.
type AdminOptions struct {
	// Token is the bearer token (server.admin_token); empty disables the
	// admin API, whose routes then answer 404.
	Token  string
	Roster RosterAdmin
	Clock  bot.Clock
}

// adminActor is who the roster records for edits made through the API.
const adminActor = "admin-api"

// RegisterAdmin adds the roster admin API under /api/v1/oncall:
//
//	GET    /api/v1/oncall                   the roster, who is on call now and next
//	PUT    /api/v1/oncall                   replace the roster (JSON roster.Doc)
//	PUT    /api/v1/oncall/overrides/:date   set one day's override ({"primary","backup"})
//	DELETE /api/v1/oncall/overrides/:date   remove it
func (s *Server) RegisterAdmin(opt AdminOptions) {
	if opt.Token == "" || opt.Roster == nil {
		return
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	h := &adminHandler{opt: opt, log: s.opt.Logger, texts: s.opt.Texts}
	g := s.engine.Group("/api/v1", h.auth)
	g.GET("/oncall", h.getRoster)
	g.PUT("/oncall", h.putRoster)
	g.PUT("/oncall/overrides/:date", h.putOverride)
	g.DELETE("/oncall/overrides/:date", h.deleteOverride)
}

type adminHandler struct {
	opt   AdminOptions
	log   *slog.Logger
	texts Texts
}

func (h *adminHandler) auth(c *gin.Context) {
	got, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(h.opt.Token)) != 1 {
		c.Header("WWW-Authenticate", `Bearer realm="weibao"`)
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "unauthorized"})
		return
	}
	c.Next()
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
		h.fail(c, err)
		return
	}
	oc, err := h.opt.Roster.OnCall(ctx, now)
	if err != nil {
		h.fail(c, err)
		return
	}
	out := gin.H{"roster": doc, "now": toJSON(now, oc), "next": nil}
	if at, next, ok, err := h.opt.Roster.Next(ctx, now); err != nil {
		h.fail(c, err)
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
	if err := h.opt.Roster.Replace(c.Request.Context(), d, adminActor); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *adminHandler) putOverride(c *gin.Context) {
	var o roster.Override
	if err := bindStrict(c, &o); err != nil {
		badRequest(c, h.texts, err)
		return
	}
	o.Date = c.Param("date")
	if err := h.opt.Roster.SetOverride(c.Request.Context(), o, adminActor); err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *adminHandler) deleteOverride(c *gin.Context) {
	if err := h.opt.Roster.DeleteOverride(c.Request.Context(), c.Param("date"), adminActor); err != nil {
		h.fail(c, err)
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

// badRequest answers 400: "error" in English, "message" in Chinese, both
// naming the field ("field") and the form it expects.
func badRequest(c *gin.Context, texts Texts, err error) {
	out := gin.H{"error": err.Error()}
	if key, f := bot.UserText(err); key != "" {
		out["message"] = texts.Text(key, f)
		if field, ok := f["field"]; ok {
			out["field"] = field
		}
	}
	c.JSON(http.StatusBadRequest, out)
}

func (h *adminHandler) fail(c *gin.Context, err error) {
	switch {
	case errors.Is(err, roster.ErrInvalid):
		badRequest(c, h.texts, err)
	case errors.Is(err, bot.ErrNotFound):
		c.JSON(http.StatusNotFound, gin.H{"error": err.Error()})
	default:
		h.log.Error("admin api", "route", c.FullPath(), "err", err, "request_id", RequestID(c))
		c.JSON(http.StatusInternalServerError, gin.H{"error": "internal error", "request_id": RequestID(c)})
	}
}
