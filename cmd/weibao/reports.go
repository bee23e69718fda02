package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"weibao/bot"
	"weibao/bot/report"
	"weibao/xlsx"
	"weibao/configs"
	"weibao/handlers"
	"weibao/scheduler"
	"weibao/sla/calendar"
)

// Reports is the lead's reports wired together. Service is the dialogue's
// Digester (日报/digest) and, once the dialogue's survey extension is wired,
// the fault analysis survey's owner (SurveyName, SurveyQuestions, SurveyDone,
// and OnResolved as conversation's Options.OnResolved).
type Reports struct {
	Service   *report.Service
	Scheduler *scheduler.Scheduler
}

// Default jobs: the digest at 08:30 (caught up until noon), the monthly
// summary on the 1st at 09:00, the quarterly package on the first working day
// of a quarter (the job runs on days 1–10 and acts on the first working one),
// and the fault analysis sweep hourly in the daytime: it opens the analyses of
// faults resolved since (should the dialogue's after-resolve hook have missed
// one) and sends the daily reminders.
var defaultJobs = configs.ReportJobs{
	Digest:    configs.Job{Spec: "30 8 * * *", Timeout: 5 * time.Minute, CatchUp: 3*time.Hour + 30*time.Minute},
	Monthly:   configs.Job{Spec: "0 9 1 * *", Timeout: 10 * time.Minute, CatchUp: 72 * time.Hour},
	Quarterly: configs.Job{Spec: "0 9 1-10 1,4,7,10 *", Timeout: 30 * time.Minute, CatchUp: 12 * time.Hour},
	Analysis:  configs.Job{Spec: "5 8-20 * * *", Timeout: 5 * time.Minute, CatchUp: time.Hour},
}

// wireReports builds the report service, the scheduler with the report jobs,
// and the report API; the scheduler runs as a worker.
func wireReports(ctx context.Context, m *Main) error {
	cfg := m.Config.Reports
	loc := m.Config.Location
	log := m.Logger.With("component", "reports")
	var ros bot.Roster
	if m.Escalation != nil {
		ros = m.Escalation.Roster
	}
	svc := report.NewService(report.Options{
		Builder: &report.Builder{Source: m.DB, Dir: m.DB, Roster: ros, Location: loc, Clock: m.Clock},
		Texts:   m.Catalog, Files: m.DB, Outbox: m.DB, Encoder: xlsx.Encoder{Texts: m.Catalog}, Analyses: m.DB,
		LeadChat: cfg.LeadChatID, AnalysisDue: cfg.AnalysisDue, Logger: log,
	})
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	sch := scheduler.New(scheduler.Options{Locker: m.Redis.JobLock(host + "-" + hex.EncodeToString(b)), History: m.DB,
		Clock: m.Clock, Location: loc, Logger: m.Logger.With("component", "scheduler"), Replica: host})
	slaPol, err := slaPolicy(m.Config.Escalation.SLAFile)
	if err != nil {
		return err
	}
	cal, _ := slaPol.Calendar.(*calendar.Calendar)
	firstWorkday := func(t time.Time) bool {
		if cal == nil {
			return t.Day() == 1
		}
		for d := time.Date(t.Year(), t.Month(), 1, 12, 0, 0, 0, loc); d.Day() < t.Day(); d = d.AddDate(0, 0, 1) {
			if cal.IsWorkday(d) {
				return false
			}
		}
		return cal.IsWorkday(t)
	}
	for _, j := range []struct {
		name     string
		cfg, def configs.Job
		run      func(ctx context.Context, at time.Time) error
	}{
		{"digest", cfg.Jobs.Digest, defaultJobs.Digest, func(ctx context.Context, at time.Time) error {
			return svc.SendDigest(ctx, at.AddDate(0, 0, -1))
		}},
		{"monthly", cfg.Jobs.Monthly, defaultJobs.Monthly, func(ctx context.Context, at time.Time) error {
			return svc.SendMonthly(ctx, at.AddDate(0, -1, 0))
		}},
		{"quarterly", cfg.Jobs.Quarterly, defaultJobs.Quarterly, func(ctx context.Context, at time.Time) error {
			if !firstWorkday(at.In(loc)) {
				return nil
			}
			return svc.SendQuarterly(ctx, at.AddDate(0, -3, 0))
		}},
		{"analysis", cfg.Jobs.Analysis, defaultJobs.Analysis, func(ctx context.Context, _ time.Time) error {
			return svc.SweepAnalyses(ctx)
		}},
	} {
		job := j.def
		if j.cfg.Spec != "" {
			job.Spec = j.cfg.Spec
		}
		if j.cfg.Timeout > 0 {
			job.Timeout = j.cfg.Timeout
		}
		if j.cfg.CatchUp > 0 {
			job.CatchUp = j.cfg.CatchUp
		}
		if job.Spec == "off" {
			continue
		}
		if err := sch.Register(scheduler.Job{Name: j.name, Spec: job.Spec, Timeout: job.Timeout, CatchUp: job.CatchUp, Run: j.run}); err != nil {
			return fmt.Errorf("config: reports.jobs.%s: %w", j.name, err)
		}
	}
	m.Server.RegisterReports(handlers.ReportOptions{Token: m.Config.Server.AdminToken, Reports: svc, Runs: m.DB,
		Files: m.DB, Location: loc, Clock: m.Clock})
	m.Reports = &Reports{Service: svc, Scheduler: sch}
	m.workers = append(m.workers, sch.Run, svc.Run)
	return nil
}
