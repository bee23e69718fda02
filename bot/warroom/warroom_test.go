package warroom_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/warroom"
	"weibao/catalog"
	"weibao/storage"
	"weibao/storage/storagetest"
)

type noDeadlines struct{}

func (noDeadlines) Deadlines(*bot.Ticket, []bot.Event) bot.Deadlines { return bot.Deadlines{} }

// TestHospitalWide: a hospital-wide P2 opens a war room once however often
// its ticket changes; its fallback plan goes to every other ward's group
// and is recorded with all the wards' names; a ward fault below P1 opens none.
func TestHospitalWide(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	if err := db.SyncDirectory(ctx, storage.DirectoryData{
		Wards: []bot.Ward{{Code: "ed-icu", Name: "急诊ICU", ChatID: "g-ed"}, {Code: "med-icu", Name: "内科ICU", ChatID: "g-med"},
			{Code: "js-icu", Name: "综合ICU", ChatID: "g-js"}, {Code: "office", Name: "办公室"}},
		People: []bot.Person{{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, Active: true, WardCode: "med-icu"},
			{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer, Active: true}, {UserID: "lead1", Name: "赵经理", Role: bot.RoleLead, Active: true}},
	}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	svc, err := warroom.New(warroom.Options{Tickets: db, Outbox: db, SLA: noDeadlines{}, Directory: db, Texts: catalog.Default(),
		Clock: bot.SystemClock{}, Team: []string{"eng1"}, Lead: "lead1"})
	if err != nil {
		t.Fatal(err)
	}
	db.Subscribe(svc.Committed)
	report := func(scope bot.Scope, p bot.Priority) *bot.Ticket {
		t.Helper()
		tk, ev, err := bot.NewTicket(bot.Ticket{ReporterID: "nurse1", WardCode: "med-icu", ChatID: "g-med", Category: "cis", Description: "重症系统全院打不开",
			Classification: bot.Classification{Scope: scope, Type: bot.TypeSoftware, Severity: bot.SeverityClinical,
				Difficulty: bot.DifficultyOther, Priority: p, SLAClass: "urgent"}}, "nurse1", t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateTicket(ctx, tk, bot.Effects{Events: []bot.Event{ev}}); err != nil {
			t.Fatal(err)
		}
		return tk
	}
	step := func(no string, c bot.Change) {
		t.Helper()
		c.At = t0.Add(time.Minute)
		if _, err := db.UpdateTicket(ctx, no, func(tk *bot.Ticket, tl []bot.Event) (bot.Effects, error) {
			evs, err := tk.Step(noDeadlines{}, tl, c)
			return bot.Effects{Events: evs}, err
		}); err != nil {
			t.Fatal(err)
		}
	}
	tk := report(bot.ScopeHospital, bot.P2)
	step(tk.No, bot.Change{Kind: bot.EventAcknowledged, Actor: "eng1"})
	step(tk.No, bot.Change{Kind: bot.EventWorkaround, Actor: "eng1", Text: "请改用纸质护理记录"})
	tl, err := db.Timeline(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tl {
		switch e.Kind {
		case bot.EventWarRoom, bot.EventJoined, bot.EventFallbackSent:
			got = append(got, string(e.Kind)+":"+e.Detail)
		}
	}
	want := []string{"war_room:赵经理、张工", "joined:eng1", "fallback_sent:急诊ICU、综合ICU、内科ICU"}
	if !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
	out, err := db.OutboxEntries(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	var fallback []string
	for _, o := range out {
		if strings.Contains(o.Key, "/fallback/") {
			fallback = append(fallback, o.Key[strings.LastIndex(o.Key, "/")+1:])
		}
	}
	// The reporters' own group had it from 备用方案; the office has no group.
	if !slices.Equal(fallback, []string{"ed-icu", "js-icu"}) {
		t.Errorf("fallback plan sent to %v, want ed-icu and js-icu", fallback)
	}

	quiet := report(bot.ScopeDepartment, bot.P2)
	step(quiet.No, bot.Change{Kind: bot.EventAcknowledged, Actor: "eng1"})
	if tl, _ := db.Timeline(ctx, quiet.No); slices.ContainsFunc(tl, func(e bot.Event) bool { return e.Kind == bot.EventWarRoom }) {
		t.Error("a ward-level P2 opened a war room")
	}
}
