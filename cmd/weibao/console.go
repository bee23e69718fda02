package main

import (
	"context"
	"errors"
	"net/http"

	"weibao/bot/access"
	"weibao/configs"
	"weibao/console"
	"weibao/handlers"
	"weibao/terminal"
)

// tryChannel reports whether the /try page is weibao's channel: it stands in
// for WeCom, so it runs only where WeCom is not configured (the demo).
func tryChannel(cfg *configs.Config) bool { return cfg.Try.Enabled && !cfg.WeCom.Configured() }

// wireConsole builds the web console on the database's feed of committed
// changes and mounts it, with the /try page when that is the channel.
func wireConsole(ctx context.Context, m *Main) error {
	c, err := console.New(console.Options{Store: m.DB, Roster: m.Escalation.Roster, Texts: m.Catalog, Clock: m.Clock,
		Location: m.Config.Location, Session: consoleSession(m), WeComState: wecomState(m), Try: m.Try, WeComLogin: wecomLogin(m.Config),
		Logger: m.Logger.With("component", "console")})
	if err != nil {
		return err
	}
	m.DB.Subscribe(c.Committed)
	m.Server.RegisterConsole(c.Handler(), m.Try != nil)
	m.workers = append(m.workers, c.Run)
	return nil
}

// consoleSession is the admin API's session cookie: the console is for
// whoever the API lets read (a viewer or more; a nurse reports in WeCom).
func consoleSession(m *Main) func(r *http.Request) (console.Viewer, error) {
	return func(r *http.Request) (console.Viewer, error) {
		ck, err := r.Cookie(handlers.SessionCookie)
		if err != nil {
			return console.Viewer{}, console.ErrNoSession
		}
		p, err := m.Access.Cookie(r.Context(), ck.Value)
		if errors.Is(err, access.ErrUnauthenticated) || (err == nil && !p.Role.AtLeast(access.Viewer)) {
			return console.Viewer{}, console.ErrNoSession
		}
		if err != nil {
			return console.Viewer{}, err
		}
		return console.Viewer{UserID: p.UserID, Name: p.Name}, nil
	}
}

// connectTry makes the /try page the bot's channel: the terminal channel of
// `weibao chat`, showing what it delivers on the page instead of printing it.
func connectTry(m *Main, clock *terminal.Clock) error {
	t, err := connectTerminal(m, clock, m.Try.Notes(), m.Try.Show)
	if err != nil {
		return err
	}
	m.Try.Connect(t)
	return nil
}

// wecomState is the support page's word for the WeCom connection.
func wecomState(m *Main) func() string {
	return func() string {
		switch w := m.WeCom; {
		case w == nil:
			return "console.support.wecom_off"
		case w.Conn == nil:
			return "console.support.wecom_callback"
		case w.Conn.Connected():
			return "console.support.wecom_up"
		}
		return "console.support.wecom_down"
	}
}
