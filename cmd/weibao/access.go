package main

import (
	"context"
	"fmt"
	"time"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/handlers"
	"weibao/scheduler"
)

// demoTokenLabel marks the lead's token the embedded default makes at each
// start; the next start revokes it.
const demoTokenLabel = "demo start-up"

// wireAccess builds authentication and the audit log and puts the API
// behind them: it runs before every subsystem that registers API routes.
// On the embedded default it makes the demo lead a token valid 12 h, so
// the console works with no set-up (logReady prints it).
func wireAccess(ctx context.Context, m *Main) error {
	m.Access = access.New(m.DB, m.DB, m.Redis.RateLog(m.Config.Redis.Prefix+"login:"), m.Clock, m.Catalog,
		m.Logger.With("component", "access"))
	m.Server.RegisterAccess(m.Access)
	m.Server.RegisterAPI(handlers.APIOptions{Board: m.DB, Location: m.Config.Location, Clock: m.Clock})
	if !m.Config.Embedded {
		return nil
	}
	return demoLogin(ctx, m)
}

// demoLogin makes the demo lead's start-up token, revoking the last one.
func demoLogin(ctx context.Context, m *Main) error {
	leads, err := m.DB.People(ctx, bot.RoleLead)
	if err != nil || len(leads) == 0 {
		return fmt.Errorf("demo login: no lead in the demo roster: %v", err)
	}
	tokens, err := m.Access.Tokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.Label == demoTokenLabel && t.Revoked.IsZero() {
			if err := m.Access.RevokeToken(ctx, t.ID); err != nil {
				return err
			}
		}
	}
	m.DemoToken, _, err = m.Access.CreateToken(ctx, leads[0].UserID, access.Lead, demoTokenLabel, 12*time.Hour)
	return err
}

// registerAccessPurge deletes, daily, the audit rows past the retention
// (the store's own: no schedule or clock can cut it short) and the
// sessions past their lifetime.
func registerAccessPurge(m *Main, sch *scheduler.Scheduler) error {
	return sch.Register(scheduler.Job{Name: "access_purge", Spec: "30 3 * * *", Run: func(ctx context.Context, at time.Time) error {
		audit, err := m.DB.PurgeAudit(ctx, at)
		if err != nil {
			return err
		}
		sessions, err := m.DB.PurgeSessions(ctx, at)
		m.Logger.Info("access purge", "audit_rows", audit, "retention_days", int(access.AuditRetention.Hours()/24), "sessions", sessions)
		return err
	}})
}
