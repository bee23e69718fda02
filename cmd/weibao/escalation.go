package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"weibao/bot/escalation"
	"weibao/bot/roster"
	"weibao/configs"
	"weibao/handlers"
	"weibao/sla"
	"weibao/sla/calendar"
	"weibao/sla/pager"
	"weibao/sla/pager/aliyun"
	"weibao/sla/pager/tencent"
	"weibao/sla/pager/webhook"
	"weibao/sla/timerwheel"
)

// Escalation is the SLA clocks, the on-call roster and paging wired
// together. The ticketing service takes Engine as its Watcher, Engine.SLA()
// as its SLA and Roster as its bot.Roster, and gives itself back through
// Engine.SetAcknowledger.
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
	policy, err := slaPolicy(cfg.Escalation.SLAFile)
	if err != nil {
		return err
	}
	ros := roster.New(m.DB, m.DB, cfg.Location)
	if oc := cfg.OnCall; oc.Lead != "" || len(oc.Primary) > 0 {
		doc := roster.Doc{Lead: oc.Lead, Start: oc.Start, Shift: roster.Duration(oc.Shift), Primary: oc.Primary, Backup: oc.Backup}
		for _, o := range oc.Overrides {
			doc.Overrides = append(doc.Overrides, roster.Override{Date: o.Date, Primary: o.Primary, Backup: o.Backup})
		}
		wrote, err := ros.Seed(ctx, doc)
		if err != nil {
			return fmt.Errorf("config: oncall: %w", err)
		}
		if wrote {
			log.Info("on-call roster seeded from the configuration")
		}
	}
	if d, err := ros.Doc(ctx); err != nil {
		return err
	} else if len(d.Primary) == 0 && len(d.Overrides) == 0 {
		log.Warn("no on-call roster: every page goes to the project lead (configure oncall: or use the admin API)")
	}
	once := &escalation.Once{Clock: m.Clock, DB: m.DB.ClaimKey, Fast: m.Redis.Values("weibao:once:").Claim}
	notifiers, hooks, err := notifiers(cfg.Pager)
	if err != nil {
		return err
	}
	if len(notifiers) == 0 {
		notifiers = []pager.Notifier{pager.NewLogNotifier(m.Logger.With("component", "pager"))}
		log.Warn("no phone provider configured: pages are only logged")
	}
	reg, err := pager.NewRegistry(pager.Config{Routes: routes(cfg.Pager.Routes, notifiers), CallOnceTTL: cfg.Pager.CallOnceTTL},
		pager.Options{Once: once, Now: m.Clock.Now, Limiter: m.Redis.RateLog("weibao:pager:rate:")}, notifiers...)
	if err != nil {
		return fmt.Errorf("config: pager: %w", err)
	}
	wheel, err := timerwheel.New(m.Redis.Client(), timerwheel.Options{Prefix: "weibao:{sla}:", Now: m.Clock.Now,
		Logger: m.Logger.With("component", "timers")})
	if err != nil {
		return err
	}
	eng, err := escalation.New(escalation.Options{Tickets: m.DB, Pages: m.DB, Directory: m.DB, Roster: ros, Wheel: wheel,
		Pager: reg, Texts: m.Catalog, SLA: policy, Policy: escalationPolicy(cfg.Escalation), Reconcile: cfg.Escalation.Reconcile,
		Clock: m.Clock, Location: cfg.Location, Logger: log})
	if err != nil {
		return fmt.Errorf("config: escalation: %w", err)
	}
	m.Registry.MustRegister(wheel.Collectors()...)
	m.Registry.MustRegister(reg.Collectors()...)
	m.Registry.MustRegister(eng.Collectors()...)
	m.Server.RegisterNotify(handlers.NotifyOptions{Sink: eng, Aliyun: cfg.Pager.Aliyun.AccessKeyID != "",
		Tencent: cfg.Pager.Tencent.SecretID != "", Webhooks: hooks, Logger: m.Logger.With("component", "notify")})
	m.Server.RegisterAdmin(handlers.AdminOptions{Token: cfg.Server.AdminToken, Roster: ros, Clock: m.Clock})
	m.Escalation = &Escalation{Engine: eng, Roster: ros, Pager: reg}
	m.workers = append(m.workers, eng.Run, func(ctx context.Context) error {
		return rosterNotices(ctx, m, ros, log)
	})
	return nil
}

