package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/escalation"
	"weibao/configs"
	"weibao/sla/pager/aliyun/aliyuntest"
	"weibao/storage"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// TestOutboundOnly runs weibao as a hospital network allows it, with no
// inbound request but health checks: a nurse reports a safety fault over the
// robot's long connection, the on-call engineer is called through a fake
// Alibaba Cloud, presses 1, and the call's report, pulled from the fake
// receipt queue, acknowledges the ticket as 接单 does.
func TestOutboundOnly(t *testing.T) {
	fake := wecomtest.New(t)
	ali := aliyuntest.New(t, "LTAI-test", "ali-secret")
	const voiceQ = "Alicom-Queue-1-VoiceReport"
	cfg, err := configs.Load("", wecomEnv(t, fake, map[string]string{
		"WEIBAO_WECOM_BOT_MODE": "websocket", "WEIBAO_WECOM_BOT_ID": wecomtest.BotID, "WEIBAO_WECOM_BOT_SECRET": wecomtest.BotSecret,
		"WEIBAO_WECOM_BOT_WS_URL":               fake.WSURL(),
		"WEIBAO_PAGER_ALIYUN_ACCESS_KEY_ID":     "LTAI-test",
		"WEIBAO_PAGER_ALIYUN_ACCESS_KEY_SECRET": "ali-secret",
		"WEIBAO_PAGER_ALIYUN_VOICE_ENDPOINT":    ali.URL, "WEIBAO_PAGER_ALIYUN_SMS_ENDPOINT": ali.URL,
		"WEIBAO_PAGER_ALIYUN_IVR_SHOW_NUMBER": "057112345678", "WEIBAO_PAGER_ALIYUN_IVR_START_CODE": "TTS_1",
		"WEIBAO_PAGER_ALIYUN_IVR_ACK_CODE":        "TTS_2",
		"WEIBAO_PAGER_ALIYUN_QUEUES_VOICE_REPORT": voiceQ, "WEIBAO_PAGER_ALIYUN_QUEUES_ENDPOINT": ali.URL,
		"WEIBAO_PAGER_ALIYUN_QUEUES_TOKEN_ENDPOINT": ali.URL, "WEIBAO_PAGER_ALIYUN_QUEUES_WAIT": "1s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	m := runServe(t, cfg, bot.SystemClock{})
	ctx := context.Background()
	if !fake.WaitSubscribed(1, 5*time.Second) {
		t.Fatal("weibao did not subscribe to the robot's long connection")
	}

	run := strings.TrimSuffix(redistest.Prefix(), ":")
	report := map[string]any{"msgid": "out1" + run, "chatid": "demo-med-icu", "chattype": "group",
		"from": map[string]string{"userid": "nurse1"}, "msgtype": "text",
		"text": map[string]string{"content": "@维保 3床患者监护仪数据不显示，正在抢救"}}
	if err := fake.Push(wecom.CmdMsgCallback, "req-out1"+run, report); err != nil {
		t.Fatal(err)
	}
	var tk *bot.Ticket
	waitFor(t, "the safety report's ticket", func() bool {
		ts, err := m.DB.Tickets(ctx, bot.TicketFilter{})
		if err == nil && len(ts) == 1 {
			tk = ts[0]
		}
		return tk != nil
	})
	var call bot.PageAttempt
	waitFor(t, "a call to the engineer", func() bool {
		as, err := m.DB.PageAttempts(ctx, tk.No)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(as, func(a bot.PageAttempt) bool { return a.Channel == "voice" && a.MessageID != "" })
		if i >= 0 {
			call = as[i]
		}
		return i >= 0
	})
	if got := ali.Calls(); !slices.ContainsFunc(got, func(v url.Values) bool { return v.Get("Action") == "IvrCall" }) {
		t.Fatalf("no IvrCall reached the provider: %v", got)
	}

	ali.Put(voiceQ, fmt.Sprintf(`{"call_id":%q,"status_code":"200000","out_id":%q,"dtmf":"1","end_time":"2026-12-04 03:00:40"}`,
		call.MessageID, escalation.PageID(call.PageID)))
	waitFor(t, "the pulled key press to acknowledge", func() bool {
		cur, err := m.DB.Ticket(ctx, tk.No)
		return err == nil && cur.Status == bot.StatusAcknowledged
	})
	cur, _ := m.DB.Ticket(ctx, tk.No)
	if cur.AssigneeID != "eng1" {
		t.Errorf("acknowledged by %q, want the engineer called (eng1)", cur.AssigneeID)
	}
	entries, err := m.DB.OutboxEntries(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(e storage.OutboxEntry) bool { return strings.Contains(e.Key, "/ack/") }) {
		t.Errorf("the key press queued no acknowledgement notice: %+v", entries)
	}
	waitFor(t, "the receipt deleted from the queue", func() bool { return ali.Len(voiceQ) == 0 })
}
