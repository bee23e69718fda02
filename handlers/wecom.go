package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"weibao/bot"
	"weibao/wecom"
)

// WeComOptions configure the WeCom callback routes.
type WeComOptions struct {
	// App verifies the self-built app's callbacks (receive id = CorpID); nil
	// leaves /wecom/callback unregistered.
	App *wecom.Crypto
	// Robot verifies the intelligent robot's callbacks (receive id ""); nil
	// (long-connection mode) leaves /wecom/bot unregistered.
	Robot *wecom.Crypto
	Inbox wecom.Acceptor
	// Passive lets a robot card click wait for its card update, which the
	// robot accepts only in the click's HTTP answer.
	Passive     *wecom.Passive
	PassiveWait time.Duration // default 3 s, inside WeCom's 5 s
	// Window is how far a callback's signed timestamp may be from Clock's
	// now (default 5 min); older or newer ones are refused.
	Window time.Duration
	Clock  bot.Clock
	Logger *slog.Logger
}

// RegisterWeCom adds GET/POST /wecom/callback (app) and /wecom/bot (robot).
func (s *Server) RegisterWeCom(opt WeComOptions) {
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.PassiveWait <= 0 {
		opt.PassiveWait = 3 * time.Second
	}
	if opt.Window <= 0 {
		opt.Window = 5 * time.Minute
	}
	h := &wecomHandler{opt: opt}
	if opt.App != nil {
		s.engine.GET("/wecom/callback", h.verify(opt.App))
		s.engine.POST("/wecom/callback", h.receive(opt.App, wecom.SourceApp))
	}
	if opt.Robot != nil {
		s.engine.GET("/wecom/bot", h.verify(opt.Robot))
		s.engine.POST("/wecom/bot", h.receive(opt.Robot, wecom.SourceRobot))
	}
}

type wecomHandler struct{ opt WeComOptions }

// verify answers WeCom's URL check with the decrypted echostr, raw.
func (h *wecomHandler) verify(c *wecom.Crypto) gin.HandlerFunc {
	return func(g *gin.Context) {
		q := g.Request.URL.Query()
		plain, err := h.open(c, q, q.Get("echostr"))
		if err != nil {
			h.reject(g, err)
			return
		}
		g.Data(http.StatusOK, "text/plain; charset=utf-8", plain)
	}
}

// receive is verify → decrypt → wecom.Receive (parse, keep) → answer; the
// bot works on the event after the answer.
func (h *wecomHandler) receive(c *wecom.Crypto, source string) gin.HandlerFunc {
	return func(g *gin.Context) {
		body, err := io.ReadAll(g.Request.Body)
		if err != nil {
			g.AbortWithStatus(http.StatusRequestEntityTooLarge)
			return
		}
		var encrypt string
		if source == wecom.SourceApp {
			env, perr := wecom.ParseAppEnvelope(body)
			encrypt, err = env.Encrypt, perr
		} else {
			encrypt, err = wecom.ParseRobotEnvelope(body)
		}
		if err != nil {
			h.reject(g, err)
			return
		}
		q := g.Request.URL.Query()
		plain, err := h.open(c, q, encrypt)
		if err != nil {
			h.reject(g, err)
			return
		}
		m, reply, err := wecom.Receive(g.Request.Context(), h.opt.Inbox, source, plain, h.opt.Clock.Now())
		if errors.Is(err, wecom.ErrMalformed) {
			h.reject(g, err)
			return
		}
		if err != nil {
			h.opt.Logger.Error("wecom callback not stored", "msg_id", m.ID, "err", err, "request_id", RequestID(g))
			g.AbortWithStatus(http.StatusServiceUnavailable)
			return
		}
		if source == wecom.SourceRobot && reply.CardEvent && h.opt.Passive != nil {
			h.passive(g, c, m.ID, q.Get("nonce"))
			return
		}
		g.Status(http.StatusOK)
	}
}

// open verifies the signature, then the signed timestamp against the
// handler's clock, then decrypts.
func (h *wecomHandler) open(c *wecom.Crypto, q url.Values, encrypt string) ([]byte, error) {
	if err := c.Verify(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), encrypt); err != nil {
		return nil, err
	}
	if err := wecom.CheckTimestamp(q.Get("timestamp"), h.opt.Clock.Now(), h.opt.Window); err != nil {
		return nil, err
	}
	return c.Decrypt(encrypt)
}

// passive waits briefly for the card update of a robot card click and
// returns it encrypted; with none in time it answers empty and the update
// goes out through the response_url. The answer reuses the callback URL's
// nonce, as WeCom requires of a passive reply (doc 101033).
func (h *wecomHandler) passive(g *gin.Context, c *wecom.Crypto, id, nonce string) {
	ctx, cancel := context.WithTimeout(g.Request.Context(), h.opt.PassiveWait)
	defer cancel()
	plain, ok := h.opt.Passive.Wait(ctx, id)
	if !ok {
		g.Status(http.StatusOK)
		return
	}
	enc, err := c.Encrypt(plain)
	if err != nil {
		g.Status(http.StatusOK)
		return
	}
	ts := strconv.FormatInt(h.opt.Clock.Now().Unix(), 10)
	g.JSON(http.StatusOK, gin.H{"encrypt": enc, "msgsignature": c.Signature(ts, nonce, enc), "timestamp": ts, "nonce": nonce})
}

// reject maps a verification or parse failure to its status with one log
// line (ids and lengths only).
func (h *wecomHandler) reject(g *gin.Context, err error) {
	status := http.StatusBadRequest
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, wecom.ErrSignature), errors.Is(err, wecom.ErrReceiver), errors.Is(err, wecom.ErrStale):
		status = http.StatusUnauthorized
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	}
	h.opt.Logger.Warn("wecom callback rejected", "route", g.FullPath(), "status", status, "err", err, "request_id", RequestID(g))
	g.AbortWithStatus(status)
}
