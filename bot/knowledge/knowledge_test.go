package knowledge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/knowledge"
	"weibao/catalog"
	"weibao/storage"
	"weibao/storage/storagetest"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

type noDeadlines struct{}

func (noDeadlines) Deadlines(*bot.Ticket, []bot.Event) bot.Deadlines { return bot.Deadlines{} }

var t0 = time.Date(2026, 6, 1, 2, 0, 0, 0, time.UTC)

func setup(t *testing.T) (*storage.DB, *knowledge.Service, *clock) {
	t.Helper()
	db := storagetest.Open(t)
	ctx := context.Background()
	if err := db.SyncDirectory(ctx, storage.DirectoryData{
		Wards:      []bot.Ward{{Code: "med-icu", Name: "内科ICU"}},
		People:     []bot.Person{{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer, Active: true}, {UserID: "lead1", Name: "赵经理", Role: bot.RoleLead, Active: true}},
		Categories: []bot.Category{{Code: "login", Name: "登录问题", Type: bot.TypeSoftware, Difficulty: bot.DifficultySimple}},
	}); err != nil {
		t.Fatal(err)
	}
	c := &clock{t0}
	svc, err := knowledge.New(knowledge.Options{Store: db, Outbox: db, Tickets: db, Analyses: db, Directory: db, Texts: catalog.Default(),
		Clock: c, Lead: "lead1"})
	if err != nil {
		t.Fatal(err)
	}
	return db, svc, c
}

// resolved stores a ticket resolved by eng1, with no feed subscriber: the
// proposal is left to Sweep.
func resolved(t *testing.T, db *storage.DB, at time.Time) *bot.Ticket {
	t.Helper()
	ctx := context.Background()
	tk, ev, err := bot.NewTicket(bot.Ticket{ReporterID: "nurse1", WardCode: "med-icu", Category: "login", Description: "电脑登不上重症系统",
		Classification: bot.Classification{Scope: bot.ScopePersonal, Type: bot.TypeSoftware, Severity: bot.SeverityDaily,
			Difficulty: bot.DifficultySimple, Priority: bot.P3, SLAClass: "routine"}}, "nurse1", at)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTicket(ctx, tk, bot.Effects{Events: []bot.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	tk, err = db.UpdateTicket(ctx, tk.No, func(tk *bot.Ticket, tl []bot.Event) (bot.Effects, error) {
		evs, err := tk.Step(noDeadlines{}, tl, bot.Change{Kind: bot.EventResolved, Actor: "eng1", At: at.Add(time.Minute), Cause: "缓存损坏", Solution: "清除缓存"})
		return bot.Effects{Events: evs}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// TestSweepAndReview: the sweep proposes the entry the feed missed, once;
// an approved entry is listed to the lead when six months have passed
// since its review and not before; the list goes out once a day.
func TestSweepAndReview(t *testing.T) {
	db, svc, c := setup(t)
	ctx := context.Background()
	tk := resolved(t, db, t0)
	for range 2 {
		if _, err := svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	es, err := db.Entries(ctx, bot.KBFilter{})
	if err != nil || len(es) != 1 || es[0].TicketNo != tk.No || es[0].Fix != "清除缓存" {
		t.Fatalf("entries after two sweeps %+v %v", es, err)
	}
	if _, err := svc.Approve(ctx, "eng1", es[0].ID); err != nil {
		t.Fatal(err)
	}
	reviewMsgs := func() int {
		t.Helper()
		n := 0
		rows, err := db.OutboxEntries(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if strings.HasPrefix(r.Key, "kb/review/") {
				n++
			}
		}
		return n
	}
	for _, step := range []struct {
		at   time.Time
		want int
	}{
		{t0.AddDate(0, 5, 0), 0},                // five months: still current
		{t0.AddDate(0, 6, 2), 1},                // past 182 days: listed
		{t0.AddDate(0, 6, 2).Add(time.Hour), 1}, // the same day: not again
		{t0.AddDate(0, 7, 2), 2},                // a month later, still unreviewed
	} {
		c.t = step.at
		if err := svc.Review(ctx); err != nil {
			t.Fatal(err)
		}
		if got := reviewMsgs(); got != step.want {
			t.Errorf("at %s: %d review lists, want %d", step.at.Format("2006-01-02"), got, step.want)
		}
	}
	// Reviewed again: off the list.
	if _, err := svc.Approve(ctx, "eng1", es[0].ID); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.AddDate(0, 1, 0)
	if err := svc.Review(ctx); err != nil {
		t.Fatal(err)
	}
	if got := reviewMsgs(); got != 2 {
		t.Errorf("after a new review: %d review lists, want still 2", got)
	}
}

func TestMatch(t *testing.T) {
	es := []bot.KBEntry{
		{ID: 1, Symptom: "护士站电脑登不上重症系统"},
		{ID: 2, Symptom: "监护仪数据不显示"},
		{ID: 3, Symptom: "打印机卡纸"},
	}
	for _, tt := range []struct {
		text string
		want int64 // 0: none
	}{
		{"三床护士站的电脑登不上重症系统了", 1},
		{"监护仪上的数据不显示了", 2},
		{"打印机又卡纸", 3},
		{"电脑", 0}, // one pair is not enough
		{"医嘱无法保存", 0},
		{"", 0},
	} {
		e, ok := knowledge.Match(tt.text, es)
		if got := map[bool]int64{true: e.ID}[ok]; got != tt.want {
			t.Errorf("Match(%q) = #%d, want #%d", tt.text, got, tt.want)
		}
	}
}
