package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/configs"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// fakeBot stands in for the conversation engine: it records what arrives
// and answers a message with a reply and a card click with a card update.
type fakeBot struct {
	m    *Main
	n    atomic.Int64 // messages handled; only counted, so a load run does not grow the heap
	seen chan bot.Message
}

func (b *fakeBot) handle(ctx context.Context, msg bot.Message) error {
	b.n.Add(1)
	if b.seen == nil {
		return nil // the load test's bot only counts
	}
	b.seen <- msg
	out := bot.Outgoing{Key: "reply:" + msg.ID, ReplyTo: msg.ID, Route: msg.Route, Format: bot.FormatText, Text: "已收到，工单 F1"}
	if msg.ChatID != "" {
		out.ToChat = msg.ChatID
	} else {
		out.ToUsers = []string{msg.From}
	}
	if msg.Button != nil {
		out.Text = ""
		out.CardUpdate = &bot.CardUpdate{TaskID: msg.Button.TaskID, Replaced: "已接单 by " + msg.From}
	}
	return b.m.DB.Enqueue(ctx, out)
}

func (b *fakeBot) count() int { return int(b.n.Load()) }

// openWeComMain boots weibao with WeCom pointed at a fake, on a fresh
// database and Redis (real ones with WEIBAO_TEST_MYSQL_DSN and
// WEIBAO_TEST_REDIS_URL).
func openWeComMain(t *testing.T, mode string) (*Main, *WeCom, *wecomtest.Server, *fakeBot) {
	t.Helper()
	return openWeComMainWith(t, mode, make(chan bot.Message, 100))
}

func openWeComMainWith(t *testing.T, mode string, seen chan bot.Message) (*Main, *WeCom, *wecomtest.Server, *fakeBot) {
	t.Helper()
	return openWeComMainEnv(t, mode, seen, nil)
}

// noJobs turns the scheduled jobs off: started in the morning, a test's
// weibao would otherwise send the catch-up digest into the fake WeCom.
var noJobs = map[string]string{
	"WEIBAO_REPORTS_JOBS_DIGEST_SPEC": "off", "WEIBAO_REPORTS_JOBS_MONTHLY_SPEC": "off",
	"WEIBAO_REPORTS_JOBS_QUARTERLY_SPEC": "off", "WEIBAO_REPORTS_JOBS_ANALYSIS_SPEC": "off",
	"WEIBAO_KNOWLEDGE_JOBS_REVIEW_SPEC": "off", "WEIBAO_KNOWLEDGE_JOBS_SWEEP_SPEC": "off", "WEIBAO_KNOWLEDGE_JOBS_REGISTER_SPEC": "off",
	"WEIBAO_RECORDS_JOB_SPEC": "off",
}

// wecomEnv is the configuration an end-to-end test starts from: a database
// of its own, the test Redis under a key prefix of its own, the fake WeCom's
// app, a journal in a temp dir and no scheduled jobs; extra keys go over it.
func wecomEnv(t *testing.T, fake *wecomtest.Server, extra map[string]string) func(string) string {
	t.Helper()
	driver, dsn := storagetest.DSN(t)
	env := map[string]string{
		"WEIBAO_SERVER_ADDR": "127.0.0.1:0", "WEIBAO_DATABASE_DRIVER": driver, "WEIBAO_DATABASE_DSN": dsn,
		"WEIBAO_REDIS_URL": os.Getenv(redistest.EnvRedis), "WEIBAO_REDIS_PREFIX": "weibao:" + redistest.Prefix(),
		"WEIBAO_WECOM_API_BASE": fake.URL, "WEIBAO_WECOM_INBOX_JOURNAL": filepath.Join(t.TempDir(), "inbox.journal"),
		"WEIBAO_WECOM_CORP_ID": wecomtest.CorpID, "WEIBAO_WECOM_AGENT_ID": wecomtest.AgentID, "WEIBAO_WECOM_SECRET": wecomtest.Secret,
	}
	maps.Copy(env, noJobs)
	maps.Copy(env, extra)
	return func(k string) string { return env[k] }
}

