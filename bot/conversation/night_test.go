package conversation

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"weibao/bot"
	"weibao/bot/classify"
	"weibao/bot/escalation"
	"weibao/bot/ticketing"
	"weibao/catalog"
	"weibao/configs"
	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
	"weibao/sla/timerwheel"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

// night is what two wards write to the bot between 23:00 and 07:00, and
// what the engineer types. {last} is the newest ticket's number.
var night = []struct{ at, from, chat, text string }{
	{"23:00", "nurse1", medChat, "谢谢"},
	{"23:01", "nurse2", medChat, "收到"},
	{"23:05", "nurse1", medChat, "打印机打不出"}, // and no answer: 待分诊
	{"23:10", "nurse1", medChat, "好的"},
	{"23:20", "nurse3", edChat, "系统很卡"},
	{"23:21", "nurse3", edChat, "1"},
	{"23:21", "nurse3", edChat, "1"},
	{"23:22", "nurse3", edChat, "3"},
	{"23:25", "eng1", "", "接单 {last}"},
	{"23:30", "nurse3", edChat, "谢谢"},
	{"00:10", "nurse1", medChat, "患者监护数据不显示"}, // safety: paged at once
	{"00:11", "eng1", "", "接单 {last}"},
	{"00:12", "nurse1", medChat, "1"},
	{"00:15", "nurse1", medChat, "辛苦了"},
	{"00:30", "eng1", "", "已解决 {last} 原因:监护网关服务停止 方案:重启网关服务"},
	{"00:31", "nurse1", medChat, "1"},
	{"00:32", "nurse1", medChat, "5"},
	{"01:00", "nurse2", medChat, "2"},
	{"01:30", "nurse2", medChat, "系统登不上"},
	{"01:31", "nurse2", medChat, "1"},
	{"01:31", "nurse2", medChat, "是"},
	{"01:32", "nurse2", medChat, "4"},
	{"02:00", "nurse3", edChat, "你好"},
	{"02:01", "nurse3", edChat, "电脑黑屏了"}, // and no answer: 待分诊
	{"02:10", "nurse3", edChat, "在吗"},
	{"02:30", "nurse1", medChat, "抢救室电脑登不上"}, // safety: paged at once
	{"02:32", "eng1", "", "接单 {last}"},
	{"02:36", "eng1", "", "已解决 {last} 原因:网线松动 方案:重新插好网线"},
	{"03:00", "nurse2", medChat, "谢谢"},
	{"03:30", "nurse2", medChat, "打印机卡纸了"}, // and no answer: 待分诊
	{"04:00", "nurse1", medChat, "😊"},
	{"04:30", "nurse3", edChat, "系统好慢"},
	{"04:31", "nurse3", edChat, "2"},
	{"04:31", "nurse3", edChat, "1"},
	{"04:32", "nurse3", edChat, "2"}, // a department's clinical work: P2, 7×24
	{"04:34", "eng1", "", "接单 {last}"},
	{"04:50", "eng1", "", "已解决 {last} 原因:数据库锁等待 方案:结束长事务"},
	{"05:30", "nurse2", medChat, "收到～"},
	{"06:30", "nurse2", medChat, "监护仪没数据"}, // and no answer: 待分诊
	{"07:00", "nurse1", medChat, "谢谢老师"},
}

