package main

import (
	"context"
	"fmt"
	"log/slog"

	"weibao/bot/escalation"
	"weibao/bot/roster"
	"weibao/configs"
	"weibao/handlers"
	"weibao/sla/pager"
	"weibao/sla/pager/aliyun"
	"weibao/sla/pager/tencent"
	"weibao/sla/pager/webhook"
	"weibao/sla/timerwheel"
)

// Escalation is the SLA clocks, the on-call roster and paging wired
// together. The engine follows the database's feed of committed changes and
// acknowledges a key press through the ticketing service (Main.Tickets),
// which is built here because it takes the same roster and SLA policy.
type Escalation struct {
	Engine *escalation.Engine
	Roster *roster.Roster
	Pager  *pager.Registry
}

// wireEscalation builds the escalation engine, seeds the roster from the
// configuration, registers the receipt and admin routes and the background
// loops. With no phone provider configured, pages are only logged.
func wireEscalation(ctx context.Context, m *Main) error {
	cfg := m.Config
	log := m.Logger.With("component", "escalation")
	ros, err := wireRoster(ctx, m, log)
	if err != nil {
		return err
	}
	if m.Tickets, err = newTickets(m, ros, escalation.SLA{Policy: cfg.SLA}); err != nil {
		return err
	}
	once := &escalation.Once{Clock: m.Clock, DB: m.DB.ClaimKey, Fast: m.Redis.Values(cfg.Redis.Prefix + "once:").Claim}
	notifiers, hooks, err := notifiers(cfg.Pager)
	if err != nil {
		return err
	}
	switch {
	case len(notifiers) > 0:
	case m.Try != nil:
		// The /try page shows the calls and texts.
		notifiers = []pager.Notifier{m.Try.Pager()}
	default:
		// The doctor's report, logged at start, says so.
		notifiers = []pager.Notifier{pager.NewLogNotifier(m.Logger.With("component", "pager"))}
	}
	pc := cfg.Pager.Config
	if len(pc.Routes) == 0 {
		pc.Routes = pager.DefaultRoutes(notifiers...)
	}
	reg, err := pager.NewRegistry(pc,
		pager.Options{Once: once, Now: m.Clock.Now, Limiter: m.Redis.RateLog(cfg.Redis.Prefix + "pager:rate:")}, notifiers...)
	if err != nil {
		return fmt.Errorf("config: pager: %w", err)
	}
	wheel, err := timerwheel.New(m.Redis.Client(), timerwheel.Options{Prefix: cfg.Redis.Prefix + "{sla}:", Now: m.Clock.Now,
		Logger: m.Logger.With("component", "timers")})
	if err != nil {
		return err
	}
	eng, err := escalation.New(escalation.Options{Tickets: m.DB, Acknowledger: m.Tickets, Pages: m.DB, Directory: m.DB, Roster: ros, Wheel: wheel,
		Pager: reg, Texts: m.Catalog, SLA: cfg.SLA, Policy: escalationPolicy(cfg.Escalation), Reconcile: cfg.Escalation.Reconcile,
		Clock: m.Clock, Location: cfg.Location, Logger: log})
	if err != nil {
		return fmt.Errorf("config: escalation: %w", err)
	}
	m.DB.Subscribe(eng.Committed)
	m.Registry.MustRegister(wheel.Collectors()...)
	m.Registry.MustRegister(reg.Collectors()...)
	m.Registry.MustRegister(eng.Collectors()...)
	if err := wireReceipts(m, eng, hooks); err != nil {
		return err
	}
	m.Server.RegisterAdmin(handlers.AdminOptions{Roster: ros, Clock: m.Clock})
	m.Escalation = &Escalation{Engine: eng, Roster: ros, Pager: reg}
	m.workers = append(m.workers, eng.Run, func(ctx context.Context) error {
		return ros.RunNotices(ctx, m.Clock.Now, m.Catalog, m.DB.Enqueue, log)
	}, func(ctx context.Context) error { return m.Tickets.RunMorning(ctx, m.DB.Enqueue) })
	return nil
}

