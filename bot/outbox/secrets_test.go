package outbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/outbox"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
	"weibao/wecom"
)

// TestFailedDeliveriesKeepSecretsOut fails every WeCom call (nothing listens)
// and reads what reaches the log and outbox.last_error: no app Secret,
// webhook key or response_url.
func TestFailedDeliveriesKeepSecretsOut(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	const (
		secret = "app-secret-leak"
		key    = "webhook-key-leak"
		code   = "response-code-leak"
	)
	st, _ := redistest.Open(t)
	client, err := wecom.NewClient(wecom.ClientOptions{APIBase: dead, CorpID: "wwcorp", AgentID: "1000002", Secret: secret,
		Cache: wecom.NewTokenCache(st.Values(redistest.Prefix() + "token:")), HTTPClient: &http.Client{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := wecom.NewSender(wecom.SenderOptions{Client: client, Limits: st.RateLog(redistest.Prefix() + "rate:"),
		Claims: st.Values(redistest.Prefix() + "claims:"), Webhooks: map[string]string{"wrd-a": key}})
	if err != nil {
		t.Fatal(err)
	}
	route, _ := json.Marshal(wecom.Reply{Source: wecom.SourceRobot, ResponseURL: dead + "/cgi-bin/aibot/response?response_code=" + code,
		ChatID: "wrd-b", From: "nurse1"})
	db := storagetest.Open(t)
	var logs bytes.Buffer
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: sender, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	const no = "S-0001"
	if err := db.Enqueue(ctx,
		bot.Outgoing{Key: "app", TicketNo: no, ToUsers: []string{"zhanggong"}, Text: "card"},
		bot.Outgoing{Key: "hook", TicketNo: no, ToChat: "wrd-a", Text: "notice"},
		bot.Outgoing{Key: "reply", TicketNo: no, ToChat: "wrd-b", Mentions: []string{"nurse1"}, ReplyTo: "m1", Route: string(route), Text: "收到"},
	); err != nil {
		t.Fatal(err)
	}
	if _, err := w.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	entries, err := db.OutboxEntries(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("outbox entries = %d, want 3", len(entries))
	}
	for _, e := range entries {
		if e.LastError == "" {
			t.Errorf("%s: no last_error after a refused call", e.Key)
		}
		for _, leak := range []string{secret, key, code} {
			if strings.Contains(e.LastError, leak) {
				t.Errorf("%s: last_error shows %q: %s", e.Key, leak, e.LastError)
			}
		}
	}
	for _, leak := range []string{secret, key, code} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log shows %q:\n%s", leak, logs.String())
		}
	}
}