// openWeComMainEnv is openWeComMainWith with more configuration (env keys).
func openWeComMainEnv(t *testing.T, mode string, seen chan bot.Message, extra map[string]string) (*Main, *WeCom, *wecomtest.Server, *fakeBot) {
	t.Helper()
	fake := wecomtest.New(t)
	env := map[string]string{
		"WEIBAO_WECOM_TOKEN":                wecomtest.AppToken,
		"WEIBAO_WECOM_ENCODING_AES_KEY":     wecomtest.AppAESKey,
		"WEIBAO_WECOM_BOT_MODE":             mode,
		"WEIBAO_WECOM_BOT_TOKEN":            wecomtest.BotToken,
		"WEIBAO_WECOM_BOT_ENCODING_AES_KEY": wecomtest.BotAESKey,
		"WEIBAO_WECOM_BOT_ID":               wecomtest.BotID,
		"WEIBAO_WECOM_BOT_SECRET":           wecomtest.BotSecret,
		"WEIBAO_WECOM_BOT_WS_URL":           fake.WSURL(),
	}
	maps.Copy(env, extra)
	cfg, err := configs.Load("", wecomEnv(t, fake, env))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBot{m: m, seen: seen}
	w, err := startWeCom(m, fb.handle)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Run(ctx) })
	wg.Go(func() { w.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		m.Close()
	})
	return m, w, fake, fb
}

func post(t *testing.T, u string, q url.Values, body []byte) (int, []byte) {
	t.Helper()
	res, err := http.Post(u+"?"+q.Encode(), "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func waitMessage(t *testing.T, fb *fakeBot) bot.Message {
	t.Helper()
	select {
	case m := <-fb.seen:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message reached the bot")
	}
	return bot.Message{}
}

func nextCall(t *testing.T, fake *wecomtest.Server) wecomtest.Request {
	t.Helper()
	r, ok := fake.Next(5 * time.Second)
	if !ok {
		t.Fatal("no call reached the fake WeCom")
	}
	return r
}

func TestWeComCallbackModeEndToEnd(t *testing.T) {
	m, _, fake, fb := openWeComMain(t, "callback")
	robot, app := wecomtest.RobotCrypto(), wecomtest.AppCrypto()
	// Ids unique to the run: a real Redis keeps dedupe keys between runs.
	run := strings.TrimSuffix(redistest.Prefix(), ":")

	// URL verification answers the raw decrypted echostr.
	res, err := http.Get(m.URL() + "/wecom/bot?" + wecomtest.Verification(robot, m.Clock.Now(), "echo-123").Encode())
	if err != nil {
		t.Fatal(err)
	}
	echo, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(echo) != "echo-123" {
		t.Fatalf("GET /wecom/bot = %d %q", res.StatusCode, echo)
	}

	// A nurse's @-message in a ward group arrives as a bot.Message and the
	// reply lands in the group through the response_url.
	msg := fmt.Sprintf(`{"msgid":"g1%s","aibotid":"%s","chatid":"wrdA","chattype":"group","from":{"userid":"nurse1"},"response_url":%q,"msgtype":"text","text":{"content":"@运维助手 监护仪黑屏"}}`,
		run, wecomtest.BotID, fake.ResponseURL("rc-g1"))
	q, body := wecomtest.RobotCallback(robot, m.Clock.Now(), msg)
	if code, _ := post(t, m.URL()+"/wecom/bot", q, body); code != 200 {
		t.Fatalf("POST /wecom/bot = %d", code)
	}
	got := waitMessage(t, fb)
	// Route is the channel's own; the reply below shows it works.
	want := bot.Message{ID: "robot:g1" + run, Channel: "robot", From: "nurse1", ChatID: "wrdA", ChatType: bot.ChatGroup, Text: "监护仪黑屏", At: got.At, Route: got.Route}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}
	call := nextCall(t, fake)
	if call.API != "aibot/response" || !strings.Contains(string(call.Raw), "已收到") {
		t.Errorf("reply = %s %s, want a markdown through aibot/response", call.API, call.Raw)
	}

	// WeCom's retry of the same callback changes nothing.
	q, body = wecomtest.RobotCallback(robot, m.Clock.Now(), msg)
	if code, _ := post(t, m.URL()+"/wecom/bot", q, body); code != 200 {
		t.Fatalf("retried POST = %d, want 200", code)
	}

	// A click on a paging card in the group comes back and the card is
	// updated in the click's own answer.
	click := `{"msgid":"c1` + run + `","create_time":1732600000,"chatid":"wrdA","chattype":"group","from":{"userid":"zhanggong"},"msgtype":"event","event":{"eventtype":"template_card_event","template_card_event":{"card_type":"button_interaction","event_key":"ack:F1","task_id":"page-F1-1"}}}`
	q, body = wecomtest.RobotCallback(robot, m.Clock.Now(), click)
	code, answer := post(t, m.URL()+"/wecom/bot", q, body)
	if code != 200 {
		t.Fatalf("click = %d", code)
	}
	if got := waitMessage(t, fb); got.Button == nil || got.Button.Key != "ack:F1" {
		t.Errorf("click arrived as %+v", got)
	}
	plain, err := wecomtest.OpenPassive(robot, q, answer)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), `"response_type":"update_template_card"`) || !strings.Contains(string(plain), "已接单 by zhanggong") {
		t.Errorf("passive card update = %s", plain)
	}

	// The self-built app: a 1:1 text is answered by message/send and a card
	// click updates the card through update_template_card.
	q, body = wecomtest.AppCallback(app, m.Clock.Now(), `<xml><ToUserName>`+wecomtest.CorpID+`</ToUserName><FromUserName>lead</FromUserName><CreateTime>1732600001</CreateTime><MsgType>text</MsgType><Content>日报</Content><MsgId>9001`+run+`</MsgId><AgentID>1000002</AgentID></xml>`)
	if code, _ := post(t, m.URL()+"/wecom/callback", q, body); code != 200 {
		t.Fatalf("POST /wecom/callback = %d", code)
	}
	if got := waitMessage(t, fb); got.ID != "app:9001"+run || got.Text != "日报" {
		t.Errorf("app message = %+v", got)
	}
	if call := nextCall(t, fake); call.API != "message/send" || call.Body["touser"] != "lead" {
		t.Errorf("app reply = %s %s", call.API, call.Raw)
	}
	q, body = wecomtest.AppCallback(app, m.Clock.Now(), `<xml><ToUserName>`+wecomtest.CorpID+`</ToUserName><FromUserName>zhanggong`+run+`</FromUserName><CreateTime>1732600002</CreateTime><MsgType>event</MsgType><Event>template_card_event</Event><EventKey>ack:F2</EventKey><TaskId>page-F2-1</TaskId><ResponseCode>rc-app</ResponseCode><AgentID>1000002</AgentID></xml>`)
	if code, _ := post(t, m.URL()+"/wecom/callback", q, body); code != 200 {
		t.Fatalf("app click = %d", code)
	}
	waitMessage(t, fb)
	if call := nextCall(t, fake); call.API != "message/update_template_card" || call.Body["response_code"] != "rc-app" {
		t.Errorf("app card update = %s %s", call.API, call.Raw)
	}
	if n := fb.count(); n != 4 {
		t.Errorf("bot saw %d messages, want 4 (the retry dropped)", n)
	}
	if extra, ok := fake.Next(200 * time.Millisecond); ok {
		t.Errorf("unexpected extra call %s %s", extra.API, extra.Raw)
	}
}

