package escalation_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"weibao/bot"
	"weibao/bot/classify"
	"weibao/bot/escalation"
	"weibao/bot/roster"
	"weibao/bot/ticketing"
	"weibao/catalog"
	"weibao/handlers"
	"weibao/sla"
	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
	"weibao/sla/timerwheel"
	"weibao/storage"
	"weibao/storage/redisstore"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// harness is weibao's escalation on real storage and Redis (MariaDB and
// Redis in CI), with a recording phone provider named "aliyun" and the real
// HTTP receipt endpoint.
type harness struct {
	t      *testing.T
	db     *storage.DB
	redis  *redisstore.Store
	clock  *fakeClock
	phone  *pagertest.Notifier
	engine *escalation.Engine
	wheel  *timerwheel.Wheel
	http   *httptest.Server
}

var start = time.Date(2026, 11, 26, 3, 0, 0, 0, storagetest.Shanghai) // 3 a.m.

// shortSLA shortens the tender's clocks for the test: respond in 2 min,
// resolve in 10, on site in 20.
func shortSLA() sla.Policy {
	p := sla.DefaultPolicy()
	p.Classes[sla.Other] = sla.Targets{Ack: 2 * time.Minute, Resolve: 10 * time.Minute}
	p.OnSite = 20 * time.Minute
	return p
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	h := &harness{t: t, db: storagetest.Open(t), clock: &fakeClock{t: start}}
	h.redis, _ = redistest.Open(t)
	err := h.db.SyncDirectory(ctx, storage.DirectoryData{
		Campuses: []bot.Campus{{Code: "dongjie", Name: "东街院区"}},
		Wards:    []bot.Ward{{Code: "med-icu", Name: "内科ICU", CampusCode: "dongjie", ChatID: "wr-med"}},
		People: []bot.Person{
			{UserID: "zhangsan", Name: "张三", Role: bot.RoleEngineer, Mobile: "13800000001"},
			{UserID: "wangwu", Name: "王五", Role: bot.RoleEngineer, Mobile: "13800000002"},
			{UserID: "lisi", Name: "李四", Role: bot.RoleLead, Mobile: "13800000003"},
			{UserID: "wangfang", Name: "王芳", Role: bot.RoleNurse, WardCode: "med-icu"},
		},
		Categories: []bot.Category{{Code: "his_down", Name: "系统无法使用", Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ros := roster.New(h.db, h.db, storagetest.Shanghai)
	if _, err := ros.Seed(ctx, roster.Doc{Lead: "lisi", Start: "2026-11-23 09:00", Shift: roster.Duration(168 * time.Hour),
		Primary: []string{"zhangsan", "wangwu"}}); err != nil {
		t.Fatal(err)
	}
	prefix := redistest.Prefix()
	once := &escalation.Once{Clock: h.clock, DB: h.db.ClaimKey,
		Fast: h.redis.Values(prefix).Claim}
	h.phone = &pagertest.Notifier{Name: "aliyun"}
	h.phone.SendFunc = func(_ context.Context, ch pager.Channel, p pager.Page) (pager.Sent, error) {
		return pager.Sent{MessageID: fmt.Sprintf("1160%s^%s", p.ID, ch)}, nil
	}
	reg, err := pager.NewRegistry(pager.Config{Routes: []pager.Route{{Provider: "aliyun", Channel: pager.Voice}, {Provider: "aliyun", Channel: pager.SMS}}},
		pager.Options{Once: once, Now: h.clock.Now}, h.phone)
	if err != nil {
		t.Fatal(err)
	}
	h.wheel, err = timerwheel.New(h.redis.Client(), timerwheel.Options{Prefix: prefix + "{sla}:", Now: h.clock.Now, MaxPoll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// A key press acknowledges through the ticketing use case, as in main.
	ack, err := ticketing.New(ticketing.Options{Store: h.db, Directory: h.db, SLA: escalation.SLA{Policy: shortSLA()}, Roster: ros,
		Classifier: classify.Default(), Catalog: catalog.Default(), Clock: h.clock, Location: storagetest.Shanghai})
	if err != nil {
		t.Fatal(err)
	}
	h.engine, err = escalation.New(escalation.Options{Tickets: h.db, Acknowledger: ack, Pages: h.db, Directory: h.db, Roster: ros, Wheel: h.wheel,
		Pager: reg, Texts: catalog.Default(), SLA: shortSLA(), Policy: escalation.DefaultPolicy(), Clock: h.clock,
		Location: storagetest.Shanghai, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h.db.Subscribe(h.engine.Committed)
	srv := handlers.New(handlers.Options{Logger: slog.New(slog.DiscardHandler), Registry: prometheus.NewRegistry()})
	srv.RegisterNotify(handlers.NotifyOptions{Sink: h.engine, Aliyun: true})
	h.http = httptest.NewServer(srv.Handler())
	t.Cleanup(h.http.Close)

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.engine.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})
	return h
}

// report creates a P1 ticket as the dialogue does: the ticket, its clocks
// and the level-0 WeCom card to the on-call engineer in one transaction;
// the engine hears of it from the store's feed. (bot/ticketing had not landed
// when this was written; it does exactly this through the same store.)
func (h *harness) report() *bot.Ticket {
	h.t.Helper()
	ctx := context.Background()
	tk, ev, err := bot.NewTicket(bot.Ticket{ReporterID: "wangfang", WardCode: "med-icu", ChatID: "wr-med", Category: "his_down",
		Description: "重症系统全科无法登录",
		Classification: bot.Classification{Scope: bot.ScopeHospital, Type: bot.TypeSoftware, Severity: bot.SeverityPatientSafety,
			Difficulty: bot.DifficultyOther, Priority: bot.P1, SLAClass: "other", Urgent: true}}, "wangfang", h.clock.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	tk.Due = escalation.SLA{Policy: shortSLA()}.Deadlines(tk, []bot.Event{ev})
	card := bot.Outgoing{Key: "level0", ToUsers: []string{"zhangsan"}, Card: &bot.Card{TaskID: "l0", Title: "P1",
		Buttons: []bot.Button{{Key: "ack:x", Text: "接单"}}}}
	if err := h.db.CreateTicket(ctx, tk, bot.Effects{Events: []bot.Event{ev}, Messages: []bot.Outgoing{card}}); err != nil {
		h.t.Fatal(err)
	}
	return tk
}

// waitFor polls cond: the engine works on its own goroutines.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) timeline(no string) []bot.Event {
	h.t.Helper()
	evs, err := h.db.Timeline(context.Background(), no)
	if err != nil {
		h.t.Fatal(err)
	}
	return evs
}

func (h *harness) ticket(no string) *bot.Ticket {
	h.t.Helper()
	tk, err := h.db.Ticket(context.Background(), no)
	if err != nil {
		h.t.Fatal(err)
	}
	return tk
}

func (h *harness) calls(mobile string, ch pager.Channel) int {
	n := 0
	for _, c := range h.phone.Calls() {
		if c.Page.Mobile == mobile && c.Channel == ch {
			n++
		}
	}
	return n
}

func count(evs []bot.Event, kind bot.EventKind, detail string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind && strings.Contains(e.Detail, detail) {
			n++
		}
	}
	return n
}

func (h *harness) postReceipt(body string) {
	h.t.Helper()
	resp, err := http.Post(h.http.URL+"/notify/aliyun/receipt", "application/json", strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(b) != `{"code":0,"msg":"OK"}` {
		h.t.Fatalf("receipt push answered %d %s", resp.StatusCode, b)
	}
}

// TestP1Scenario is issue 5's done-when scenario: a P1 fault at 3 a.m.; the
// on-call engineer gets the WeCom card and, P1 being urgent, at once a phone
// call and an SMS; pressing 1 in the call acknowledges through the real
// receipt endpoint; the on-site clock runs from the acknowledgement; the
// resolve and on-site breaches escalate to the lead by phone; everything is
// on the timeline, and nothing rings twice.
func TestP1Scenario(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	const engineer, backup, lead = "13800000001", "13800000002", "13800000003"

	tk := h.report()
	h.waitFor("phone call and SMS to the engineer", func() bool {
		return count(h.timeline(tk.No), bot.EventPaged, "短信 → 张三") == 1
	})
	if got := h.ticket(tk.No).EscalationLevel; got != 1 {
		t.Errorf("escalation level = %d, want 1", got)
	}
	attempts, err := h.db.PageAttempts(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(attempts, func(a bot.PageAttempt) bool { return a.Channel == "voice" })
	if i < 0 || attempts[i].Outcome != "sent" {
		t.Fatalf("no sent voice attempt in %+v", attempts)
	}
	call := attempts[i]

	// The engineer answers and presses 1; the provider pushes twice.
	receipt := fmt.Sprintf(`[{"call_id":%q,"status_code":"300000","out_id":%q,"dtmf":"1","status_time":"2026-11-26 03:00:40"}]`,
		call.MessageID, escalation.PageID(call.PageID))
	h.clock.Set(start.Add(40 * time.Second))
	h.postReceipt(receipt)
	h.postReceipt(receipt)
	h.waitFor("acknowledgement by key press", func() bool { return h.ticket(tk.No).Status == bot.StatusAcknowledged })
	acked := h.ticket(tk.No)
	if acked.AssigneeID != "zhangsan" || !acked.AcknowledgedAt.Equal(start.Add(40*time.Second)) {
		t.Errorf("acknowledged by %q at %v", acked.AssigneeID, acked.AcknowledgedAt)
	}
	if want := acked.AcknowledgedAt.Add(20 * time.Minute); !acked.Due.OnSite.Equal(want) {
		t.Errorf("on-site deadline %v, want %v (P1: from acknowledgement)", acked.Due.OnSite, want)
	}
	// The key press is 接单 (ticketing.Acknowledge): the ward group hears who
	// took it and the paging cards are redrawn.
	entries, err := h.db.OutboxEntries(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"/ack/", "level0/redraw/"} {
		if !slices.ContainsFunc(entries, func(e storage.OutboxEntry) bool { return strings.Contains(e.Key, part) }) {
			t.Errorf("the key press queued no %q message: %+v", part, entries)
		}
	}

	// Resolve reminder at 50 %, then both resolve and on-site clocks run out.
	h.clock.Set(start.Add(5*time.Minute + time.Second))
	h.waitFor("resolve reminder", func() bool { return count(h.timeline(tk.No), bot.EventReminded, "") == 1 })
	h.clock.Set(start.Add(21 * time.Minute))
	h.waitFor("lead paged", func() bool { return count(h.timeline(tk.No), bot.EventPaged, "短信 → 李四") == 1 })
	h.waitFor("on-site breach", func() bool { return h.ticket(tk.No).Late.OnSite > 0 })
	h.waitFor("resolve breach", func() bool { return h.ticket(tk.No).Late.Resolve > 0 })

	// A restart: reconciling from the database re-arms nothing that pages again.
	if err := h.engine.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}

	h.clock.Set(start.Add(22 * time.Minute))
	time.Sleep(50 * time.Millisecond) // let any wrongly re-armed timer fire

	final := h.ticket(tk.No)
	if final.EscalationLevel != 3 || final.Late.Resolve <= 0 || final.Late.OnSite <= 0 {
		t.Errorf("final level %d, late %+v", final.EscalationLevel, final.Late)
	}
	for _, c := range []struct {
		mobile string
		ch     pager.Channel
		want   int
	}{{engineer, pager.Voice, 1}, {engineer, pager.SMS, 1}, {backup, pager.Voice, 0}, {lead, pager.Voice, 1}, {lead, pager.SMS, 1}} {
		if got := h.calls(c.mobile, c.ch); got != c.want {
			t.Errorf("%s %s: %d pages, want %d", pager.MaskNumber(c.mobile), c.ch, got, c.want)
		}
	}
	evs := h.timeline(tk.No)
	for _, c := range []struct {
		kind   bot.EventKind
		detail string
		want   int
	}{
		{bot.EventReported, "", 1},
		{bot.EventEscalated, "升级至第 1 级", 1},
		{bot.EventPaged, "企业微信 → 张三", 1},
		{bot.EventPaged, "电话 → 张三：已发出", 1},
		{bot.EventPaged, "按 1 确认接单", 1},
		{bot.EventAcknowledged, "", 1},
		{bot.EventReminded, "解决时限已过 50%", 1},
		{bot.EventBreached, "解决已超时 11分钟", 1},
		{bot.EventBreached, "到场已超时", 1},
		{bot.EventEscalated, "升级至第 3 级", 1},
		{bot.EventPaged, "电话 → 李四：已发出", 1},
		{bot.EventEscalated, "升级至第 2 级", 0},
	} {
		if got := count(evs, c.kind, c.detail); got != c.want {
			t.Errorf("timeline has %d %s events with %q, want %d", got, c.kind, c.detail, c.want)
		}
	}
	for _, e := range evs { // the timeline reaches the lead's reports as it is
		if (e.Kind == bot.EventEscalated || e.Kind == bot.EventBreached) && (strings.HasPrefix(e.Detail, "L") || strings.Contains(e.Detail, " +")) {
			t.Errorf("%s detail %q is not for people", e.Kind, e.Detail)
		}
	}
	if t.Failed() {
		for _, e := range evs {
			t.Logf("%s %-12s %-8s %s", e.At.In(storagetest.Shanghai).Format("15:04:05"), e.Kind, e.Actor, e.Detail)
		}
	}
}
