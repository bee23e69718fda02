package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/bot/wecom/wecomtest"
	"weibao/configs"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

// TestBotEndToEnd drives the real bot through the robot's HTTP callback and
// the fake WeCom, on the test database and Redis: a nurse reports in her
// ward group, the engineer acknowledges and resolves 1:1, the nurse says it
// is not fixed, the engineer resolves again, the nurse confirms.
func TestBotEndToEnd(t *testing.T) {
	fake := wecomtest.New(t)
	driver, dsn := storagetest.DSN(t)
	env := map[string]string{
		"WEIBAO_SERVER_ADDR": "127.0.0.1:0", "WEIBAO_DATABASE_DRIVER": driver, "WEIBAO_DATABASE_DSN": dsn,
		"WEIBAO_REDIS_URL": os.Getenv(redistest.EnvRedis), "WEIBAO_WECOM_API_BASE": fake.URL,
		"WEIBAO_WECOM_CORP_ID": wecomtest.CorpID, "WEIBAO_WECOM_AGENT_ID": wecomtest.AgentID, "WEIBAO_WECOM_SECRET": wecomtest.Secret,
		"WEIBAO_WECOM_BOT_MODE": "callback", "WEIBAO_WECOM_BOT_TOKEN": wecomtest.BotToken,
		"WEIBAO_WECOM_BOT_ENCODING_AES_KEY": wecomtest.BotAESKey, "WEIBAO_WECOM_BOT_ID": wecomtest.BotID,
	}
	cfg, err := configs.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := connectWeCom(m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait(); m.Close() })

	robot := wecomtest.RobotCrypto()
	run := strings.TrimSuffix(redistest.Prefix(), ":")
	n := 0
	// say posts one robot callback and waits until weibao has sent a
	// message containing want (skipping unrelated traffic such as pages).
	say := func(from, chat, text, want string) {
		t.Helper()
		n++
		chatType, chatField := "single", ""
		if chat != "" {
			chatType, chatField = "group", fmt.Sprintf(`"chatid":%q,`, chat)
		}
		msg := fmt.Sprintf(`{"msgid":"e2e%d%s","aibotid":"%s",%s"chattype":%q,"from":{"userid":%q},"response_url":%q,"msgtype":"text","text":{"content":%q}}`,
			n, run, wecomtest.BotID, chatField, chatType, from, fake.ResponseURL(fmt.Sprintf("rc%d%s", n, run)), "@维保 "+text)
		q, body := wecomtest.RobotCallback(robot, msg)
		if code, _ := post(t, m.URL()+"/wecom/bot", q, body); code != 200 {
			t.Fatalf("POST %q = %d", text, code)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			r, ok := fake.Next(time.Until(deadline))
			if !ok {
				break
			}
			if strings.Contains(string(r.Raw), want) {
				return
			}
		}
		t.Fatalf("after %s said %q, nothing sent contained %q", from, text, want)
	}
	const group = "demo-med-icu"
	say("nurse1", group, "内科ICU护士站电脑登不上重症系统", "影响范围")
	say("nurse1", group, "2", "无法登录")
	say("nurse1", group, "1", "对临床有什么影响")
	say("nurse1", group, "2", "已登记工单")
	ts, err := m.DB.Tickets(ctx, bot.TicketFilter{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets %v %v", ts, err)
	}
	no := ts[0].No
	say("eng1", "", "接单", "已接单 "+no)
	say("eng1", "", "已解决 原因:浏览器缓存损坏 方案:清除缓存", "已解决 "+no)
	say("nurse1", group, "2", "已重新打开工单 "+no)
	say("eng1", "", "已解决 "+no+" 原因:登录组件过旧 方案:升级登录组件", "已解决 "+no)
	say("nurse1", group, "1", "感谢确认")

	tk, err := m.DB.Ticket(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Status != bot.StatusClosed || tk.ReopenCount != 1 || tk.AssigneeID != "eng1" || tk.Priority != bot.P2 ||
		tk.Cause != "登录组件过旧" || tk.Solution != "升级登录组件" || tk.WardCode != "med-icu" || tk.ChatID != group {
		t.Errorf("final ticket %+v", tk)
	}
	tl, err := m.DB.Timeline(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		Kind     bot.EventKind
		Actor    string
		From, To bot.Status
	}
	var got []step
	for _, e := range tl {
		if e.Kind == bot.EventPaged || e.Kind == bot.EventEscalated || e.Kind == bot.EventReminded {
			continue // the escalation engine's own steps, timed by the wall clock
		}
		got = append(got, step{e.Kind, e.Actor, e.From, e.To})
	}
	want := []step{
		{bot.EventReported, "nurse1", "", bot.StatusNew},
		{bot.EventAcknowledged, "eng1", bot.StatusNew, bot.StatusAcknowledged},
		{bot.EventResolved, "eng1", bot.StatusAcknowledged, bot.StatusResolved},
		{bot.EventReopened, "nurse1", bot.StatusResolved, bot.StatusInProgress},
		{bot.EventResolved, "eng1", bot.StatusInProgress, bot.StatusResolved},
		{bot.EventConfirmed, "nurse1", bot.StatusResolved, bot.StatusConfirmed},
		{bot.EventClosed, "nurse1", bot.StatusConfirmed, bot.StatusClosed},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if tl[1].Kind != bot.EventPaged || !strings.Contains(tl[1].Detail, "eng1") {
		t.Errorf("level-0 page not in the creating transaction: %+v", tl[1])
	}
}
