package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"weibao/bot"
	"weibao/bot/classify"
	"weibao/bot/conversation"
	"weibao/bot/report"
	"weibao/bot/ticketing"
)

// ClassificationPath is read at start when it exists; otherwise the
// built-in rules, which equal the shipped file, apply.
const ClassificationPath = "configs/classification.yaml"

// Bot is the dialogue wired together: the use cases and the conversation
// engine that the WeCom inbox (and `weibao chat`) hands messages to.
type Bot struct {
	Tickets *ticketing.Service
	Engine  *conversation.Engine
}

// newBot builds the ticketing service and conversation engine over m's
// database, Redis, escalation engine (SLA, roster, watcher) and reports
// (digest, fault analysis survey).
func newBot(m *Main) (*Bot, error) {
	if m.Escalation == nil {
		return nil, errors.New("bot: the escalation engine must be wired first (SLA, roster)")
	}
	rules := classify.Default()
	if b, err := os.ReadFile(ClassificationPath); err == nil {
		if rules, err = classify.Parse(b); err != nil {
			return nil, fmt.Errorf("config: %s: %w", ClassificationPath, err)
		}
	}
	log := m.Logger.With("component", "bot")
	opt := ticketing.Options{Store: m.DB, Directory: m.DB, SLA: m.Escalation.Engine.SLA(), Roster: m.Escalation.Roster,
		Watcher: m.Escalation.Engine, Classifier: rules, Catalog: m.Catalog, Clock: m.Clock, Location: m.Config.Location,
		Logger: log.With("part", "ticketing")}
	if m.Reports != nil {
		reports := m.Reports.Service
		opt.OnResolved = func(ctx context.Context, t *bot.Ticket) {
			if err := reports.OnResolved(ctx, t); err != nil {
				log.Warn("fault analysis not started", "ticket", t.No, "err", err)
			}
		}
	}
	svc, err := ticketing.New(opt)
	if err != nil {
		return nil, err
	}
	m.Escalation.Engine.SetAcknowledger(svc)
	copt := conversation.Options{Tickets: svc, Directory: m.DB, Outbox: m.DB,
		Sessions: m.Redis.Sessions("weibao:conv:"), Catalog: m.Catalog, Clock: m.Clock,
		Logger: log.With("part", "conversation"), Location: m.Config.Location, Roster: m.Escalation.Roster}
	if m.Reports != nil {
		copt.Digester = m.Reports.Service
	}
	eng, err := conversation.New(copt)
	if err != nil {
		return nil, err
	}
	if m.Reports != nil {
		var qs []conversation.SurveyQuestion
		for _, q := range m.Reports.Service.SurveyQuestions() {
			qs = append(qs, conversation.SurveyQuestion{Key: q.Key, Prompt: q.Prompt})
		}
		eng.RegisterSurvey(report.SurveyName, qs, m.Reports.Service.SurveyDone)
		m.Reports.Service.SetSurveys(eng)
	}
	return &Bot{Tickets: svc, Engine: eng}, nil
}

// wireBot builds the bot and runs its sweeps (expired dialogues,
// auto-confirmation). It is reached by WeCom through connectWeCom.
func wireBot(ctx context.Context, m *Main) error {
	b, err := newBot(m)
	if err != nil {
		return err
	}
	m.Bot = b
	m.workers = append(m.workers, b.Engine.Run)
	return nil
}

// connectWeCom hands WeCom's inbox to the bot: callbacks (or the robot's
// long connection) in, outbox delivery out. serve calls it after Open; tests
// that drive the channel with a stand-in bot call startWeCom themselves.
func connectWeCom(m *Main) error {
	w, err := startWeCom(m, m.Bot.Engine.Handle)
	if err != nil {
		return err
	}
	m.WeCom = w
	m.workers = append(m.workers, w.Run)
	return nil
}
