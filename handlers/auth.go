package handlers

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"html/template"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"weibao/bot/access"
)

// SessionCookie carries a browser session's id (HttpOnly, SameSite=Strict,
// Secure over https). The database holds only its SHA-256.
const SessionCookie = "weibao_session"

// stateCookie carries the WeCom login's OAuth state between the redirect
// out and the callback (SameSite=Lax: the callback is a cross-site
// navigation back from WeCom).
const stateCookie = "weibao_oauth_state"

// WeComLogin is WeCom's web login (wecom.Client): where to send the
// browser, and the OAuth code's user id through the app API.
type WeComLogin interface {
	access.Identity
	LoginURL(redirectURI, state string) string
}

// authn is the authentication every /api/v1 route goes through.
type authn struct {
	access *access.Service
	wecom  WeComLogin // nil until RegisterWeComLogin
	// publicURL is where WeCom sends the browser back (server.public_url);
	// empty: the host the browser asked for.
	publicURL string
	texts     Texts
	log       *slog.Logger
}

// RegisterAccess adds login and logout and enables the authenticated API:
// the Register* methods after it put their routes behind it. Every route
// answers errors as {"code","message","message_en","field"}.
//
//	POST /api/v1/login/token {"token":"wbt_…"}  exchange an API token for a session: 204 + Set-Cookie weibao_session
//	POST /api/v1/login/code {"code":"123456"}   the one-time code (5 min, one use) of a WeCom login: the session may now change the roster
//	POST /api/v1/logout                         end the session: 204
//	GET  /api/v1/me                             {"userid","name","role","strong","via"}
//
// Any route accepts "Authorization: Bearer <API token>" instead of the
// cookie. Roles, lowest first: nurse (only /me and /logout), viewer
// (reads), engineer (also fault analyses), lead (also the roster and the
// audit log). Changing the roster also needs a strong credential: a
// session that passed WeCom login and the one-time code, or a lead's API
// token (made on the server by weibao token create, itself proof of
// access to it), as bearer or exchanged for a session. Logins are limited
// to 5 a minute per client IP and per account (429 with Retry-After).
func (s *Server) RegisterAccess(svc *access.Service) {
	a := &authn{access: svc, texts: s.opt.Texts, log: s.opt.Logger}
	s.auth = a
	g := s.engine.Group("/api/v1")
	g.POST("/login/token", a.loginToken)
	g.POST("/login/code", s.authed(access.Nurse), a.loginCode)
	g.POST("/logout", s.authed(access.Nurse), a.logout)
	g.GET("/me", s.authed(access.Nurse), a.me)
}

// RegisterWeComLogin adds WeCom web login, where WeCom's app is configured
// (after RegisterAccess):
//
//	GET /api/v1/login/wecom            redirect to WeCom's web login (QR code, or silently inside WeCom)
//	GET /api/v1/login/wecom/callback   WeCom's redirect back: a session that may read, and a
//	                                   one-time code sent to the person's WeCom 1:1 (POST /login/code)
//
// Only engineers and leads may log in this way. WeCom sends the browser
// back to publicURL (the app's trusted domain), or when empty to the host
// the browser asked for.
func (s *Server) RegisterWeComLogin(login WeComLogin, publicURL string) {
	if s.auth == nil {
		return
	}
	s.auth.wecom, s.auth.publicURL = login, strings.TrimRight(publicURL, "/")
	g := s.engine.Group("/api/v1")
	g.GET("/login/wecom", s.auth.wecomStart)
	g.GET("/login/wecom/callback", s.auth.wecomCallback)
}

// authed authenticates the request (bearer token, else session cookie)
// and requires role min; the principal is then Who(c).
func (s *Server) authed(min access.Role) gin.HandlerFunc {
	a := s.auth
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		var p access.Principal
		var err error
		if raw, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer "); ok {
			p, err = a.access.Bearer(ctx, raw)
		} else if raw, cerr := c.Cookie(SessionCookie); cerr == nil && raw != "" {
			p, err = a.access.Cookie(ctx, raw)
		} else {
			err = access.ErrUnauthenticated
		}
		if err != nil {
			answerErr(c, a.texts, a.log, err)
			return
		}
		if !p.Role.AtLeast(min) {
			abort(c, a.texts, http.StatusForbidden, "forbidden", "your role ("+string(p.Role)+") may not do this; it needs "+string(min))
			return
		}
		c.Set(principalKey, p)
		c.Next()
	}
}

// strong refuses a change from a credential that did not pass both factors.
func (s *Server) strong() gin.HandlerFunc {
	return func(c *gin.Context) {
		if !Who(c).Strong {
			abort(c, s.auth.texts, http.StatusForbidden, "second_factor_required",
				"this change needs a WeCom login confirmed with the one-time code, or a lead's API token")
			return
		}
		c.Next()
	}
}

const principalKey = "weibao_principal"

