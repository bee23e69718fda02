package main

import (
	"context"
	"fmt"
	"time"

	"weibao/bot"
	"weibao/bot/escalation"
	"weibao/bot/knowledge"
	"weibao/bot/register"
	"weibao/bot/ticketing"
	"weibao/bot/upgrade"
	"weibao/bot/warroom"
	"weibao/configs"
	"weibao/handlers"
	"weibao/scheduler"
)

// Knowledge is the knowledge base, the coordinated response and the
// upgrades wired together: the first two follow the database's feed (a
// resolve proposes an entry; a hospital-wide or P1 fault opens a war room),
// the dialogue answers 知识库, 升级申请/批准/完成 and 版本 through them, and
// the scheduler runs the knowledge sweep and review.
type Knowledge struct {
	Service  *knowledge.Service
	WarRoom  *warroom.Service
	Upgrades *upgrade.Service
	Register *register.Service
}

// wireKnowledge builds both after the reports (it registers its jobs on
// their scheduler) and before the bot (which answers 知识库 through it).
func wireKnowledge(ctx context.Context, m *Main) error {
	cfg := m.Config
	svc, err := knowledge.New(knowledge.Options{Store: m.DB, Outbox: m.DB, Tickets: m.DB, Analyses: m.DB, Directory: m.DB, Texts: m.Catalog,
		Clock: m.Clock, Location: cfg.Location, Logger: m.Logger.With("component", "knowledge"), Lead: cfg.OnCall.Lead,
		ReviewAfter: cfg.Knowledge.ReviewAfter})
	if err != nil {
		return err
	}
	heads := map[string]string{}
	for _, w := range cfg.Wards {
		heads[w.Code] = w.HeadNurse
	}
	wr, err := warroom.New(warroom.Options{Tickets: m.DB, Outbox: m.DB, SLA: escalation.SLA{Policy: cfg.SLA}, Directory: m.DB,
		Texts: m.Catalog, Clock: m.Clock, Location: cfg.Location, Logger: m.Logger.With("component", "warroom"),
		Team: cfg.Records.EmergencyTeam, Lead: cfg.OnCall.Lead, HeadNurses: heads})
	if err != nil {
		return err
	}
	up, err := upgrade.New(upgrade.Options{Records: m.DB, Directory: m.DB, Texts: m.Catalog, Clock: m.Clock, Location: cfg.Location,
		Logger: m.Logger.With("component", "upgrade"), Lead: cfg.OnCall.Lead})
	if err != nil {
		return err
	}
	ward := cfg.Records.Ward
	if ward == "" && len(cfg.Wards) > 0 {
		ward = cfg.Wards[0].Code
	}
	category := cfg.Records.Category
	if category == "" {
		category = "other"
	}
	reg, err := register.New(register.Options{Records: m.DB, Outbox: m.DB, Directory: m.DB, Texts: m.Catalog, Clock: m.Clock, Location: cfg.Location,
		Logger: m.Logger.With("component", "register"), Lead: cfg.OnCall.Lead, Contact: cfg.Knowledge.HospitalContact,
		FileP1: func(ctx context.Context, reporter, description string) (string, error) {
			// An urgent bug is a P1 fault (三.1 "紧急BUG需立即修复").
			t, err := m.Tickets.Intake(ctx, ticketing.IntakeInput{Reporter: reporter, WardCode: ward, Category: category,
				Description: description, Class: bot.Classification{Scope: bot.ScopeDepartment, Type: bot.TypeSoftware,
					Severity: bot.SeverityClinical, Difficulty: bot.DifficultyOther, Emergency: true}})
			if err != nil {
				return "", err
			}
			return t.No, nil
		},
		NoteTicket: func(ctx context.Context, actor, no, text string) error {
			_, err := m.Tickets.Note(ctx, actor, no, text)
			return err
		}})
	if err != nil {
		return err
	}
	m.DB.Subscribe(svc.Committed)
	m.DB.Subscribe(wr.Committed)
	if m.Reports != nil {
		if err := registerKnowledgeJobs(m.Reports.Scheduler, cfg.Knowledge.Jobs, svc, reg); err != nil {
			return err
		}
	}

	m.Server.RegisterKnowledge(handlers.KnowledgeOptions{Knowledge: svc, Entries: m.DB,
		Upgrades: up, Requirements: reg, Location: cfg.Location, Clock: m.Clock, ReviewAfter: cfg.Knowledge.ReviewAfter})
	m.Knowledge = &Knowledge{Service: svc, WarRoom: wr, Upgrades: up, Register: reg}
	return nil
}

func registerKnowledgeJobs(sch *scheduler.Scheduler, jobs configs.KnowledgeJobs, svc *knowledge.Service, reg *register.Service) error {
	for _, j := range []struct {
		name string
		job  configs.Job
		run  func(ctx context.Context, at time.Time) error
	}{
		{"knowledge_review", jobs.Review, func(ctx context.Context, _ time.Time) error { return svc.Review(ctx) }},
		{"knowledge_sweep", jobs.Sweep, func(ctx context.Context, _ time.Time) error { _, err := svc.Sweep(ctx); return err }},
		{"knowledge_register", jobs.Register, func(ctx context.Context, _ time.Time) error { return reg.Remind(ctx) }},
	} {
		if j.job.Off() {
			continue
		}
		if err := sch.Register(scheduler.Job{Name: j.name, Spec: j.job.Spec, Timeout: j.job.Timeout, CatchUp: j.job.CatchUp, Run: j.run}); err != nil {
			return fmt.Errorf("config: knowledge.jobs.%s: %w", j.name[len("knowledge_"):], err)
		}
	}
	return nil
}
