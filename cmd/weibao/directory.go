package main

import (
	"context"
	"time"

	"weibao/bot/departments"
	"weibao/scheduler"
	"weibao/wecom"
)

// wireDirectory reads the wards' WeCom departments into the roster once when
// the server runs, then daily (once across replicas), with the app's client.
// A failed read is logged and leaves the roster as it was.
func wireDirectory(m *Main, client *wecom.Client) error {
	var wards []departments.Ward
	for _, w := range m.Config.Wards {
		if w.DepartmentID > 0 {
			wards = append(wards, departments.Ward{Code: w.Code, DepartmentID: w.DepartmentID})
		}
	}
	log := m.Logger.With("component", "departments")
	s, err := departments.New(client, m.DB, wards, log)
	if err != nil {
		return err
	}
	// Every replica reads at start: the configuration it started with may
	// name other departments, and the sync is idempotent.
	m.workers = append(m.workers, func(ctx context.Context) error {
		if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Error("wecom departments not read; the roster keeps its last read", "err", err)
		}
		return nil
	})
	if len(wards) == 0 {
		return nil
	}
	return m.Reports.Scheduler.Register(scheduler.Job{Name: "wecom_directory", Spec: "0 6 * * *", Timeout: 2 * time.Minute,
		Run: func(ctx context.Context, _ time.Time) error { return s.Sync(ctx) }})
}
