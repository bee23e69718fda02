package wecom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// TestSenderCallbackModeGroupRoutes pins how a callback-mode robot reaches a
// ward group: a reply through the message's one-shot response_url, a message
// weibao starts (or a second answer to the same message) through the
// group's robot webhook, and a group without a webhook key as an
// unroutable error that no retry can fix.
func TestSenderCallbackModeGroupRoutes(t *testing.T) {
	ctx := context.Background()
	client, fake := newClient(t, time.Second)
	run := redistest.Prefix()
	in, _, err := wecom.Parse(wecom.SourceRobot, fmt.Appendf(nil,
		`{"msgid":"m1%s","chatid":"wrd-a","chattype":"group","from":{"userid":"nurse1"},"response_url":%q,"msgtype":"text","text":{"content":"@bot 1"}}`,
		run, fake.ResponseURL("rc-m1"+run)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	msgID, route := in.ID, in.Route
	s, err := wecom.NewSender(wecom.SenderOptions{Client: client, Limits: limits(t), Claims: claims(t),
		Webhooks: map[string]string{"wrd-a": wecomtest.WebhookKey}})
	if err != nil {
		t.Fatal(err)
	}
	type call struct {
		API  string
		Body map[string]any
	}
	tests := []struct {
		name       string
		msg        bot.Outgoing
		want       *call // nil: nothing reaches WeCom
		unroutable bool
	}{
		{"reply through the response_url", bot.Outgoing{Key: "k1" + run, ReplyTo: msgID, Route: route, ToChat: "wrd-a", Mentions: []string{"nurse1"}, Format: bot.FormatText, Text: "已确认"},
			&call{"aibot/response", map[string]any{"msgtype": "markdown", "markdown": map[string]any{"content": "已确认 <@nurse1>"}}}, false},
		{"second answer to the same message: webhook", bot.Outgoing{Key: "k2" + run, ReplyTo: msgID, Route: route, ToChat: "wrd-a", Mentions: []string{"nurse1"}, Format: bot.FormatText, Text: "请打分"},
			&call{"webhook/send", map[string]any{"msgtype": "text", "text": map[string]any{"content": "请打分", "mentioned_list": []any{"nurse1"}}}}, false},
		{"resolution notice weibao starts: webhook", bot.Outgoing{Key: "k3" + run, ToChat: "wrd-a", Mentions: []string{"nurse1", "nurse2"}, Format: bot.FormatText, Text: "工单已处理完毕"},
			&call{"webhook/send", map[string]any{"msgtype": "text", "text": map[string]any{"content": "工单已处理完毕", "mentioned_list": []any{"nurse1", "nurse2"}}}}, false},
		{"unknown reply route falls back to the webhook", bot.Outgoing{Key: "k4" + run, ReplyTo: "robot:gone", ToChat: "wrd-a", Format: bot.FormatText, Text: "超时登记"},
			&call{"webhook/send", map[string]any{"msgtype": "text", "text": map[string]any{"content": "超时登记"}}}, false},
		{"group without a webhook key", bot.Outgoing{Key: "k5" + run, ToChat: "wrd-b", Mentions: []string{"eng1"}, Format: bot.FormatText, Text: "请处理"}, nil, true},
		{"card to a group", bot.Outgoing{Key: "k6" + run, ToChat: "wrd-a", Card: &bot.Card{TaskID: "t", Title: "x"}}, nil, true},
		{"no recipient", bot.Outgoing{Key: "k7" + run, Text: "?"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Deliver(ctx, tt.msg)
			var u interface{ Unroutable() bool }
			if got := errors.As(err, &u) && u.Unroutable(); got != tt.unroutable {
				t.Fatalf("Deliver err = %v, unroutable %v, want %v", err, got, tt.unroutable)
			}
			if !tt.unroutable && err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			var tmp interface{ Temporary() bool }
			if tt.unroutable && (!errors.As(err, &tmp) || tmp.Temporary() || !strings.Contains(err.Error(), "cannot deliver")) {
				t.Errorf("err %v: want a permanent, explained failure", err)
			}
			r, ok := fake.Next(50 * time.Millisecond)
			if tt.want == nil {
				if ok {
					t.Errorf("unexpected call %s %s", r.API, r.Raw)
				}
				return
			}
			if !ok {
				t.Fatalf("nothing reached WeCom, want %s", tt.want.API)
			}
			if diff := cmp.Diff(*tt.want, call{r.API, r.Body}); diff != "" {
				t.Errorf("call (-want +got):\n%s", diff)
			}
		})
	}
}
