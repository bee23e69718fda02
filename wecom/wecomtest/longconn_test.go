package wecomtest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"weibao/wecom/wecomtest"
)

// wsClient is a bare long-connection client: it writes frames and reads
// the next one.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func dial(t *testing.T, fake *wecomtest.Server) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, fake.WSURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	c := &wsClient{t, conn}
	if ack := c.send("aibot_subscribe", "sub", map[string]any{"bot_id": wecomtest.BotID, "secret": wecomtest.BotSecret}); ack["errcode"] != 0.0 {
		t.Fatalf("subscribe: %v", ack)
	}
	return c
}

func (c *wsClient) read() map[string]any {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	var f map[string]any
	json.Unmarshal(b, &f)
	return f
}

func (c *wsClient) send(cmd, reqID string, body any) map[string]any {
	c.t.Helper()
	b, _ := json.Marshal(map[string]any{"cmd": cmd, "headers": map[string]string{"req_id": reqID}, "body": body})
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		c.t.Fatal(err)
	}
	return c.read()
}

// TestFakeLongConnRefuses: the fake's long connection turns down what WeCom
// turns down, with WeCom's errcodes.
func TestFakeLongConnRefuses(t *testing.T) {
	l := &lenient{T: t}
	fake := wecomtest.New(l)
	c := dial(t, fake)
	push := func(cmd, reqID string, body map[string]any) {
		if err := fake.Push(cmd, reqID, body); err != nil {
			t.Fatal(err)
		}
		c.read()
	}
	push("aibot_event_callback", "r-enter", map[string]any{"msgid": "e1", "chattype": "single", "from": map[string]string{"userid": "nurse1"},
		"msgtype": "event", "event": map[string]string{"eventtype": "enter_chat"}})
	push("aibot_event_callback", "r-click", map[string]any{"msgid": "e2", "chatid": "wrd-a", "chattype": "group", "from": map[string]string{"userid": "eng1"},
		"msgtype": "event", "event": map[string]any{"eventtype": "template_card_event", "template_card_event": map[string]string{"event_key": "k", "task_id": "t"}}})
	push("aibot_msg_callback", "r-msg", map[string]any{"msgid": "m1", "chatid": "wrd-b", "chattype": "group", "from": map[string]string{"userid": "nurse1"},
		"msgtype": "text", "text": map[string]string{"content": "@bot 1"}})
	md := func(n int) map[string]any { return map[string]any{"content": strings.Repeat("a", n)} }
	tests := []struct {
		name, cmd, reqID string
		body             map[string]any
		want             float64
	}{
		{"markdown welcome", "aibot_respond_welcome_msg", "r-enter", map[string]any{"msgtype": "markdown", "markdown": md(10)}, 40008},
		{"text welcome", "aibot_respond_welcome_msg", "r-enter", map[string]any{"msgtype": "text", "text": md(10)}, 0},
		{"respond_msg to a card click", "aibot_respond_msg", "r-click", map[string]any{"msgtype": "stream", "stream": map[string]any{"id": "s", "finish": true, "content": "x"}}, 846605},
		{"welcome to a message", "aibot_respond_welcome_msg", "r-msg", map[string]any{"msgtype": "text", "text": md(10)}, 846605},
		{"markdown reply to a message", "aibot_respond_msg", "r-msg", map[string]any{"msgtype": "markdown", "markdown": md(10)}, 40008},
		{"stream over 20,480 bytes", "aibot_respond_msg", "r-msg", map[string]any{"msgtype": "stream", "stream": map[string]any{"id": "s", "finish": true, "content": strings.Repeat("a", 20481)}}, 40008},
		{"send to a chat never heard from", "aibot_send_msg", "n1", map[string]any{"chatid": "wrd-a", "msgtype": "markdown", "markdown": md(10)}, wecomtest.NoPriorMessage},
		{"markdown of 20,480 bytes", "aibot_send_msg", "n2", map[string]any{"chatid": "wrd-b", "msgtype": "markdown", "markdown": md(20480)}, 0},
		{"markdown over 20,480 bytes", "aibot_send_msg", "n3", map[string]any{"chatid": "wrd-b", "msgtype": "markdown", "markdown": md(20481)}, 40008},
	}
	for _, tt := range tests {
		if ack := c.send(tt.cmd, tt.reqID, tt.body); ack["errcode"] != tt.want {
			t.Errorf("%s: errcode %v, want %v", tt.name, ack["errcode"], tt.want)
		}
	}
	// 30 messages a minute in a conversation, replies included (the text
	// welcome and the 20,480-byte markdown above count in theirs).
	for i := range 29 {
		if ack := c.send("aibot_send_msg", "b"+string(rune('a'+i)), map[string]any{"chatid": "wrd-b", "msgtype": "markdown", "markdown": md(1)}); ack["errcode"] != 0.0 {
			t.Fatalf("message %d to wrd-b: %v", i+2, ack)
		}
	}
	if ack := c.send("aibot_send_msg", "b-over", map[string]any{"chatid": "wrd-b", "msgtype": "markdown", "markdown": md(1)}); ack["errcode"] != 45009.0 {
		t.Errorf("31st message in a minute: errcode %v, want 45009", ack["errcode"])
	}
	// A second subscriber kicks the first with disconnected_event (read
	// while the second subscribes: the fake closes the first after it).
	kicked := make(chan map[string]any, 1)
	go func() {
		_, b, _ := c.conn.Read(context.Background())
		var f map[string]any
		json.Unmarshal(b, &f)
		kicked <- f
	}()
	dial(t, fake)
	if f := <-kicked; f["cmd"] != "aibot_event_callback" || !strings.Contains(mustJSON(f["body"]), `"eventtype":"disconnected_event"`) {
		t.Errorf("first connection got %v, want disconnected_event", f)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
