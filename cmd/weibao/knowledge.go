package main

import (
	"context"
	"fmt"
	"time"

	"weibao/bot/escalation"
	"weibao/bot/knowledge"
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
}

// wireKnowledge builds both after the reports (it registers its jobs on
// their scheduler) and before the bot (which answers 知识库 through it).
func wireKnowledge(ctx context.Context, m *Main) error {
	cfg := m.Config
	svc, err := knowledge.New(knowledge.Options{Store: m.DB, Tickets: m.DB, Analyses: m.DB, Directory: m.DB, Texts: m.Catalog,
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
	m.DB.Subscribe(svc.Committed)
	m.DB.Subscribe(wr.Committed)
	if m.Reports != nil {
		if err := registerKnowledgeJobs(m.Reports.Scheduler, cfg.Knowledge.Jobs, svc); err != nil {
			return err
		}
	}
	m.Server.RegisterKnowledge(handlers.KnowledgeOptions{Token: cfg.Server.AdminToken, Knowledge: svc, Entries: m.DB})
	m.Knowledge = &Knowledge{Service: svc, WarRoom: wr, Upgrades: up}
	return nil
}

func registerKnowledgeJobs(sch *scheduler.Scheduler, jobs configs.KnowledgeJobs, svc *knowledge.Service) error {
	for _, j := range []struct {
		name string
		job  configs.Job
		run  func(ctx context.Context, at time.Time) error
	}{
		{"knowledge_review", jobs.Review, func(ctx context.Context, _ time.Time) error { return svc.Review(ctx) }},
		{"knowledge_sweep", jobs.Sweep, func(ctx context.Context, _ time.Time) error { _, err := svc.Sweep(ctx); return err }},
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