// Who is the authenticated principal of a request behind authed.
func Who(c *gin.Context) access.Principal {
	p, _ := c.Get(principalKey)
	out, _ := p.(access.Principal)
	return out
}

// from is where the request came from, for the audit log and rate limits.
func from(c *gin.Context) access.From {
	return access.From{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()}
}

// https reports whether the browser reached weibao over TLS, directly or
// through a proxy that says so.
func https(c *gin.Context) bool {
	return c.Request.TLS != nil || strings.EqualFold(c.GetHeader("X-Forwarded-Proto"), "https")
}

func (a *authn) setSession(c *gin.Context, raw string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: raw, Path: "/", MaxAge: int(access.SessionAbsolute.Seconds()),
		HttpOnly: true, Secure: https(c), SameSite: http.SameSiteStrictMode})
}

type tokenLogin struct {
	Token string `json:"token"`
}

func (a *authn) loginToken(c *gin.Context) {
	var in tokenLogin
	if err := bindStrict(c, &in); err != nil {
		badRequest(c, a.texts, err)
		return
	}
	if in.Token == "" {
		badRequest(c, a.texts, badField("token", "token", "token: want the API token weibao token create printed"))
		return
	}
	raw, _, err := a.access.LoginToken(c.Request.Context(), in.Token, from(c))
	if err != nil {
		answerErr(c, a.texts, a.log, err)
		return
	}
	a.setSession(c, raw)
	c.Status(http.StatusNoContent)
}

type codeLogin struct {
	Code string `json:"code"`
}

func (a *authn) loginCode(c *gin.Context) {
	var in codeLogin
	if err := bindStrict(c, &in); err != nil {
		badRequest(c, a.texts, err)
		return
	}
	if len(in.Code) != 6 || strings.Trim(in.Code, "0123456789") != "" {
		badRequest(c, a.texts, badField("code", "login_code", "code: want the 6 digits sent to your WeCom"))
		return
	}
	p := Who(c)
	if p.SessionID == 0 {
		abort(c, a.texts, http.StatusBadRequest, "not_a_session", "the one-time code confirms a WeCom login session, not an API token")
		return
	}
	if err := a.access.VerifyCode(c.Request.Context(), p, in.Code, from(c)); err != nil {
		answerErr(c, a.texts, a.log, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (a *authn) logout(c *gin.Context) {
	if err := a.access.Logout(c.Request.Context(), Who(c), from(c)); err != nil {
		answerErr(c, a.texts, a.log, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: https(c), SameSite: http.SameSiteStrictMode})
	c.Status(http.StatusNoContent)
}

func (a *authn) me(c *gin.Context) {
	p := Who(c)
	via := "session"
	if p.SessionID == 0 {
		via = "token"
	}
	c.JSON(http.StatusOK, gin.H{"userid": p.UserID, "name": p.Name, "role": p.Role, "strong": p.Strong, "via": via})
}

func (a *authn) wecomStart(c *gin.Context) {
	b := make([]byte, 16)
	rand.Read(b)
	state := hex.EncodeToString(b)
	http.SetCookie(c.Writer, &http.Cookie{Name: stateCookie, Value: state, Path: "/api/v1/login/wecom", MaxAge: 600,
		HttpOnly: true, Secure: https(c), SameSite: http.SameSiteLaxMode})
	base := a.publicURL
	if base == "" {
		base = "http://" + c.Request.Host
		if https(c) {
			base = "https://" + c.Request.Host
		}
	}
	c.Redirect(http.StatusFound, a.wecom.LoginURL(base+"/api/v1/login/wecom/callback", state))
}

// afterLogin sends the browser to the console with a page of its own
// rather than a redirect: a redirect would continue WeCom's cross-site
// navigation, on which the browser withholds a SameSite=Strict cookie.
var afterLogin = template.Must(template.New("").Parse(
	`<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=/"><title>weibao</title><a href="/">{{.}}</a>`))

func (a *authn) wecomCallback(c *gin.Context) {
	state, err := c.Cookie(stateCookie)
	if err != nil || state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(c.Query("state"))) != 1 {
		badRequest(c, a.texts, badField("state", "oauth_state", "state: does not match this browser's login; start again"))
		return
	}
	code := c.Query("code")
	if code == "" {
		badRequest(c, a.texts, badField("code", "oauth_code", "code: WeCom sent no code (login refused or cancelled)"))
		return
	}
	raw, _, err := a.access.LoginWeCom(c.Request.Context(), a.wecom, code, from(c))
	if err != nil {
		answerErr(c, a.texts, a.log, err)
		return
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: stateCookie, Value: "", Path: "/api/v1/login/wecom", MaxAge: -1})
	a.setSession(c, raw)
	c.Status(http.StatusOK)
	c.Header("Content-Type", "text/html; charset=utf-8")
	afterLogin.Execute(c.Writer, a.texts.Text("admin.login_continue", nil))
}
