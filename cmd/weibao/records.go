package main

import (
	"context"
	"fmt"
	"time"

	"weibao/bot"
	"weibao/bot/records"
	"weibao/bot/report"
	"weibao/bot/ticketing"
	"weibao/promapi"
	"weibao/scheduler"
	"weibao/xlsx"
)

// defaultRecordsJob runs the record reminders every morning; they go out on
// working days only, and a missed run is worth catching up until noon.
var defaultRecordsJobSpec, defaultRecordsJobCatchUp = "30 9 * * *", 2*time.Hour + 30*time.Minute

// wireRecords builds the maintenance records over the database and the
// ticketing use cases (an anomaly's ticket), with monitoring's figures when
// records.prometheus_url is set. The dialogue gets its flows (newBot), the
// reports its quarterly files and the scheduler its reminders
// (wireReports), the API its routes.
func wireRecords(ctx context.Context, m *Main) error {
	cfg := m.Config.Records
	loc := m.Config.Location
	var systems []records.System
	for _, s := range cfg.Systems {
		systems = append(systems, records.System{Code: s.Code, Name: s.Name, Type: bot.FaultType(s.Type), Items: s.Items,
			Instance: s.Instance, Windows: s.Windows})
	}
	start, end, err := cfg.Contract.Period(loc)
	if err != nil {
		return fmt.Errorf("config: records.contract: %w", err)
	}
	ward, category := cfg.Ward, cfg.Category
	if ward == "" && len(m.Config.Wards) > 0 {
		ward = m.Config.Wards[0].Code
	}
	if category == "" {
		category = "other"
	}
	opt := records.Options{Store: m.DB, Directory: m.DB, Encoder: xlsx.Encoder{Texts: m.Catalog}, Outbox: m.DB, Catalog: m.Catalog,
		Clock: m.Clock, Location: loc, Logger: m.Logger.With("component", "records"), Systems: systems,
		Workdays: m.Config.Calendar, LeadChat: m.Config.Reports.LeadChatID, BackupCheckEvery: cfg.BackupCheckEvery,
		RestoreDrillEvery: cfg.RestoreDrillEvery, RemindEvery: cfg.RemindEvery, ContractStart: start, ContractEnd: end,
		ContractNotice: cfg.Contract.Notice, EmergencyTeam: cfg.EmergencyTeam,
		FileTicket: func(ctx context.Context, a records.Anomaly) (string, error) {
			// An anomaly found by a check has affected nobody yet: one
			// person's scope, daily operation, filed by the engineer.
			t, err := m.Tickets.Intake(ctx, ticketing.IntakeInput{Reporter: a.Reporter, WardCode: ward, Category: category,
				Description: a.Description, Class: bot.Classification{Scope: bot.ScopePersonal, Type: a.Type,
					Severity: bot.SeverityDaily, Difficulty: bot.DifficultyOther}})
			if err != nil {
				return "", err
			}
			return t.No, nil
		}}
	if cfg.PrometheusURL != "" {
		opt.Metrics = &promapi.Client{URL: cfg.PrometheusURL}
	}
	svc, err := records.New(opt)
	if err != nil {
		return fmt.Errorf("config: records: %w", err)
	}
	m.Records = svc
	m.Server.RegisterRecords(svc, loc)
	return nil
}

// recordDocs are the quarter's record workbooks for the quarterly package.
func recordDocs(svc *records.Service) func(ctx context.Context, span bot.Span) ([]report.Doc, error) {
	return func(ctx context.Context, span bot.Span) ([]report.Doc, error) {
		fs, err := svc.QuarterFiles(ctx, span)
		if err != nil {
			return nil, err
		}
		docs := make([]report.Doc, len(fs))
		for i, f := range fs {
			docs[i] = report.Doc{Name: f.Name, Data: f.Data, Note: f.Note}
		}
		return docs, nil
	}
}

// registerRecordJob adds the daily record reminders to the scheduler.
func registerRecordJob(m *Main, sch *scheduler.Scheduler) error {
	j := m.Config.Records.Job
	if j.Off() {
		return nil
	}
	if j.Spec == "" {
		j.Spec, j.CatchUp = defaultRecordsJobSpec, defaultRecordsJobCatchUp
	}
	if j.Timeout == 0 {
		j.Timeout = 5 * time.Minute
	}
	err := sch.Register(scheduler.Job{Name: "records", Spec: j.Spec, Timeout: j.Timeout, CatchUp: j.CatchUp,
		Run: func(ctx context.Context, at time.Time) error { return m.Records.Remind(ctx, at) }})
	if err != nil {
		return fmt.Errorf("config: records.job: %w", err)
	}
	return nil
}
