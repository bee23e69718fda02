package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"weibao/bot"
	"weibao/bot/inbox"
	"weibao/bot/outbox"
	"weibao/configs"
	"weibao/handlers"
	"weibao/storage/redisstore"
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
	m.Server.AddCheck(handlers.Check{Name: "inbox_journal", Check: w.Inbox.Ready, Needed: true})
	client, err := wecom.NewClient(wecom.ClientOptions{APIBase: cfg.APIBase, CorpID: cfg.CorpID, AgentID: cfg.AgentID,
		Secret: cfg.Secret, Cache: wecom.NewTokenCache(m.Redis.Values(""))})
	if err != nil {
		return nil, err
	}
	if err := wireDirectory(m, client); err != nil {
		return nil, err
	}
	if wecomLogin(m.Config) {
		m.Server.RegisterWeComLogin(client, m.Config.Server.PublicURL)
	}
	routes := handlers.WeComOptions{Inbox: w.Inbox, Window: cfg.CallbackWindow, Clock: m.Clock, Logger: log}
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
		CardCode: m.DB.CardCode, TellLead: tellLead(m), WardPeople: wardPeople(m)}
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

// wecomLogin reports whether WeCom web login is offered: it needs the
// self-built app, whose token resolves the login's code.
func wecomLogin(cfg *configs.Config) bool {
	w := cfg.WeCom
	return w.CorpID != "" && w.AgentID != "" && w.Secret != ""
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
			Inbox: w.Inbox, Clock: m.Clock, Hold: holdValues(m.Redis, m.Config.Redis.Prefix, cfg.ID), Cooldown: cfg.KickedCooldown,
			Kicked: func(ctx context.Context, until time.Time) {
				text := m.Catalog.Text("wecom.kicked", map[string]any{"until": until.In(m.Config.Location).Format("01-02 15:04")})
				if err := tellLead(m)(ctx, fmt.Sprintf("wecom/kicked/%d", until.Unix()), text); err != nil {
					log.Error("lead not told of the robot takeover", "err", err)
				}
			}}, log.With("part", "longconn"))
		sopt.Conn = w.Conn
		// A group nobody has @-mentioned the robot in yet is reached
		// through its webhook key, when it has one.
		sopt.Webhooks = map[string]string{}
		for _, wd := range m.Config.Wards {
			if wd.ChatID != "" && wd.WebhookKey != "" {
				sopt.Webhooks[wd.ChatID] = wd.WebhookKey
			}
		}
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

// holdValues is where the robot's long connection keeps its hold after a
// takeover, shared by the replicas and by weibao wecom resume.
func holdValues(st *redisstore.Store, prefix, botID string) *redisstore.Values {
	return st.Values(prefix + "wecom:longconn:" + botID + ":")
}

// wecomResume is `weibao wecom resume`: it lifts the hold a takeover of the
// robot's long connection left, so the replicas connect again within
// seconds instead of after wecom.bot.kicked_cooldown.
func wecomResume(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("wecom resume", flag.ContinueOnError)
	cfg, err := parseConfig(fs, args)
	if err != nil {
		return err
	}
	if cfg.Redis.URL == "" {
		return errors.New("wecom resume: no redis.url: the hold lives in the running service's own in-process Redis; restart it instead")
	}
	st, err := redisstore.Open(ctx, cfg.Redis.URL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := holdValues(st, cfg.Redis.Prefix, cfg.WeCom.Bot.ID).Delete(ctx, wecom.HoldKey); err != nil {
		return fmt.Errorf("wecom resume: %w", err)
	}
	fmt.Fprintln(out, "robot long connection: hold lifted; a replica reconnects within seconds")
	return nil
}

// tellLead queues a notice to the project lead by the app, once per key:
// on_call.lead, else the first active person with role lead.
func tellLead(m *Main) func(ctx context.Context, key, text string) error {
	return func(ctx context.Context, key, text string) error {
		lead := m.Config.OnCall.Lead
		if lead == "" {
			leads, err := m.DB.People(ctx, bot.RoleLead)
			if err != nil {
				return err
			}
			if len(leads) == 0 {
				m.Logger.Warn("no lead to tell", "key", key)
				return nil
			}
			lead = leads[0].UserID
		}
		return m.DB.Enqueue(ctx, bot.Outgoing{Key: key, ToUsers: []string{lead}, Format: bot.FormatMarkdown, Text: text})
	}
}

// wardPeople names the nurses of the ward whose group chat id is given.
func wardPeople(m *Main) func(ctx context.Context, chatID string) ([]string, error) {
	return func(ctx context.Context, chatID string) ([]string, error) {
		w, err := m.DB.WardByChat(ctx, chatID)
		if errors.Is(err, bot.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		nurses, err := m.DB.People(ctx, bot.RoleNurse)
		if err != nil {
			return nil, err
		}
		var ids []string
		for _, p := range nurses {
			if p.WardCode == w.Code {
				ids = append(ids, p.UserID)
			}
		}
		return ids, nil
	}
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