func TestWeComCallbackRejects(t *testing.T) {
	m, _, _, fb := openWeComMain(t, "callback")
	robot, app := wecomtest.RobotCrypto(), wecomtest.AppCrypto()
	otherCorp, _ := wecom.NewCrypto(wecomtest.AppToken, wecomtest.AppAESKey, "wwothercorp")
	good := `<xml><FromUserName>n1</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>`

	forgedQ, forgedBody := wecomtest.AppCallback(app, m.Clock.Now(), good)
	forgedQ.Set("msg_signature", strings.Repeat("0", 40))
	wrongCorpQ, wrongCorpBody := wecomtest.AppCallback(otherCorp, m.Clock.Now(), good)
	truncEnc, _ := app.Encrypt([]byte(good))
	truncEnc = truncEnc[:len(truncEnc)-10]
	truncQ := wecomtest.Query(app, m.Clock.Now(), truncEnc)
	badUTF8Q, badUTF8Body := wecomtest.RobotCallback(robot, m.Clock.Now(), "{\"msgid\":\"u1\",\"from\":{\"userid\":\"n\"},\"msgtype\":\"text\",\"text\":{\"content\":\"\xff\"}}")
	bigQ, _ := wecomtest.RobotCallback(robot, m.Clock.Now(), `{}`)
	// Correctly signed, but a year old or from ten minutes ahead (issue 18).
	staleAppQ, staleAppBody := wecomtest.AppCallback(app, m.Clock.Now().AddDate(-1, 0, 0), good)
	staleBotQ, staleBotBody := wecomtest.RobotCallback(robot, m.Clock.Now().Add(-6*time.Minute), `{"msgid":"s1","from":{"userid":"n"},"msgtype":"text","text":{"content":"x"}}`)
	futureBotQ, futureBotBody := wecomtest.RobotCallback(robot, m.Clock.Now().Add(10*time.Minute), `{"msgid":"s2","from":{"userid":"n"},"msgtype":"text","text":{"content":"x"}}`)
	tests := []struct {
		name, path string
		q          url.Values
		body       []byte
		want       int
	}{
		{"forged signature", "/wecom/callback", forgedQ, forgedBody, 401},
		{"no signature", "/wecom/callback", url.Values{}, forgedBody, 401},
		{"wrong corp id", "/wecom/callback", wrongCorpQ, wrongCorpBody, 401},
		{"truncated ciphertext", "/wecom/callback", truncQ, []byte("<xml><Encrypt>" + truncEnc + "</Encrypt></xml>"), 400},
		{"malformed xml", "/wecom/callback", forgedQ, []byte("<xml><Encrypt>"), 400},
		{"malformed json", "/wecom/bot", bigQ, []byte(`{"encrypt":`), 400},
		{"invalid utf-8", "/wecom/bot", badUTF8Q, badUTF8Body, 400},
		{"2 MB body", "/wecom/bot", bigQ, bytes.Repeat([]byte("a"), 2<<20), 413},
		{"a year old", "/wecom/callback", staleAppQ, staleAppBody, 401},
		{"six minutes old", "/wecom/bot", staleBotQ, staleBotBody, 401},
		{"ten minutes ahead", "/wecom/bot", futureBotQ, futureBotBody, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := post(t, m.URL()+tt.path, tt.q, tt.body); code != tt.want {
				t.Errorf("status = %d, want %d", code, tt.want)
			}
		})
	}
	// The URL check too: an old signed echostr is no proof of the token today.
	for path, c := range map[string]*wecom.Crypto{"/wecom/bot": robot, "/wecom/callback": app} {
		res, err := http.Get(m.URL() + path + "?" + wecomtest.Verification(c, m.Clock.Now().Add(-time.Hour), "echo").Encode())
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 401 {
			t.Errorf("GET %s an hour old = %d, want 401", path, res.StatusCode)
		}
	}
	if evs, err := m.DB.ClaimInbound(context.Background(), time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10); err != nil || len(evs) != 0 {
		t.Errorf("inbox after rejects = %d events, %v; want none", len(evs), err)
	}
	if n := fb.count(); n != 0 {
		t.Errorf("bot saw %d messages, want 0", n)
	}
}