// wireReceipts takes the phone providers' receipts to the engine: pushed to
// the notify routes, and pulled from Alibaba's receipt queue when configured.
func wireReceipts(m *Main, eng *escalation.Engine, hooks []*webhook.Client) error {
	c := m.Config.Pager
	log := m.Logger.With("component", "notify")
	m.Server.RegisterNotify(handlers.NotifyOptions{Sink: eng, Aliyun: c.Aliyun.AccessKeyID != "",
		Tencent: c.Tencent.SecretID != "", Webhooks: hooks, Logger: log})
	if c.Aliyun.AccessKeyID == "" || !c.Aliyun.Queues.Configured() {
		return nil
	}
	p, err := aliyun.NewPuller(c.Aliyun, eng, log.With("provider", aliyun.Provider))
	if err != nil {
		return fmt.Errorf("config: pager.aliyun.queues: %w", err)
	}
	m.workers = append(m.workers, p.Run)
	return nil
}

// wireRoster builds the roster and seeds it from the configuration.
func wireRoster(ctx context.Context, m *Main, log *slog.Logger) (*roster.Roster, error) {
	ros := roster.New(m.DB, m.DB, m.Config.Location)
	if oc := m.Config.OnCall; oc.Lead != "" || len(oc.Primary) > 0 {
		doc := roster.Doc{Lead: oc.Lead, Start: oc.Start, Shift: roster.Duration(oc.Shift), Primary: oc.Primary, Backup: oc.Backup}
		for _, o := range oc.Overrides {
			doc.Overrides = append(doc.Overrides, roster.Override{Date: o.Date, Primary: o.Primary, Backup: o.Backup})
		}
		wrote, err := ros.Seed(ctx, doc)
		if err != nil {
			return nil, fmt.Errorf("config: oncall: %w", err)
		}
		if wrote {
			log.Info("on-call roster seeded from the configuration")
		}
	}
	if d, err := ros.Doc(ctx); err != nil {
		return nil, err
	} else if len(d.Primary) == 0 && len(d.Overrides) == 0 {
		log.Warn("no on-call roster: every page goes to the project lead (configure oncall: or use the admin API)")
	}
	return ros, nil
}

// escalationPolicy is the configured levels and points, each list taking
// escalation's default when empty. It stays here rather than in configs:
// bot/escalation brings go-redis (sla/timerwheel) with it.
func escalationPolicy(c configs.Escalation) escalation.Policy {
	p := escalation.DefaultPolicy()
	if len(c.Levels) > 0 {
		p.Levels = nil
		for _, l := range c.Levels {
			p.Levels = append(p.Levels, escalation.Level{Level: l.Level, To: escalation.Target(l.To), Channels: l.Channels,
				After: l.After, UrgentAfter: l.UrgentAfter})
		}
	}
	if len(c.Points) > 0 {
		p.Points = nil
		for _, pt := range c.Points {
			p.Points = append(p.Points, escalation.Point{Percent: pt.Percent, Level: pt.Level})
		}
	}
	return p
}

// notifiers builds the configured providers; secrets come from the
// environment (WEIBAO_PAGER_ALIYUN_ACCESS_KEY_SECRET, …).
func notifiers(c configs.Pager) ([]pager.Notifier, []*webhook.Client, error) {
	var out []pager.Notifier
	var hooks []*webhook.Client
	if c.Aliyun.AccessKeyID != "" {
		n, err := aliyun.New(c.Aliyun)
		if err != nil {
			return nil, nil, fmt.Errorf("config: pager.aliyun: %w", err)
		}
		out = append(out, n)
	}
	if c.Tencent.SecretID != "" {
		n, err := tencent.New(c.Tencent)
		if err != nil {
			return nil, nil, fmt.Errorf("config: pager.tencent: %w", err)
		}
		out = append(out, n)
	}
	if c.Webhook.URL != "" {
		n, err := webhook.New(c.Webhook)
		if err != nil {
			return nil, nil, fmt.Errorf("config: pager.webhook: %w", err)
		}
		out, hooks = append(out, n), append(hooks, n)
	}
	return out, hooks, nil
}