// rosterNotices queues hand-over messages and gap warnings every minute;
// their keys make every replica's copy one message.
func rosterNotices(ctx context.Context, m *Main, ros *roster.Roster, log *slog.Logger) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		msgs, err := ros.Notices(ctx, m.Clock.Now(), time.Hour, 24*time.Hour, m.Catalog)
		if err == nil && len(msgs) > 0 {
			err = m.DB.Enqueue(ctx, msgs...)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("roster notices", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// slaPolicy reads the policy and calendar from path (configs/sla.yaml), or
// takes their built-in defaults, which equal that file.
func slaPolicy(path string) (sla.Policy, error) {
	p, calCfg := sla.DefaultPolicy(), calendar.DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return p, fmt.Errorf("config: escalation.sla_file: %w", err)
		}
		if p, err = sla.ParsePolicy(b); err != nil {
			return p, err
		}
		if calCfg, err = calendar.ParseConfig(b); err != nil {
			return p, err
		}
	}
	cal, err := calendar.New(calCfg)
	if err != nil {
		return p, err
	}
	p.Calendar = cal
	return p, nil
}

func escalationPolicy(c configs.Escalation) escalation.Policy {
	p := escalation.DefaultPolicy()
	if len(c.Levels) > 0 {
		p.Levels = nil
		for _, l := range c.Levels {
			lv := escalation.Level{Level: l.Level, To: escalation.Target(l.To), After: l.After, UrgentAfter: l.UrgentAfter}
			for _, ch := range l.Channels {
				lv.Channels = append(lv.Channels, pager.Channel(ch))
			}
			p.Levels = append(p.Levels, lv)
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
	if a := c.Aliyun; a.AccessKeyID != "" {
		n, err := aliyun.New(aliyun.Config{AccessKeyID: a.AccessKeyID, AccessKeySecret: a.AccessKeySecret, RegionID: a.RegionID,
			VoiceEndpoint: a.VoiceEndpoint, SMSEndpoint: a.SMSEndpoint, CalledShowNumber: a.CalledShowNumber, TTSCode: a.TTSCode,
			PlayTimes: a.PlayTimes, VoiceParams: a.VoiceParams, SignName: a.SignName, SMSTemplateCode: a.SMSTemplateCode,
			SMSParams: a.SMSParams, IVR: aliyun.IVR{ShowNumber: a.IVR.ShowNumber, StartCode: a.IVR.StartCode, AckCode: a.IVR.AckCode,
				ByeCode: a.IVR.ByeCode, KeyTimeout: a.IVR.KeyTimeout}})
		if err != nil {
			return nil, nil, fmt.Errorf("config: pager.aliyun: %w", err)
		}
		out = append(out, n)
	}
	if t := c.Tencent; t.SecretID != "" {
		n, err := tencent.New(tencent.Config{SecretID: t.SecretID, SecretKey: t.SecretKey, Region: t.Region, VMSEndpoint: t.VMSEndpoint,
			SMSEndpoint: t.SMSEndpoint, VoiceSdkAppID: t.VoiceSdkAppID, VoiceTemplateID: t.VoiceTemplateID, PlayTimes: t.PlayTimes,
			VoiceParams: t.VoiceParams, SMSSdkAppID: t.SMSSdkAppID, SMSTemplateID: t.SMSTemplateID, SignName: t.SignName, SMSParams: t.SMSParams})
		if err != nil {
			return nil, nil, fmt.Errorf("config: pager.tencent: %w", err)
		}
		out = append(out, n)
	}
	if w := c.Webhook; w.URL != "" {
		wc := webhook.Config{Name: w.Name, URL: w.URL, Secret: w.Secret}
		for _, ch := range w.Channels {
			wc.Channels = append(wc.Channels, pager.Channel(ch))
		}
		n, err := webhook.New(wc)
		if err != nil {
			return nil, nil, fmt.Errorf("config: pager.webhook: %w", err)
		}
		out, hooks = append(out, n), append(hooks, n)
	}
	return out, hooks, nil
}

// routes are the configured ones, or every provider's voice then SMS in
// the order the providers are configured.
func routes(cfg []configs.PagerRoute, ns []pager.Notifier) []pager.Route {
	var out []pager.Route
	for _, r := range cfg {
		out = append(out, pager.Route{Provider: r.Provider, Channel: pager.Channel(r.Channel)})
	}
	if len(out) > 0 {
		return out
	}
	for _, ch := range []pager.Channel{pager.Voice, pager.SMS} {
		for _, n := range ns {
			for _, c := range n.Channels() {
				if c == ch {
					out = append(out, pager.Route{Provider: n.Provider(), Channel: ch})
				}
			}
		}
	}
	return out
}
