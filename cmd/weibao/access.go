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

// registerAuditPurge deletes audit rows past the retention daily; the
// retention is the store's own, so no schedule or clock can cut it short.
func registerAuditPurge(m *Main, sch *scheduler.Scheduler) error {
	return sch.Register(scheduler.Job{Name: "audit_purge", Spec: "30 3 * * *", Run: func(ctx context.Context, at time.Time) error {
		n, err := m.DB.PurgeAudit(ctx, at)
		if n > 0 {
			m.Logger.Info("audit rows past the retention deleted", "rows", n, "retention_days", int(access.AuditRetention.Hours()/24))
		}
		return err
	}})
}
