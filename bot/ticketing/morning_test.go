package ticketing_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/bot/classify"
	"weibao/bot/ticketing"
	"weibao/catalog"
	"weibao/sla/calendar"
	"weibao/storage/storagetest"
)

// sh is a wall-clock time in Shanghai, November 2026 (the 26th is a Thursday).
func sh(day, hour, minute int) time.Time {
	return time.Date(2026, 11, day, hour, minute, 0, 0, storagetest.Shanghai)
}

// nightEnv is setup's service with the SLA calendar's working time
// (08:00–17:30 on working days), so the night rule holds P3/P4 reports.
func nightEnv(t *testing.T, primary string, gap ...leadOnly) *env {
	t.Helper()
	e := setup(t, primary)
	var ros bot.Roster = roster{e.db, primary}
	if len(gap) > 0 {
		ros = leadOnly{e.db}
	}
	cal, err := calendar.New(calendar.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	e.svc, err = ticketing.New(ticketing.Options{Store: e.db, Directory: e.db, SLA: fakeSLA{}, Roster: ros,
		Classifier: clockClassifier{fakeClassifier{classify.Default()}}, Catalog: catalog.Default(), Clock: e.clock,
		Location: storagetest.Shanghai, Hours: cal})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// clockClassifier is fakeClassifier with a 7×24 P3: an emergency runs on
// round-the-clock clocks without being a safety fault.
type clockClassifier struct{ fakeClassifier }

func (f clockClassifier) Classify(c bot.Classification) (bot.Classification, string) {
	c, r := f.fakeClassifier.Classify(c)
	if c.Emergency && c.Priority == bot.P3 {
		c.SLAClass, c.Urgent = "urgent", true
	}
	return c, r
}

// TestMorningListsWhatTheNightHeld: at 08:00 on Friday the engineer on call
// gets one message listing the P3/P4 reported since Thursday's 17:30 that
// nobody has acknowledged; nothing else is in it.
func TestMorningListsWhatTheNightHeld(t *testing.T) {
	tests := []struct {
		name   string
		at     time.Time
		sev    bot.Severity // fakeClassifier: patient safety is a 7×24 P1, anything else P3
		urgent bool         // an emergency: a 7×24 P3
		ack    bool         // acknowledged during the night
		group  bool         // the engineer was @-ed in the ward group when it was reported
		listed bool
	}{
		{"thursday daytime P3", sh(26, 16, 0), bot.SeverityDaily, false, false, true, false},
		{"thursday evening P3", sh(26, 22, 15), bot.SeverityDaily, false, false, false, true},
		{"night P3", sh(27, 3, 0), bot.SeverityExperience, false, false, false, true},
		{"night P3 acknowledged at night", sh(27, 3, 10), bot.SeverityDaily, false, true, false, false},
		{"night 7×24 P1", sh(27, 3, 20), bot.SeverityPatientSafety, false, false, true, false},
		{"night 7×24 P3", sh(27, 3, 30), bot.SeverityDaily, true, false, true, false},
		{"just before working time", sh(27, 7, 59), bot.SeverityDaily, false, false, false, true},
	}
	e := nightEnv(t, "eng1")
	ctx := context.Background()
	var want []string
	for _, tt := range tests {
		e.clock.t = tt.at
		tk, err := e.svc.Intake(ctx, ticketing.IntakeInput{Reporter: "nurse1", ChatID: "chat-med", WardCode: "med-icu",
			Category: "login", Description: "护士站电脑登不上", Class: bot.Classification{Scope: bot.ScopePersonal,
				Type: bot.TypeSoftware, Severity: tt.sev, Difficulty: bot.DifficultySimple, Emergency: tt.urgent}})
		if err != nil {
			t.Fatal(err)
		}
		if tt.ack {
			e.clock.t = tt.at.Add(5 * time.Minute)
			if _, err := e.svc.Acknowledge(ctx, "eng1", tk.No); err != nil {
				t.Fatal(err)
			}
		}
		if tt.listed {
			want = append(want, tk.No)
		}
		grouped := false
		for _, k := range e.outbox(t, tk.No) {
			grouped = grouped || strings.HasPrefix(k, tk.No+"/page_group/")
		}
		if grouped != tt.group {
			t.Errorf("%s: @ in the ward group = %v, want %v", tt.name, grouped, tt.group)
		}
	}

	e.clock.t = sh(27, 8, 0)
	got, err := e.svc.Morning(ctx, e.clock.t)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("want one hand-over message, got %+v", got)
	}
	m := got[0]
	if diff := cmp.Diff([]string{"eng1"}, m.ToUsers); diff != "" || m.ToChat != "" {
		t.Errorf("recipient (-want +got):\n%s chat %q", diff, m.ToChat)
	}
	var listed []string
	for _, line := range strings.Split(m.Text, "\n")[1:] {
		listed = append(listed, strings.SplitN(line, " ", 2)[0])
	}
	if diff := cmp.Diff(want, listed); diff != "" {
		t.Errorf("tickets listed, oldest first (-want +got):\n%s\n%s", diff, m.Text)
	}
	for _, s := range []string{"上班交接（08:00）", "3 张工单", "内科ICU · 无法登录 · P3 · 11月26日 22:15 报修", "03:00 报修"} {
		if !strings.Contains(m.Text, s) {
			t.Errorf("hand-over lacks %q:\n%s", s, m.Text)
		}
	}
}

// TestMorningOncePerStart: the hand-over is owed in the first hour of
// working time only, with one key however often the replicas ask.
func TestMorningOncePerStart(t *testing.T) {
	e := nightEnv(t, "eng1")
	e.clock.t = sh(27, 3, 0)
	e.report(t, bot.SeverityDaily)
	e.clock.t = sh(28, 2, 0) // Saturday night: held for Monday the 30th
	sat := e.report(t, bot.SeverityDaily)
	tests := []struct {
		now     time.Time
		wantKey string // "" for no message
	}{
		{sh(27, 7, 59), ""},
		{sh(27, 8, 0), "handover/morning/" + stamp(sh(27, 8, 0)) + "/eng1"},
		{sh(27, 8, 59), "handover/morning/" + stamp(sh(27, 8, 0)) + "/eng1"},
		{sh(27, 9, 0), ""},
		{sh(27, 12, 0), ""},
		{sh(28, 8, 30), ""}, // Saturday is no working day
		{sh(30, 8, 1), "handover/morning/" + stamp(sh(30, 8, 0)) + "/eng1"},
	}
	for _, tt := range tests {
		e.clock.t = tt.now
		got, err := e.svc.Morning(context.Background(), tt.now)
		if err != nil {
			t.Fatal(err)
		}
		var key string
		if len(got) > 0 {
			key = got[0].Key
		}
		if len(got) > 1 || key != tt.wantKey {
			t.Errorf("at %s: want key %q, got %+v", tt.now.Format("01-02 15:04"), tt.wantKey, got)
		}
		if tt.now.Day() == 30 && len(got) == 1 && (!strings.Contains(got[0].Text, sat.No) || !strings.Contains(got[0].Text, "1 张")) {
			t.Errorf("Monday's hand-over should list only %s:\n%s", sat.No, got[0].Text)
		}
	}
}

// leadOnly is a roster with a gap: nobody on call, lead1 as lead.
type leadOnly struct{ dir bot.Directory }

func (r leadOnly) OnCall(ctx context.Context, _ time.Time) (bot.OnCall, error) {
	lead, err := r.dir.Person(ctx, "lead1")
	return bot.OnCall{Lead: lead}, err
}

// TestMorningWithNobodyOnCallGoesToTheLead mirrors Intake: with no engineer
// on call the lead is the one told.
func TestMorningWithNobodyOnCallGoesToTheLead(t *testing.T) {
	e := nightEnv(t, "eng1", leadOnly{})
	e.clock.t = sh(27, 3, 0)
	tk := e.report(t, bot.SeverityDaily)
	got, err := e.svc.Morning(context.Background(), sh(27, 8, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !cmp.Equal(got[0].ToUsers, []string{"lead1"}) || !strings.Contains(got[0].Text, tk.No) {
		t.Errorf("want the hand-over of %s to lead1, got %+v", tk.No, got)
	}
}

func stamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
