package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"weibao/bot"
	"weibao/bot/inbox"
	"weibao/bot/outbox"
	"weibao/handlers"
	"weibao/wecom"
)

// WeCom is the WeCom channel wired together: callbacks (or the robot's long
// connection) into the inbox, the bot handling inbox events, and the outbox
// worker delivering through the Sender.
type WeCom struct {
	Inbox  *inbox.Inbox
	Outbox *outbox.Worker
	Sender *wecom.Sender
	Conn   *wecom.LongConn // nil in callback mode
}

// startWeCom builds the WeCom channel on m and registers its HTTP routes.
// handle is the bot (the conversation engine); Run runs the loops.
func startWeCom(m *Main, handle inbox.Handler) (*WeCom, error) {
	cfg := m.Config.WeCom
	log := m.Logger.With("component", "wecom")
	// Events arrive parsed; only those kept by an older version need parsing.
	parse := func(source string, payload []byte, now time.Time) (bot.Message, error) {
		msg, _, err := wecom.Parse(source, payload, now)
		return msg, err
	}
	w := &WeCom{}
	var err error
	w.Inbox, err = inbox.New(inbox.Options{Store: m.DB, Journal: cfg.InboxJournal, Dedupe: m.Redis.Values(""), KeyPrefix: m.Config.Redis.Prefix + "inbox:", Handler: handle, Parse: parse, Clock: m.Clock,
		Logger: m.Logger.With("component", "inbox"), Registerer: m.Registry})
	if err != nil {
		return nil, err
	}
	client, err := wecom.NewClient(wecom.ClientOptions{APIBase: cfg.APIBase, CorpID: cfg.CorpID, AgentID: cfg.AgentID,
		Secret: cfg.Secret, Cache: wecom.NewTokenCache(m.Redis.Values(""))})
	if err != nil {
		return nil, err
	}
	if err := wireDirectory(m, client); err != nil {
		return nil, err
	}
	routes := handlers.WeComOptions{Inbox: w.Inbox, Clock: m.Clock, Logger: log}
	if cfg.Token != "" {
		if routes.App, err = wecom.NewCrypto(cfg.Token, cfg.EncodingAESKey, cfg.CorpID); err != nil {
			return nil, fmt.Errorf("wecom app: %w", err)
		}
	}
	// File messages: the report files are loaded from the database and
	// uploaded at delivery; one WeCom cannot carry is named with its
	// download address on the report API.
	publicURL := strings.TrimRight(m.Config.Server.PublicURL, "/")
	sopt := wecom.SenderOptions{Client: client, Clock: m.Clock,
		Limits: m.Redis.RateLog(m.Config.Redis.Prefix + "wecom:rate:"), Claims: m.Redis.Values(m.Config.Redis.Prefix + "wecom:response_url:"),
		Files: m.DB, Texts: m.Catalog, FileURL: func(id int64) string { return fmt.Sprintf("%s/api/v1/files/%d", publicURL, id) },
		// A command typed instead of a click redraws the card with the
		// response code message/send gave it (kept as the outbox ref).
		CardCode: m.DB.CardCode}
	if err := w.connectRobot(m, &sopt, &routes, log); err != nil {
		return nil, err
	}
	if w.Sender, err = wecom.NewSender(sopt); err != nil {
		return nil, err
	}
	if w.Outbox, err = outbox.New(outbox.Options{Store: m.DB, Deliverer: w.Sender, Clock: m.Clock,
		Logger: m.Logger.With("component", "outbox"), Registerer: m.Registry}); err != nil {
		return nil, err
	}
	m.DB.Subscribe(w.Outbox.Committed)
	m.Server.RegisterWeCom(routes)
	return w, nil
}

// connectRobot sets up the intelligent robot: its long connection, or in
// callback mode its callback crypto, passive replies and ward webhooks.
func (w *WeCom) connectRobot(m *Main, sopt *wecom.SenderOptions, routes *handlers.WeComOptions, log *slog.Logger) error {
	cfg := m.Config.WeCom.Bot
	if cfg.Mode == "websocket" {
		owner := make([]byte, 8)
		rand.Read(owner)
		var err error
		w.Conn, err = wecom.NewLongConn(wecom.LongConnOptions{URL: cfg.WSURL, BotID: cfg.ID, Secret: cfg.Secret,
			Lock:  m.Redis.Lock(m.Config.Redis.Prefix+"wecom:longconn:"+cfg.ID, hex.EncodeToString(owner)),
			Inbox: w.Inbox, Clock: m.Clock}, log.With("part", "longconn"))
		sopt.Conn = w.Conn
		return err
	}
	// The robot only answers callbacks: what weibao says first in a ward
	// group goes through that group's robot webhook (a group without one is
	// among the doctor's warnings, logged at start).
	sopt.Webhooks = map[string]string{}
	for _, wd := range m.Config.Wards {
		if wd.ChatID != "" && wd.WebhookKey != "" {
			sopt.Webhooks[wd.ChatID] = wd.WebhookKey
		}
	}
	if cfg.Token == "" {
		return nil
	}
	var err error
	if routes.Robot, err = wecom.NewCrypto(cfg.Token, cfg.EncodingAESKey, ""); err != nil {
		return fmt.Errorf("wecom robot: %w", err)
	}
	sopt.Passive = wecom.NewPassive()
	routes.Passive = sopt.Passive
	return nil
}

// Run runs the inbox workers, the outbox worker and the long connection
// until ctx ends, then releases the inbox journal.
func (w *WeCom) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Inbox.Run(ctx) })
	g.Go(func() error { return w.Outbox.Run(ctx) })
	if w.Conn != nil {
		g.Go(func() error { return w.Conn.Run(ctx) })
	}
	return errors.Join(g.Wait(), w.Inbox.Close())
}
