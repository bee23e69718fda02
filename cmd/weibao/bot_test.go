package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/configs"
	"weibao/storage"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom/wecomtest"
)

// TestBotEndToEnd drives the real bot through the robot's HTTP callback and
// the fake WeCom, on the test database and Redis: a nurse reports in her
// ward group, the engineer acknowledges and resolves 1:1, the nurse says it
// is not fixed, the engineer resolves again, the nurse confirms. In robot
// callback mode what weibao says first in the group (the @ to the engineer,
// the resolution notice with the confirmation question) goes through the
// ward's robot webhook, whose key comes from the environment.
// The whole service on a 3-node Redis Cluster (issue 18): a report is
// deduped, ticketed and paged, and its acknowledgement timer is armed.
func TestBotEndToEndOnRedisCluster(t *testing.T) {
	_, url := redistest.Cluster(t)
	r := startRobotEnv(t, bot.SystemClock{}, map[string]string{"WEIBAO_REDIS_URL": url})
	const group = "demo-med-icu"
	r.say("nurse1", group, "内科ICU护士站电脑登不上重症系统", reply("无法登录"))
	r.say("nurse1", group, "1", reply("影响范围"))
	r.say("nurse1", group, "2", reply("对临床有什么影响"))
	r.say("nurse1", group, "2", reply("已登记工单"), inGroup("请处理", "eng1"))
	r.say("eng1", "", "接单", reply("已接单 "))
	// The resolve deadline's timer waits in the cluster.
	if n, err := r.m.Redis.Client().ZCard(context.Background(), r.m.Config.Redis.Prefix+"{sla}:due").Result(); err != nil || n == 0 {
		t.Errorf("timers pending in the cluster = %d, %v; want the ticket's", n, err)
	}
}