// TestNight runs the night through the conversation engine and the real
// escalation engine (shipped SLA, calendar and escalation policy, a
// recording phone provider) and counts the phone calls: one per safety
// report, none for anything else. With -v it prints the transcript.
func TestNight(t *testing.T) {
	if len(night) != 40 {
		t.Fatalf("the night has %d messages, want 40", len(night))
	}
	cfg, err := configs.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t)
	ctx := context.Background()
	dir := demoDirectory()
	for i := range dir.People {
		dir.People[i].Mobile = fmt.Sprintf("1380000000%d", i)
	}
	dir.Categories = nil
	for _, c := range cfg.Categories {
		dir.Categories = append(dir.Categories, bot.Category{Code: c.Code, Name: c.Name, Type: bot.FaultType(c.Type),
			Difficulty: bot.Difficulty(c.Difficulty), Keywords: c.Keywords})
	}
	if err := h.db.SyncDirectory(ctx, dir); err != nil {
		t.Fatal(err)
	}
	evening := time.Date(2026, 11, 25, 23, 0, 0, 0, storagetest.Shanghai) // a Wednesday
	h.clock.Advance(evening.Sub(h.clock.Now()))
	deadlines := escalation.SLA{Policy: cfg.SLA}
	h.svc, err = ticketing.New(ticketing.Options{Store: h.db, Directory: h.db, SLA: deadlines, Roster: fixedRoster{h.db},
		Classifier: classify.Default(), Catalog: catalog.Default(), Clock: h.clock, Location: storagetest.Shanghai,
		Hours: cfg.Calendar})
	if err != nil {
		t.Fatal(err)
	}
	h.eng, err = New(Options{Tickets: h.svc, Directory: h.db, Outbox: h.db, Sessions: h.sessions, Dialogues: h.db, Catalog: catalog.Default(),
		Clock: h.clock, Location: storagetest.Shanghai, Roster: fixedRoster{h.db}})
	if err != nil {
		t.Fatal(err)
	}
	phone, wheel, due, dueKey := nightPager(t, h)
	esc, err := escalation.New(escalation.Options{Tickets: h.db, Acknowledger: h.svc, Pages: h.db, Directory: h.db,
		Roster: fixedRoster{h.db}, Wheel: wheel, Pager: phone.reg, Texts: catalog.Default(), SLA: cfg.SLA,
		Policy: escalation.DefaultPolicy(), Clock: h.clock, Location: storagetest.Shanghai, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h.db.Subscribe(esc.Committed)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- esc.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("escalation: %v", err)
		}
	})

	// settle waits until every timer due by now has fired, pages placed.
	settle := func() {
		t.Helper()
		limit := time.Now().Add(10 * time.Second)
		for {
			zs, err := due.ZRangeWithScores(ctx, dueKey, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			now := float64(h.clock.Now().UnixMilli())
			if !slices.ContainsFunc(zs, func(z redis.Z) bool { return z.Score <= now || z.Score != math.Trunc(z.Score) }) {
				return
			}
			if time.Now().After(limit) {
				t.Fatalf("timers still due at %s: %v", h.clock.Now(), zs)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	newest := func() string {
		no := ""
		for _, tk := range h.tickets() {
			no = max(no, tk.No)
		}
		return no
	}
	var transcript strings.Builder
	// tick is a minute of the night: dialogues time out, timers fire.
	tick := func() {
		t.Helper()
		h.eng.Tick(ctx, nil)
		settle()
		if got := h.drain(); len(got) > 0 {
			fmt.Fprintf(&transcript, "%s (no answer / timers)\n%s", h.clock.Now().In(storagetest.Shanghai).Format("15:04"), indent(render(got)))
		}
	}
	for _, m := range night {
		at, _ := time.ParseInLocation("15:04", m.at, storagetest.Shanghai)
		when := time.Date(2026, 11, 26, at.Hour(), at.Minute(), 0, 0, storagetest.Shanghai)
		if at.Hour() >= 12 {
			when = when.AddDate(0, 0, -1)
		}
		for h.clock.Now().Before(when) {
			h.clock.Advance(min(time.Minute, when.Sub(h.clock.Now())))
			tick()
		}
		text := strings.ReplaceAll(m.text, "{last}", newest())
		got := h.say(m.from, m.chat, text)
		settle()
		fmt.Fprintf(&transcript, "%s %s: %s\n%s", m.at, m.from, text, indent(render(got)))
	}
	for range 30 { // to 07:30: the last dialogue times out, the night ends
		h.clock.Advance(time.Minute)
		tick()
	}
	t.Log("the night:\n" + transcript.String())

	var safety, triage []string
	for _, tk := range h.tickets() {
		switch {
		case tk.Severity == bot.SeverityPatientSafety:
			safety = append(safety, tk.No)
		case tk.Triage:
			triage = append(triage, tk.No)
			if tk.Priority == bot.P1 || tk.Priority == bot.P2 {
				t.Errorf("待分诊 %s is %s", tk.No, tk.Priority)
			}
		}
		if n := h.count(tk.No, bot.EventEscalated); n > 0 && tk.Severity != bot.SeverityPatientSafety {
			t.Errorf("%s (%s) escalated %d times", tk.No, tk.Priority, n)
		}
	}
	if len(safety) != 2 || len(triage) != 4 || len(h.tickets()) != 9 {
		t.Errorf("%d tickets: safety %v, 待分诊 %v", len(h.tickets()), safety, triage)
	}
	calls := map[string]int{}
	for _, c := range phone.rec.Calls() {
		if c.Channel == pager.Voice {
			calls[c.Page.TicketNumber]++
		}
	}
	want := map[string]int{}
	for _, no := range safety {
		want[no] = 1
	}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("phone calls per ticket %v, want one per safety report %v", calls, want)
	}
	if !strings.Contains(transcript.String(), "待分诊") {
		t.Error("no nurse was told her ticket is 待分诊")
	}
}

type nightPhone struct {
	rec *pagertest.Notifier
	reg *pager.Registry
}

// nightPager is a recording phone provider behind the pager's registry and
// call guard, and a timer wheel on its own Redis, with the wheel's due set
// (client and key).
func nightPager(t *testing.T, h *harness) (nightPhone, *timerwheel.Wheel, redis.UniversalClient, string) {
	t.Helper()
	st, _ := redistest.Open(t)
	prefix := redistest.Prefix()
	rec := &pagertest.Notifier{Name: "aliyun"}
	once := &escalation.Once{Clock: h.clock, DB: h.db.ClaimKey, Fast: st.Values(prefix).Claim}
	reg, err := pager.NewRegistry(pager.Config{Routes: []pager.Route{{Provider: "aliyun", Channel: pager.Voice}, {Provider: "aliyun", Channel: pager.SMS}}},
		pager.Options{Once: once, Now: h.clock.Now}, rec)
	if err != nil {
		t.Fatal(err)
	}
	wheel, err := timerwheel.New(st.Client(), timerwheel.Options{Prefix: prefix + "{sla}:", Now: h.clock.Now, MaxPoll: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return nightPhone{rec: rec, reg: reg}, wheel, st.Client(), prefix + "{sla}:due"
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ") + "\n"
}
