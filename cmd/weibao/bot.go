package main

import (
	"context"
	"fmt"
	"os"

	"weibao/bot"
	"weibao/bot/classify"
	"weibao/bot/conversation"
	"weibao/bot/report"
	"weibao/bot/ticketing"
	"weibao/bot/upgrade"
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

// newTickets builds the ticketing use cases over the database, the on-call
// roster and the SLA deadlines; the escalation engine acknowledges through it.
func newTickets(m *Main, ros bot.Roster, deadlines bot.Deadliner) (*ticketing.Service, error) {
	rules := classify.Default()
	if b, err := os.ReadFile(ClassificationPath); err == nil {
		if rules, err = classify.Parse(b); err != nil {
			return nil, fmt.Errorf("config: %s: %w", ClassificationPath, err)
		}
	}
	return ticketing.New(ticketing.Options{Store: m.DB, Directory: m.DB, SLA: deadlines, Roster: ros, Classifier: rules,
		Catalog: m.Catalog, Clock: m.Clock, Location: m.Config.Location, Logger: m.Logger.With("component", "ticketing"), Hours: m.Config.Calendar})
}

// newBot builds the conversation engine over the ticketing service, Redis
// and the reports (digest, fault analysis survey).
func newBot(m *Main) (*Bot, error) {
	copt := conversation.Options{Tickets: m.Tickets, Directory: m.DB, Outbox: m.DB, Sessions: m.Sessions, Dialogues: m.DB, Catalog: m.Catalog, Clock: m.Clock,
		Logger: m.Logger.With("component", "conversation"), Location: m.Config.Location, Roster: m.Escalation.Roster,
		DialogTimeout: m.Config.Dialog.Timeout}
	if m.Reports != nil {
		var qs []conversation.SurveyQuestion
		for _, q := range m.Reports.Service.SurveyQuestions() {
			qs = append(qs, conversation.SurveyQuestion{Key: q.Key, Label: q.Label, Prompt: q.Prompt})
		}
		copt.Digester = m.Reports.Service
		done := func(ctx context.Context, res conversation.SurveyResult) (string, error) {
			return "", m.Reports.Service.SurveyDone(ctx, res.Subject, res.Answers)
		}
		copt.Surveys = map[string]conversation.Survey{report.SurveyName: {Questions: qs, Done: done,
			Open: m.Reports.Service.AnalysisOpen}}
		copt.SurveyHours = m.Config.AnalysisHours
	}
	if m.Records != nil {
		if copt.Surveys == nil {
			copt.Surveys = map[string]conversation.Survey{}
		}
		for name, f := range m.Records.Flows() {
			copt.Surveys[name] = f
		}
	}
	if m.Knowledge != nil {
		copt.Knowledge, copt.Upgrades, copt.Register = m.Knowledge.Service, m.Knowledge.Upgrades, m.Knowledge.Register
		if copt.Surveys == nil {
			copt.Surveys = map[string]conversation.Survey{}
		}
		copt.Surveys[upgrade.SurveyName] = m.Knowledge.Upgrades.Survey()
	}
	eng, err := conversation.New(copt)
	if err != nil {
		return nil, err
	}
	return &Bot{Tickets: m.Tickets, Engine: eng}, nil
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
