package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/bot/roster"
)

// apiError is every error the API answers:
//
//	{"code":"stable_snake_code","message":"中文","message_en":"English","field":"..."}
//
// code never changes once shipped (clients branch on it); message is the
// catalogue's admin.err.<code> (or the error's own entry); field names the
// input at fault, for 400s.
type apiError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEn string `json:"message_en"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// abort answers an error with code, its Chinese text from the catalogue
// and en, and stops the handler chain.
func abort(c *gin.Context, texts Texts, status int, code, en string) {
	c.AbortWithStatusJSON(status, apiError{Code: code, Message: texts.Text("admin.err."+code, nil), MessageEn: en,
		RequestID: RequestID(c)})
}

// badRequest answers 400 naming the field and, in Chinese, the form it
// expects (err from badField or a validation carrying api.bad_field).
func badRequest(c *gin.Context, texts Texts, err error) {
	out := apiError{Code: "invalid_field", MessageEn: err.Error(), RequestID: RequestID(c)}
	key, f := bot.UserText(err)
	if key != "" {
		out.Message = texts.Text(key, f)
		if field, ok := f["field"]; ok {
			out.Field = fmt.Sprint(field)
		}
	} else {
		out.Message = texts.Text("admin.err.invalid_field", nil)
	}
	c.AbortWithStatusJSON(http.StatusBadRequest, out)
}

// answerErr maps a service error to its answer by kind; what has no kind
// is logged and answered 500 with the request id to quote.
func answerErr(c *gin.Context, texts Texts, log *slog.Logger, err error) {
	var rl *access.RateLimited
	switch {
	case errors.As(err, &rl):
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(rl.Wait.Seconds()))))
		abort(c, texts, http.StatusTooManyRequests, "rate_limited", err.Error())
	case errors.Is(err, access.ErrUnauthenticated):
		c.Header("WWW-Authenticate", `Bearer realm="weibao"`)
		abort(c, texts, http.StatusUnauthorized, "unauthenticated", "log in: a valid API token or session is required")
	case errors.Is(err, bot.ErrInvalid), errors.Is(err, roster.ErrInvalid):
		badRequest(c, texts, err)
	case errors.Is(err, bot.ErrForbidden):
		abort(c, texts, http.StatusForbidden, "forbidden", err.Error())
	case errors.Is(err, bot.ErrNotFound):
		abort(c, texts, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, bot.ErrConflict):
		abort(c, texts, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, bot.ErrUnavailable):
		log.Warn("api: dependency unavailable", "route", c.FullPath(), "err", err, "request_id", RequestID(c))
		abort(c, texts, http.StatusServiceUnavailable, "unavailable", "a dependency is down; retry shortly")
	default:
		log.Error("api", "route", c.FullPath(), "err", err, "request_id", RequestID(c))
		abort(c, texts, http.StatusInternalServerError, "internal", "internal error; quote the request id")
	}
}