func TestWeComLongConnectionEndToEnd(t *testing.T) {
	m, w, fake, fb := openWeComMain(t, "websocket")
	if !fake.WaitSubscribed(1, 5*time.Second) {
		t.Fatal("weibao did not subscribe")
	}
	run := strings.TrimSuffix(redistest.Prefix(), ":")
	msg := map[string]any{"msgid": "w1" + run, "chatid": "wrdB", "chattype": "group", "from": map[string]string{"userid": "nurse2"},
		"msgtype": "text", "text": map[string]string{"content": "@bot 打印机卡纸"}}
	if err := fake.Push(wecom.CmdMsgCallback, "req-w1", msg); err != nil {
		t.Fatal(err)
	}
	if got := waitMessage(t, fb); got.ID != "robot:w1"+run || got.Text != "打印机卡纸" || got.ChatID != "wrdB" {
		t.Errorf("message = %+v", got)
	}
	call := nextCall(t, fake)
	if call.API != wecom.CmdRespondMsg || !strings.Contains(string(call.Raw), `"req_id":"req-w1"`) {
		t.Errorf("reply = %s %s, want aibot_respond_msg echoing req-w1", call.API, call.Raw)
	}

	// A dropped connection is re-established and traffic continues; the
	// card click is answered with an update that echoes its req_id. The drop
	// waits for the reply's ack: a reply cut off before its ack is rightly
	// sent again, which is not what this part tests.
	waitFor(t, "the reply to be acknowledged", func() bool {
		q, err := m.DB.QueuedMessages(context.Background(), []string{"pending"}, 0, 10)
		return err == nil && len(q) == 0
	})
	fake.DropWS()
	if !fake.WaitSubscribed(2, 10*time.Second) {
		t.Fatal("weibao did not reconnect")
	}
	click := map[string]any{"msgid": "w2" + run, "create_time": 1732600000, "chatid": "wrdB", "chattype": "group",
		"from": map[string]string{"userid": "zhanggong"}, "msgtype": "event",
		"event": map[string]any{"eventtype": "template_card_event", "template_card_event": map[string]string{"event_key": "ack:F3", "task_id": "page-F3-1"}}}
	if err := fake.Push(wecom.CmdEventCallback, "req-w2", click); err != nil {
		t.Fatal(err)
	}
	waitMessage(t, fb)
	call = nextCall(t, fake)
	if call.API != wecom.CmdRespondUpdate || !strings.Contains(string(call.Raw), `"req_id":"req-w2"`) {
		t.Errorf("card update = %s %s", call.API, call.Raw)
	}

	// A message weibao starts (a page to the group) goes out as aibot_send_msg.
	if err := m.DB.Enqueue(context.Background(), bot.Outgoing{Key: "page:F3" + run, ToChat: "wrdB", Format: bot.FormatMarkdown,
		Text: "**工单 F3** 请处理", Mentions: []string{"zhanggong"}}); err != nil {
		t.Fatal(err)
	}
	w.Outbox.Kick()
	call = nextCall(t, fake)
	body, _ := call.Body["body"].(map[string]any)
	md, _ := body["markdown"].(map[string]any)
	if call.API != wecom.CmdSendMsg || body["chatid"] != "wrdB" || md["content"] != "**工单 F3** 请处理 <@zhanggong>" {
		t.Errorf("proactive = %s %s", call.API, call.Raw)
	}
	// The same frame delivered twice is handled once.
	fake.Push(wecom.CmdMsgCallback, "req-w1b", msg)
	if _, ok := fake.Next(300 * time.Millisecond); ok || fb.count() != 2 {
		t.Errorf("duplicate frame handled again: bot saw %d", fb.count())
	}
}

