package report_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/report"
	"weibao/catalog"
	"weibao/storage/storagetest"
	"weibao/xlsx"
)

// TestAnalysisReminders: a resolved hospital-wide fault gets its analysis
// opened once, the engineer is reminded daily until it is done, the lead is
// told once it is overdue, and nothing more happens after the answers.
func TestAnalysisReminders(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	if err := db.SyncDirectory(ctx, directory); err != nil {
		t.Fatal(err)
	}
	g := &gen{t: t, db: db}
	rep := time.Date(2026, 11, 12, 9, 40, 0, 0, sh)
	tk, ev, err := bot.NewTicket(bot.Ticket{ReporterID: "nurse1", WardCode: "js-icu", Category: "network", Description: "全院无法登录",
		Classification: bot.Classification{Scope: bot.ScopeHospital, Type: bot.TypeServer, Severity: bot.SeverityClinical,
			Difficulty: bot.DifficultyOther, Priority: bot.P2, SLAClass: "other"}}, "nurse1", rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateTicket(ctx, tk, bot.Effects{Events: []bot.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	g.update(tk.No, bot.Change{Kind: bot.EventResolved, Actor: "eng2", At: rep.Add(time.Hour), Cause: "交换机故障", Solution: "切换备用链路"}, nil)
	resolved, err := db.Ticket(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: rep.Add(time.Hour)}
	tx := catalog.Default()
	svc := report.NewService(report.Options{Builder: &report.Builder{Source: db, Dir: db, Location: sh, Clock: c},
		Texts: tx, Files: db, Outbox: db, Encoder: xlsx.Encoder{Texts: tx}, Analyses: db})
	f := &fixture{db: db}
	// The after-resolve hook and the sweep both open it: once.
	if err := svc.OnResolved(ctx, resolved); err != nil {
		t.Fatal(err)
	}
	if err := svc.SweepAnalyses(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := f.outbox(t)
	ask := need(t, msgs, "analysis/"+tk.No+"/ask/0/eng2")
	if !strings.Contains(ask.Text, "11-15 10:40") || !strings.Contains(ask.Text, "1. 请说明故障原因分析") {
		t.Errorf("ask = %q, want the due date (3 days) and the questions", ask.Text)
	}
	if len(msgs) != 1 {
		t.Errorf("%d messages after hook and sweep, want 1", len(msgs))
	}
	// The next day's sweep reminds; one a day, not one an hour.
	for _, step := range []struct {
		at   time.Time
		want []string
	}{
		{rep.Add(10 * time.Hour), nil},
		{rep.Add(25 * time.Hour), []string{"analysis/" + tk.No + "/ask/1/eng2"}},
		{rep.Add(26 * time.Hour), nil},
		{rep.Add(4 * 24 * time.Hour), []string{"analysis/" + tk.No + "/ask/2/eng2", "analysis/" + tk.No + "/overdue/2/lead1"}},
	} {
		c.Set(step.at)
		if err := svc.SweepAnalyses(ctx); err != nil {
			t.Fatal(err)
		}
		msgs := f.outbox(t)
		if len(msgs) != len(step.want) {
			t.Errorf("at %v: %d messages, want %v", step.at, len(msgs), step.want)
		}
		for _, k := range step.want {
			m := need(t, msgs, k)
			if strings.Contains(k, "overdue") && !strings.Contains(m.Text, "刘工") {
				t.Errorf("overdue notice %q does not name the engineer", m.Text)
			}
		}
	}
	if err := svc.SurveyDone(ctx, tk.No, map[string]string{"cause": "a", "impact": "b", "conclusion": "c"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.SurveyDone(ctx, tk.No, map[string]string{"cause": "x", "impact": "y", "conclusion": "z"}); err != nil {
		t.Fatal(err)
	}
	if msgs := f.outbox(t); len(msgs) != 4 { // report, page, workbook, thanks: once
		t.Errorf("%d messages after the answers (twice), want 4", len(msgs))
	}
	c.Set(rep.Add(6 * 24 * time.Hour))
	if err := svc.SweepAnalyses(ctx); err != nil {
		t.Fatal(err)
	}
	if msgs := f.outbox(t); len(msgs) != 0 {
		t.Errorf("reminded after completion: %d messages", len(msgs))
	}
	a, err := db.Analysis(ctx, tk.No)
	if err != nil || a.Cause != "a" || a.Reminders != 2 {
		t.Errorf("analysis = %+v, %v; want the first answers and 2 reminders", a, err)
	}
}
