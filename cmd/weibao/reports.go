package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"

	"weibao/bot/conversation"
	"weibao/bot/report"
	"weibao/configs"
	"weibao/handlers"
	"weibao/scheduler"
	"weibao/xlsx"
)

// Reports is the lead's reports wired together. Service is the dialogue's
// Digester (日报/digest), the fault analysis survey's owner (SurveyName,
// SurveyQuestions, SurveyDone) and follows the feed to open fault analyses.
type Reports struct {
	Service   *report.Service
	Scheduler *scheduler.Scheduler
}

// wireReports builds the report service, the scheduler with the report jobs,
// and the report API; the scheduler runs as a worker.
func wireReports(ctx context.Context, m *Main) error {
	cfg := m.Config.Reports
	loc := m.Config.Location
	log := m.Logger.With("component", "reports")
	var ros report.Roster
	if m.Escalation != nil {
		ros = m.Escalation.Roster
	}
	svc := report.NewService(report.Options{
		Builder: &report.Builder{Source: m.DB, Dir: m.DB, Roster: ros, Location: loc, Clock: m.Clock},
		Texts:   m.Catalog, Files: m.DB, Outbox: m.DB, Encoder: xlsx.Encoder{Texts: m.Catalog}, Analyses: m.DB,
		Surveys: conversation.SurveyRequests{Sessions: m.Sessions}, LeadChat: cfg.LeadChatID, AnalysisDue: cfg.AnalysisDue, Logger: log,
		Records: recordDocs(m.Records),
	})
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	sch := scheduler.New(scheduler.Options{Locker: m.Redis.JobLock(host + "-" + hex.EncodeToString(b)), History: m.DB, KeyPrefix: m.Config.Redis.Prefix + "job:",
		Clock: m.Clock, Location: loc, Logger: m.Logger.With("component", "scheduler"), Replica: host})
	if err := registerReportJobs(m, sch, svc); err != nil {
		return err
	}
	if err := registerAccessPurge(m, sch); err != nil {
		return err
	}
	if err := registerRecordJob(m, sch); err != nil {
		return err
	}
	m.DB.Subscribe(svc.Committed)
	m.Server.RegisterReports(handlers.ReportOptions{Reports: svc, Runs: m.DB,
		Files: m.DB, Location: loc, Clock: m.Clock})
	m.Reports = &Reports{Service: svc, Scheduler: sch}
	m.workers = append(m.workers, sch.Run)
	return nil
}

// registerReportJobs registers the report jobs that are not off, each with
// the period it sends.
func registerReportJobs(m *Main, sch *scheduler.Scheduler, svc *report.Service) error {
	jobs := m.Config.Reports.Jobs
	for _, j := range []struct {
		name string
		job  configs.Job
		run  func(ctx context.Context, at time.Time) error
	}{
		{"digest", jobs.Digest, func(ctx context.Context, at time.Time) error {
			return svc.SendDigest(ctx, at.AddDate(0, 0, -1))
		}},
		{"monthly", jobs.Monthly, func(ctx context.Context, at time.Time) error {
			return svc.SendMonthly(ctx, at.AddDate(0, -1, 0))
		}},
		{"quarterly", jobs.Quarterly, func(ctx context.Context, at time.Time) error {
			if !report.FirstWorkday(m.Config.Calendar, at.In(m.Config.Location)) {
				return nil
			}
			return svc.SendQuarterly(ctx, at.AddDate(0, -3, 0))
		}},
		{"analysis", jobs.Analysis, func(ctx context.Context, _ time.Time) error {
			return svc.SweepAnalyses(ctx)
		}},
	} {
		if j.job.Off() {
			continue
		}
		if err := sch.Register(scheduler.Job{Name: j.name, Spec: j.job.Spec, Timeout: j.job.Timeout, CatchUp: j.job.CatchUp, Run: j.run}); err != nil {
			return fmt.Errorf("config: reports.jobs.%s: %w", j.name, err)
		}
	}
	return nil
}