func TestBotEndToEnd(t *testing.T) {
	r := startRobot(t, bot.SystemClock{})
	m, fake, say := r.m, r.fake, r.say
	ctx := context.Background()
	const group = "demo-med-icu"
	say("nurse1", group, "内科ICU护士站电脑登不上重症系统", reply("无法登录"))
	say("nurse1", group, "1", reply("影响范围"))
	say("nurse1", group, "2", reply("对临床有什么影响"))
	say("nurse1", group, "2", reply("已登记工单"), inGroup("请处理", "eng1"))
	ts, err := m.DB.Tickets(ctx, bot.TicketFilter{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("tickets %v %v", ts, err)
	}
	no := ts[0].No
	// Typed, not clicked: the paging card is redrawn anyway, with the
	// response code message/send returned for it.
	say("eng1", "", "接单", reply("已接单 "+no), inGroup("已接单（"+no+"）", "nurse1"),
		cardRedrawn(fake, "weibao-"+no+"-1-page-eng1", "已由 张工 接单"))
	say("eng1", "", "已解决 原因:浏览器缓存损坏 方案:清除缓存", reply("已解决 "+no),
		inGroup("原因：浏览器缓存损坏\n处理：清除缓存\n问题解决了吗？回复数字：\n1 已解决\n2 仍有问题", "nurse1"))
	say("nurse1", group, "2", reply("已重新打开工单 "+no), inGroup(no+" 报修人反馈仍有问题", "eng1"))
	// The first card's code was spent on 接单; the card of the second page
	// is redrawn.
	say("eng1", "", "已解决 "+no+" 原因:登录组件过旧 方案:升级登录组件", reply("已解决 "+no),
		inGroup("原因：登录组件过旧\n处理：升级登录组件\n问题解决了吗？", "nurse1"),
		cardRedrawn(fake, "weibao-"+no+"-*-repage-eng1", "已由 张工 处理完毕"))
	say("nurse1", group, "1", reply("感谢确认"))

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
	wantSteps := []step{
		{bot.EventReported, "nurse1", "", bot.StatusNew},
		{bot.EventAcknowledged, "eng1", bot.StatusNew, bot.StatusAcknowledged},
		{bot.EventResolved, "eng1", bot.StatusAcknowledged, bot.StatusResolved},
		{bot.EventReopened, "nurse1", bot.StatusResolved, bot.StatusInProgress},
		{bot.EventResolved, "eng1", bot.StatusInProgress, bot.StatusResolved},
		{bot.EventConfirmed, "nurse1", bot.StatusResolved, bot.StatusConfirmed},
		{bot.EventClosed, "nurse1", bot.StatusConfirmed, bot.StatusClosed},
	}
	if diff := cmp.Diff(wantSteps, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if tl[1].Kind != bot.EventPaged || !strings.Contains(tl[1].Detail, "企业微信 → 张工") {
		t.Errorf("level-0 page not in the creating transaction: %+v", tl[1])
	}
	// Every group notice of the ticket was delivered.
	entries, err := m.DB.OutboxEntries(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Status == "failed" {
			t.Errorf("outbox %s failed: %s", e.Key, e.LastError)
		}
	}

	// A ward group with no webhook key: the @ to the engineer after a
	// fast-path report has no route and fails loudly, never silently.
	say("nurse2", "demo-ed-icu", "急诊ICU监护仪数据不显示，影响抢救", reply("已登记工单"))
	say("nurse2", "demo-ed-icu", "取消", reply("已停止提问"))
	ts, err = m.DB.Tickets(ctx, bot.TicketFilter{WardCode: "ed-icu"})
	if err != nil || len(ts) != 1 {
		t.Fatalf("ed-icu tickets %v %v", ts, err)
	}
	var failed []storage.OutboxEntry
	deadline := time.Now().Add(10 * time.Second)
	for len(failed) == 0 && time.Now().Before(deadline) {
		entries, err := m.DB.OutboxEntries(ctx, ts[0].No)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Status == "failed" {
				failed = append(failed, e)
			}
		}
		time.Sleep(20 * time.Millisecond) // the outbox worker runs on the wall clock
	}
	if len(failed) != 1 || !strings.Contains(failed[0].Key, "/page_group/") ||
		!strings.Contains(failed[0].LastError, "no robot webhook key for group chat demo-ed-icu") {
		t.Errorf("failed outbox rows %+v, want the group page with a clear reason", failed)
	}
}

// robot is weibao in robot callback mode on the test database and Redis and
// the fake WeCom, running on clock. 内科ICU's group has its robot webhook;
// 急诊ICU's has none.
type robot struct {
	t    *testing.T
	m    *Main
	fake *wecomtest.Server
	run  string
	n    int
}

func startRobot(t *testing.T, clock bot.Clock) *robot { return startRobotEnv(t, clock, nil) }

// startRobotEnv is startRobot with more configuration (env keys).
func startRobotEnv(t *testing.T, clock bot.Clock, extra map[string]string) *robot {
	t.Helper()
	fake := wecomtest.New(t)
	env := map[string]string{
		"WEIBAO_WECOM_BOT_MODE": "callback", "WEIBAO_WECOM_BOT_TOKEN": wecomtest.BotToken,
		"WEIBAO_WECOM_BOT_ENCODING_AES_KEY": wecomtest.BotAESKey, "WEIBAO_WECOM_BOT_ID": wecomtest.BotID,
		"WEIBAO_WARD_MED_ICU_WEBHOOK_KEY": wecomtest.WebhookKey,
	}
	maps.Copy(env, extra)
	cfg, err := configs.Load("", wecomEnv(t, fake, env))
	if err != nil {
		t.Fatal(err)
	}
	return &robot{t: t, m: runServe(t, cfg, clock), fake: fake, run: strings.TrimSuffix(redistest.Prefix(), ":")}
}

// runServe is `weibao serve` on cfg and clock until the test ends.
func runServe(t *testing.T, cfg *configs.Config, clock bot.Clock) *Main {
	t.Helper()
	m, err := openWith(context.Background(), cfg, slog.New(slog.DiscardHandler), clock)
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
	return m
}

// post sends one robot callback ("" chat: 1:1) as WeCom does.
func (r *robot) post(from, chat, text string) {
	r.t.Helper()
	r.n++
	chatType, chatField := "single", ""
	if chat != "" {
		chatType, chatField = "group", fmt.Sprintf(`"chatid":%q,`, chat)
	}
	msg := fmt.Sprintf(`{"msgid":"e2e%d%s","aibotid":"%s",%s"chattype":%q,"from":{"userid":%q},"response_url":%q,"msgtype":"text","text":{"content":%q}}`,
		r.n, r.run, wecomtest.BotID, chatField, chatType, from, r.fake.ResponseURL(fmt.Sprintf("rc%d%s", r.n, r.run)), "@维保 "+text)
	q, body := wecomtest.RobotCallback(wecomtest.RobotCrypto(), r.m.Clock.Now(), msg)
	if code, _ := post(r.t, r.m.URL()+"/wecom/bot", q, body); code != 200 {
		r.t.Fatalf("POST %q = %d", text, code)
	}
}

// say posts one robot callback and waits until weibao has sent, for each
// of wants, a matching message (skipping unrelated traffic such as pages);
// in any order, since destinations are served in parallel.
func (r *robot) say(from, chat, text string, wants ...want) {
	r.t.Helper()
	r.post(from, chat, text)
	awaitCalls(r.t, r.fake, from+" said "+text, wants...)
}

// cardRedrawn matches an update_template_card of a card whose task id
// matches the pattern (path.Match) for eng1, using the response code the
// fake gave that card, that replaces its buttons with text.
func cardRedrawn(fake *wecomtest.Server, taskID, text string) want {
	return want{"a redraw of card " + taskID + " to " + text, func(r wecomtest.Request) bool {
		code, _ := r.Body["response_code"].(string)
		button, _ := r.Body["button"].(map[string]any)
		task, _ := fake.CardTask(code)
		users, _ := r.Body["userids"].([]any)
		matched, _ := path.Match(taskID, task)
		return r.API == "message/update_template_card" && matched && button["replace_name"] == text &&
			slices.Equal(users, []any{"eng1"})
	}}
}

// want matches one call weibao made to the fake WeCom.
type want struct {
	desc  string
	match func(r wecomtest.Request) bool
}

// reply matches any message containing s (a reply through response_url or
// the app).
func reply(s string) want {
	return want{"a reply containing " + s, func(r wecomtest.Request) bool { return strings.Contains(string(r.Raw), s) }}
}

// inGroup matches a message pushed through the ward group's robot webhook
// that contains s and @-mentions user.
func inGroup(s, user string) want {
	return want{"a group webhook message containing " + s + " for @" + user, func(r wecomtest.Request) bool {
		if r.API != "webhook/send" {
			return false
		}
		text, _ := r.Body["text"].(map[string]any)
		content, _ := text["content"].(string)
		mentioned, _ := text["mentioned_list"].([]any)
		return strings.Contains(content, s) && slices.Contains(mentioned, any(user))
	}}
}

// awaitCalls waits until every want has matched a call, in any order.
func awaitCalls(t *testing.T, fake *wecomtest.Server, after string, wants ...want) {
	t.Helper()
	left := slices.Clone(wants)
	// A liveness bound, not a speed target (those are in BENCHMARKS.md): a P1
	// queues a dozen urgent messages ahead of a reply, and CI runs this
	// package three times over under -race on two cores.
	deadline := time.Now().Add(30 * time.Second)
	for len(left) > 0 && time.Now().Before(deadline) {
		r, ok := fake.Next(time.Until(deadline))
		if !ok {
			break
		}
		left = slices.DeleteFunc(left, func(w want) bool { return w.match(r) })
	}
	for _, w := range left {
		t.Errorf("after %s, nothing sent was %s", after, w.desc)
	}
	if len(left) > 0 {
		t.FailNow()
	}
}
