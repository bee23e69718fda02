package wecom_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/catalog"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// told records the lead's notices by key.
type told struct{ keys, texts []string }

func (l *told) tell(_ context.Context, key, text string) error {
	l.keys, l.texts = append(l.keys, key), append(l.texts, text)
	return nil
}

// robotSender is a websocket-mode sender on the fake, with its clock as the
// fake's, a webhook key for wrd-hook and two people in ward group wrd-new.
func robotSender(t *testing.T, c *clock, lead *told) (*wecom.Sender, *wecomtest.Server) {
	t.Helper()
	client, fake := newClient(t, time.Second)
	fake.Now = c.Now
	conn := connect(t, fake)
	s, err := wecom.NewSender(wecom.SenderOptions{Client: client, Conn: conn, Limits: limits(t), Claims: claims(t), Clock: c,
		Texts: catalog.Default(), TellLead: lead.tell, Webhooks: map[string]string{"wrd-hook": wecomtest.WebhookKey},
		WardPeople: func(_ context.Context, chat string) ([]string, error) {
			if chat == "wrd-new" {
				return []string{"nurse1", "nurse2"}, nil
			}
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return s, fake
}

// callback pushes a callback frame to the sender's connection and returns
// the parsed message, whose route replies carry.
func callback(t *testing.T, fake *wecomtest.Server, cmd, reqID, body string) bot.Message {
	t.Helper()
	frame := fmt.Sprintf(`{"cmd":%q,"headers":{"req_id":%q},"body":%s}`, cmd, reqID, body)
	m, _, err := wecom.Parse(wecom.SourceRobotWS, []byte(frame), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		t.Fatal(err)
	}
	if err := fake.Push(cmd, reqID, b); err != nil {
		t.Fatal(err)
	}
	return m
}

// frame is a long-connection command as the fake received it, written out
// field by field after the SDK's types (WsFrame, StreamReplyBody,
// WelcomeTextReplyBody, SendMarkdownMsgBody).
type frame struct {
	Cmd     string
	Headers map[string]any
	Body    map[string]any
}

func frames(t *testing.T, fake *wecomtest.Server, n int) []frame {
	t.Helper()
	var out []frame
	for range n {
		r, ok := fake.Next(time.Second)
		if !ok {
			t.Fatalf("got %d frames, want %d", len(out), n)
		}
		f := frame{Cmd: r.API}
		f.Headers, _ = r.Body["headers"].(map[string]any)
		f.Body, _ = r.Body["body"].(map[string]any)
		if r.API == "webhook/send" || r.API == "message/send" {
			f.Body = r.Body
			delete(f.Body, "agentid")
		}
		if st, _ := f.Body["stream"].(map[string]any); st != nil && st["id"] != "" {
			st["id"] = "<stream id>" // weibao's choice
		}
		if f.Cmd == wecom.CmdSendMsg {
			f.Headers["req_id"] = "<new>"
		}
		out = append(out, f)
	}
	if r, ok := fake.Next(50 * time.Millisecond); ok {
		t.Fatalf("unexpected %s %s", r.API, r.Raw)
	}
	return out
}

// TestSenderRobotFrames pins what weibao says over the long connection, as
// the official SDK's types write it: a reply to a message is a finished
// stream echoing its req_id; a welcome is text (never markdown); a reply
// to a card click or a feedback event, which aibot_respond_msg does not
// answer, goes out with aibot_send_msg; content is split at 20,480 bytes.
func TestSenderRobotFrames(t *testing.T) {
	ctx := context.Background()
	run := strings.TrimSuffix(redistest.Prefix(), ":")
	long := strings.Repeat("监护仪", 2500) // 22,500 bytes
	cut := len(wecom.Split(long, wecom.RobotContentLimit)[0])
	tests := []struct {
		name     string
		cmd      string // the callback
		callback string
		msg      func(in bot.Message) bot.Outgoing
		want     []frame
	}{
		{"reply to a message", wecom.CmdMsgCallback,
			`{"msgid":"m1` + run + `","chatid":"wrd-a","chattype":"group","from":{"userid":"nurse1"},"msgtype":"text","text":{"content":"@bot 黑屏"}}`,
			func(in bot.Message) bot.Outgoing {
				return bot.Outgoing{ReplyTo: in.ID, Route: in.Route, ToChat: "wrd-a", Mentions: []string{"nurse1"}, Text: "已收到"}
			},
			[]frame{{wecom.CmdRespondMsg, map[string]any{"req_id": "r-m1"}, map[string]any{"msgtype": "stream",
				"stream": map[string]any{"id": "<stream id>", "finish": true, "content": "已收到 <@nurse1>"}}}}},
		{"welcome", wecom.CmdEventCallback,
			`{"msgid":"e1` + run + `","create_time":1732600000,"chattype":"single","from":{"userid":"nurse1"},"msgtype":"event","event":{"eventtype":"enter_chat"}}`,
			func(in bot.Message) bot.Outgoing {
				return bot.Outgoing{ReplyTo: in.ID, Route: in.Route, ToUsers: []string{"nurse1"}, Format: bot.FormatMarkdown, Text: "您好，报修请直接描述故障"}
			},
			[]frame{{wecom.CmdRespondWelcome, map[string]any{"req_id": "r-e1"}, map[string]any{"msgtype": "text",
				"text": map[string]any{"content": "您好，报修请直接描述故障"}}}}},
		{"text answering a card click", wecom.CmdEventCallback,
			`{"msgid":"e2` + run + `","create_time":1732600000,"chatid":"wrd-a","chattype":"group","from":{"userid":"eng1"},"msgtype":"event","event":{"eventtype":"template_card_event","template_card_event":{"event_key":"ack:F1","task_id":"t1"}}}`,
			func(in bot.Message) bot.Outgoing {
				return bot.Outgoing{ReplyTo: in.ID, Route: in.Route, ToChat: "wrd-a", Format: bot.FormatMarkdown, Text: "F1 已被 李工 接单"}
			},
			[]frame{{wecom.CmdSendMsg, map[string]any{"req_id": "<new>"}, map[string]any{"chatid": "wrd-a", "msgtype": "markdown",
				"markdown": map[string]any{"content": "F1 已被 李工 接单"}}}}},
		{"thanks for feedback in a group", wecom.CmdEventCallback,
			`{"msgid":"e3` + run + `","create_time":1732600000,"chatid":"wrd-a","chattype":"group","from":{"userid":"nurse1"},"msgtype":"event","event":{"eventtype":"feedback_event"}}`,
			func(in bot.Message) bot.Outgoing {
				return bot.Outgoing{ReplyTo: in.ID, Route: in.Route, ToChat: "wrd-a", Format: bot.FormatMarkdown, Text: "谢谢反馈"}
			},
			[]frame{{wecom.CmdSendMsg, map[string]any{"req_id": "<new>"}, map[string]any{"chatid": "wrd-a", "msgtype": "markdown",
				"markdown": map[string]any{"content": "谢谢反馈"}}}}},
		{"long message weibao starts", "", "",
			func(bot.Message) bot.Outgoing {
				return bot.Outgoing{ToChat: "wrd-a", Format: bot.FormatMarkdown, Text: long}
			},
			[]frame{
				{wecom.CmdSendMsg, map[string]any{"req_id": "<new>"}, map[string]any{"chatid": "wrd-a", "msgtype": "markdown", "markdown": map[string]any{"content": long[:cut]}}},
				{wecom.CmdSendMsg, map[string]any{"req_id": "<new>"}, map[string]any{"chatid": "wrd-a", "msgtype": "markdown", "markdown": map[string]any{"content": long[cut:]}}},
			}},
		{"long reply goes out proactively, split", wecom.CmdMsgCallback,
			`{"msgid":"m2` + run + `","chatid":"wrd-a","chattype":"group","from":{"userid":"nurse1"},"msgtype":"text","text":{"content":"@bot 月报"}}`,
			func(in bot.Message) bot.Outgoing {
				return bot.Outgoing{ReplyTo: in.ID, Route: in.Route, ToChat: "wrd-a", Format: bot.FormatMarkdown, Text: long}
			},
			[]frame{
				{wecom.CmdSendMsg, map[string]any{"req_id": "<new>"}, map[string]any{"chatid": "wrd-a", "msgtype": "markdown", "markdown": map[string]any{"content": long[:cut]}}},
				{wecom.CmdSendMsg, map[string]any{"req_id": "<new>"}, map[string]any{"chatid": "wrd-a", "msgtype": "markdown", "markdown": map[string]any{"content": long[cut:]}}},
			}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, fake := robotSender(t, &clock{t: time.Now()}, &told{})
			// A user has messaged the robot in wrd-a.
			callback(t, fake, wecom.CmdMsgCallback, "r-seen", `{"msgid":"seen`+run+`","chatid":"wrd-a","chattype":"group","from":{"userid":"nurse9"},"msgtype":"text","text":{"content":"@bot 在吗"}}`)
			var in bot.Message
			if tt.cmd != "" {
				reqID := "r-" + strings.TrimSuffix(strings.SplitN(strings.SplitN(tt.callback, `"msgid":"`, 2)[1], `"`, 2)[0], run)
				in = callback(t, fake, tt.cmd, reqID, tt.callback)
			}
			m := tt.msg(in)
			m.Key = fmt.Sprintf("k%d%s", i, run)
			if _, err := s.Deliver(ctx, m); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if diff := cmp.Diff(tt.want, frames(t, fake, len(tt.want))); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSenderRobotNoPriorMessage: the robot may not speak first in a group
// nobody has messaged it in. The message then goes through the group's
// webhook when it has a key, else by the app to the ward's people 1:1, and
// the lead is told which group needs one @ to the robot, under one key per
// group (the outbox sends a key once).
func TestSenderRobotNoPriorMessage(t *testing.T) {
	ctx := context.Background()
	run := strings.TrimSuffix(redistest.Prefix(), ":")
	lead := &told{}
	s, fake := robotSender(t, &clock{t: time.Now()}, lead)
	for i, chat := range []string{"wrd-hook", "wrd-hook", "wrd-new"} {
		if _, err := s.Deliver(ctx, bot.Outgoing{Key: fmt.Sprintf("n%d%s", i, run), ToChat: chat, Format: bot.FormatText, Text: "工单 F1 已处理完毕"}); err != nil {
			t.Fatalf("Deliver to %s: %v", chat, err)
		}
	}
	var got []string
	for _, r := range fake.Requests() {
		to := r.Body["touser"]
		if b, ok := r.Body["body"].(map[string]any); ok {
			to = b["chatid"]
		}
		got = append(got, fmt.Sprint(r.API, " ", to))
	}
	want := []string{"aibot_send_msg wrd-hook", "webhook/send <nil>", "aibot_send_msg wrd-hook", "webhook/send <nil>",
		"aibot_send_msg wrd-new", "message/send nurse1|nurse2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"wecom/no-prior-message/wrd-hook", "wecom/no-prior-message/wrd-hook", "wecom/no-prior-message/wrd-new"}, lead.keys); diff != "" {
		t.Errorf("lead notice keys (-want +got):\n%s", diff)
	}
	if len(lead.texts) == 0 || !strings.Contains(lead.texts[0], "wrd-hook") || !strings.Contains(lead.texts[0], "@") {
		t.Errorf("lead notice %q does not name the group and the @", lead.texts)
	}
	// Once a user has @-mentioned the robot there, the group gets it directly.
	callback(t, fake, wecom.CmdMsgCallback, "r-x", `{"msgid":"x`+run+`","chatid":"wrd-new","chattype":"group","from":{"userid":"nurse1"},"msgtype":"text","text":{"content":"@bot 你好"}}`)
	if _, err := s.Deliver(ctx, bot.Outgoing{Key: "n9" + run, ToChat: "wrd-new", Format: bot.FormatText, Text: "通知"}); err != nil {
		t.Fatal(err)
	}
	if f := frames(t, fake, 7)[6]; f.Cmd != wecom.CmdSendMsg || f.Body["chatid"] != "wrd-new" {
		t.Errorf("after the @: %+v, want aibot_send_msg to wrd-new", f)
	}
}

// TestSenderRobotConversationLimits: a conversation takes 30 robot messages
// a minute and 1,000 an hour, replies included, counted across replicas;
// the next one waits (RateLimitError, which the outbox retries) instead of
// reaching WeCom, which would refuse it.
func TestSenderRobotConversationLimits(t *testing.T) {
	ctx := context.Background()
	run := strings.TrimSuffix(redistest.Prefix(), ":")
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	s, fake := robotSender(t, c, &told{})
	in := callback(t, fake, wecom.CmdMsgCallback, "r-q", `{"msgid":"q`+run+`","chatid":"wrd-a","chattype":"group","from":{"userid":"nurse1"},"msgtype":"text","text":{"content":"@bot 1"}}`)
	n := 0
	deliver := func(reply bool) error {
		n++
		// A ticket's notice: the whole limit is its (a routine message's is two thirds).
		m := bot.Outgoing{Key: fmt.Sprintf("l%d%s", n, run), ToChat: "wrd-a", Text: "通知", Kind: bot.KindNotice}
		if reply {
			m.ReplyTo, m.Route = in.ID, in.Route
		}
		_, err := s.Deliver(ctx, m)
		return err
	}
	var rl *wecom.RateLimitError
	// The reply counts: 1 reply and 29 sends fill the minute.
	if err := deliver(true); err != nil {
		t.Fatalf("reply: %v", err)
	}
	for i := range 29 {
		if err := deliver(false); err != nil {
			t.Fatalf("message %d: %v", i+2, err)
		}
	}
	if err := deliver(false); !errors.As(err, &rl) {
		t.Fatalf("31st message in a minute: err = %v, want a RateLimitError", err)
	}
	// 30 a minute for 33 more minutes reach 1,020: the hour stops at 1,000.
	sent := 30
	for minute := 1; sent < 1000; minute++ {
		c.set(t0.Add(time.Duration(minute) * time.Minute))
		for range 30 {
			if sent == 1000 {
				break
			}
			if err := deliver(false); err != nil {
				t.Fatalf("message %d at minute %d: %v", sent+1, minute, err)
			}
			sent++
		}
	}
	c.set(c.Now().Add(time.Minute))
	if err := deliver(false); !errors.As(err, &rl) || !strings.Contains(rl.Dest, "hour") {
		t.Fatalf("1,001st message in an hour: err = %v, want a RateLimitError for the hour", err)
	}
}

// TestSenderRobotUploadLimit: the robot takes 30 uploads a minute per bot;
// the 31st file waits instead of being uploaded.
func TestSenderRobotUploadLimit(t *testing.T) {
	ctx := context.Background()
	run := strings.TrimSuffix(redistest.Prefix(), ":")
	client, fake := newClient(t, time.Second)
	conn := connect(t, fake)
	fs := files{}
	ref, _ := fs.PutFile(ctx, "巡检记录.xlsx", workbook(64))
	s := fileSender(t, fake, client, conn, fs)
	for i := range 31 {
		chat := fmt.Sprintf("wrd-%d", i)
		callback(t, fake, wecom.CmdMsgCallback, "r-"+chat, fmt.Sprintf(`{"msgid":"u%d%s","chatid":%q,"chattype":"group","from":{"userid":"nurse1"},"msgtype":"text","text":{"content":"@bot 1"}}`, i, run, chat))
		f := ref
		_, err := s.Deliver(ctx, bot.Outgoing{Key: fmt.Sprintf("u%d%s", i, run), ToChat: chat, File: &f})
		var rl *wecom.RateLimitError
		switch {
		case i < 30 && err != nil:
			t.Fatalf("file %d: %v", i+1, err)
		case i == 30 && (!errors.As(err, &rl) || rl.Dest != "robot-upload"):
			t.Fatalf("31st upload in a minute: err = %v, want a RateLimitError for robot-upload", err)
		}
	}
}