// TestBenchServeCallbacks serves weibao, wired to a fake WeCom and a bot that
// queues a reply to every message, for the load tool in bench/callbacks:
//
//	WEIBAO_BENCH_SERVE=60s WEIBAO_TEST_MYSQL_DSN=... WEIBAO_TEST_REDIS_URL=... \
//	    go test ./cmd/weibao -run TestBenchServeCallbacks -v -timeout 5m
//
// It prints the URL and the database to pass to the tool.
func TestBenchServeCallbacks(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("WEIBAO_BENCH_SERVE"))
	if err != nil {
		t.Skip("set WEIBAO_BENCH_SERVE to a duration to serve for the load tool")
	}
	m, _, _, _ := openWeComMainWith(t, "callback", nil)
	fmt.Printf("BENCH url=%s/wecom/bot driver=%s\n", m.URL(), m.Config.Database.Driver)
	fmt.Printf("BENCH dsn=%s\n", m.Config.Database.DSN)
	time.Sleep(d)
}

// TestWeComKickedTellsLeadAndResumes: another connection with the same bot
// (a staging copy) takes the robot over; weibao does not take it back,
// tells the lead, and reconnects after `weibao wecom resume`.
func TestWeComKickedTellsLeadAndResumes(t *testing.T) {
	m, _, fake, _ := openWeComMain(t, "websocket")
	hold := holdValues(m.Redis, m.Config.Redis.Prefix, wecomtest.BotID)
	t.Cleanup(func() { hold.Delete(context.Background(), wecom.HoldKey) })
	if !fake.WaitSubscribed(1, 5*time.Second) {
		t.Fatal("weibao did not subscribe")
	}
	staging, err := wecom.NewLongConn(wecom.LongConnOptions{URL: fake.WSURL(), BotID: wecomtest.BotID, Secret: wecomtest.BotSecret,
		Inbox: discardInbox{}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { staging.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	if !fake.WaitSubscribed(2, 5*time.Second) {
		t.Fatal("the staging copy did not subscribe")
	}
	if call := nextCall(t, fake); call.API != "message/send" || call.Body["touser"] != "lead1" ||
		!strings.Contains(string(call.Raw), "weibao wecom resume") {
		t.Errorf("lead notice = %s %s, want the takeover notice to lead1", call.API, call.Raw)
	}
	time.Sleep(1500 * time.Millisecond) // past weibao's 1 s reconnect backoff
	if n := fake.Subscriptions(); n != 2 {
		t.Fatalf("weibao took the robot back: %d subscriptions", n)
	}
	cancel()
	if url := os.Getenv(redistest.EnvRedis); url != "" {
		t.Setenv("WEIBAO_REDIS_URL", url)
		t.Setenv("WEIBAO_REDIS_PREFIX", m.Config.Redis.Prefix)
		t.Setenv("WEIBAO_WECOM_BOT_ID", wecomtest.BotID)
		var out strings.Builder
		if err := wecomCmd(context.Background(), []string{"resume"}, &out); err != nil {
			t.Fatalf("weibao wecom resume: %v", err)
		}
	} else if err := hold.Delete(context.Background(), wecom.HoldKey); err != nil { // in-process Redis: no command can reach it
		t.Fatal(err)
	}
	if !fake.WaitSubscribed(3, 10*time.Second) {
		t.Fatal("weibao did not reconnect after the resume")
	}
}

type discardInbox struct{}

func (discardInbox) Accept(context.Context, bot.InboundEvent, bot.Message) error { return nil }
