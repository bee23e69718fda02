package register_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/register"
	"weibao/catalog"
	"weibao/storage"
	"weibao/storage/storagetest"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// TestRemind: a bug's engineer is reminded 7 days and 1 day before its
// deadline, and he and the lead once it is overdue; each reminder once,
// whenever the job runs; a deadline over three months away is refused.
func TestRemind(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	if err := db.SyncDirectory(ctx, storage.DirectoryData{People: []bot.Person{
		{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer, Active: true}, {UserID: "lead1", Name: "赵经理", Role: bot.RoleLead, Active: true}}}); err != nil {
		t.Fatal(err)
	}
	loc := storagetest.Shanghai
	c := &clock{time.Date(2026, 12, 1, 10, 0, 0, 0, loc)}
	svc, err := register.New(register.Options{Records: db, Outbox: db, Directory: db, Texts: catalog.Default(), Clock: c, Location: loc, Lead: "lead1",
		FileP1:     func(context.Context, string, string) (string, error) { return "", errors.New("no urgent bug here") },
		NoteTicket: func(context.Context, string, string, string) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bug(ctx, "eng1", false, "报表导出列错位", "2027-03-02"); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("deadline past three months: %v, want ErrInvalid", err)
	}
	if _, err := svc.Bug(ctx, "lead9", false, "x", "2026-12-11"); !errors.Is(err, bot.ErrForbidden) {
		t.Errorf("unknown person: %v, want ErrForbidden", err)
	}
	b, err := svc.Bug(ctx, "eng1", false, "报表导出列错位", "2026-12-11")
	if err != nil {
		t.Fatal(err)
	}
	sent := func() []string {
		t.Helper()
		rows, err := db.OutboxEntries(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range rows {
			if strings.HasPrefix(r.Key, "register/") {
				keys = append(keys, strings.TrimPrefix(r.Key, "register/"+b.No+"/"))
			}
		}
		return keys
	}
	for _, step := range []struct {
		at   time.Time
		want []string
	}{
		{time.Date(2026, 12, 3, 9, 0, 0, 0, loc), nil},
		{time.Date(2026, 12, 4, 9, 0, 0, 0, loc), []string{"remind/7"}},
		{time.Date(2026, 12, 5, 9, 0, 0, 0, loc), []string{"remind/7"}},
		{time.Date(2026, 12, 10, 9, 0, 0, 0, loc), []string{"remind/7", "remind/1"}},
		{time.Date(2026, 12, 11, 23, 0, 0, 0, loc), []string{"remind/7", "remind/1"}}, // the deadline day itself
		{time.Date(2026, 12, 12, 9, 0, 0, 0, loc), []string{"remind/7", "remind/1", "overdue"}},
		{time.Date(2026, 12, 13, 9, 0, 0, 0, loc), []string{"remind/7", "remind/1", "overdue"}},
	} {
		c.t = step.at
		if err := svc.Remind(ctx); err != nil {
			t.Fatal(err)
		}
		if got := sent(); !slices.Equal(got, step.want) {
			t.Errorf("at %s: sent %v, want %v", step.at.Format("01-02 15:04"), got, step.want)
		}
	}
}
