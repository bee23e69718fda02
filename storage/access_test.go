package storage_test

import (
	"context"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/catalog"
	"weibao/storage"
	"weibao/storage/storagetest"
)

type allowAll struct{}

func (allowAll) Allow(context.Context, string, int, time.Duration, time.Time) (time.Duration, error) {
	return 0, nil
}

type clockAt time.Time

func (c clockAt) Now() time.Time { return time.Time(c) }

func TestTokensAndSessionsStoredHashed(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	if err := db.SyncDirectory(ctx, storage.DirectoryData{People: []bot.Person{{UserID: "lead1", Name: "赵经理", Role: bot.RoleLead}}}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	svc := access.New(db, db, allowAll{}, clockAt(now), catalog.Default(), nil)
	raw, _, err := svc.CreateToken(ctx, "lead1", access.Lead, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	cookie, p, err := svc.LoginToken(ctx, raw, access.From{IP: "10.0.0.1", UserAgent: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SendCode(ctx, p); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{raw, raw[4:], cookie} {
		if where := db.FindText(ctx, secret); where != "" {
			t.Errorf("the database holds a raw secret %q in %s", secret[:8], where)
		}
	}
	if _, err := db.TokenByHash(ctx, access.Hash(raw)); err != nil {
		t.Errorf("token not found by its hash: %v", err)
	}
}

func TestAuditPurgeKeepsTheRetention(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	for _, age := range []time.Duration{access.AuditRetention + time.Hour, access.AuditRetention - time.Minute, time.Hour} {
		if err := db.AppendAudit(ctx, access.Entry{At: now.Add(-age), Actor: "lead1", Action: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := db.PurgeAudit(ctx, now)
	if err != nil || n != 1 {
		t.Fatalf("PurgeAudit = %d, %v; want the one row older than 184 days", n, err)
	}
	rows, err := db.Audit(ctx, access.AuditFilter{})
	if err != nil || len(rows) != 2 {
		t.Errorf("after purge: %d rows, %v; want the 2 younger rows", len(rows), err)
	}
}

func TestPurgeSessions(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	now := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	for i, age := range []time.Duration{access.SessionAbsolute + time.Minute, access.SessionAbsolute - time.Minute} {
		s := access.Session{UserID: "lead1", Role: access.Lead, Method: "token", Created: now.Add(-age), LastSeen: now.Add(-age)}
		id, err := db.CreateSession(ctx, s, access.Hash(string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateCode(ctx, id, access.Hash("123456"), now, bot.Outgoing{Key: "code" + string(rune('a'+i)), ToUsers: []string{"lead1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.PurgeSessions(ctx, now); err != nil || n != 1 {
		t.Fatalf("PurgeSessions = %d, %v; want the one past 12 h", n, err)
	}
	if _, err := db.SessionByHash(ctx, access.Hash("a")); err == nil {
		t.Errorf("the old session is still there")
	}
	if _, err := db.SessionByHash(ctx, access.Hash("b")); err != nil {
		t.Errorf("the young session is gone: %v", err)
	}
}
