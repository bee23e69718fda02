package wecom_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/wecom"
)

// TestSenderAppChat: a war-room message creates the app's group chat, then
// posts in it through appchat/send; the create retried after a lost answer
// finds its chat and posts; what WeCom refuses comes back as its errcode,
// never retried as temporary.
func TestSenderAppChat(t *testing.T) {
	ctx := context.Background()
	client, fake := newClient(t, time.Second)
	s, err := wecom.NewSender(wecom.SenderOptions{Client: client, Limits: limits(t), Claims: claims(t)})
	if err != nil {
		t.Fatal(err)
	}
	spec := &bot.ChatSpec{Name: "【P1】F20261204-0001 全院", Owner: "lead1", Members: []string{"lead1", "eng1", "eng2", "nurse4"}}
	open := bot.Outgoing{Key: "wr/1", ToChat: "wrF202612040001", AppChat: true, CreateChat: spec, Format: bot.FormatMarkdown, Text: "**故障卡片**"}
	if _, err := s.Deliver(ctx, open); err != nil {
		t.Fatal(err)
	}
	if c, ok := fake.Chat("wrF202612040001"); !ok || c.Owner != "lead1" || len(c.Members) != 4 {
		t.Fatalf("chat created %+v %v", c, ok)
	}
	// Redelivered (the first answer was lost): 86215 means it is there.
	if _, err := s.Deliver(ctx, open); err != nil {
		t.Fatalf("redelivered create: %v", err)
	}
	post := bot.Outgoing{Key: "wr/2", ToChat: "wrF202612040001", AppChat: true, Format: bot.FormatText, Text: "10:02 张工 接单"}
	if _, err := s.Deliver(ctx, post); err != nil {
		t.Fatal(err)
	}
	var sends int
	for _, r := range fake.Requests() {
		if r.API == "appchat/send" && r.Body["chatid"] == "wrF202612040001" {
			sends++
		}
	}
	if sends != 3 {
		t.Errorf("appchat/send %d times, want 3 (card twice, the post once)", sends)
	}

	refusals := []struct {
		name string
		m    bot.Outgoing
		code int
	}{
		{"never created", bot.Outgoing{Key: "x1", ToChat: "nosuchchat", AppChat: true, Text: "hi"}, 86003},
		{"one member", bot.Outgoing{Key: "x2", ToChat: "wr2", AppChat: true, Text: "hi",
			CreateChat: &bot.ChatSpec{Name: "a", Members: []string{"eng1"}}}, 86006},
		{"owner outside", bot.Outgoing{Key: "x3", ToChat: "wr3", AppChat: true, Text: "hi",
			CreateChat: &bot.ChatSpec{Name: "a", Owner: "lead1", Members: []string{"eng1", "eng2"}}}, 86005},
		{"bad chat id", bot.Outgoing{Key: "x4", ToChat: "wr-F2026", AppChat: true, Text: "hi",
			CreateChat: &bot.ChatSpec{Name: "a", Members: []string{"eng1", "eng2"}}}, 86001},
		{"long chat id", bot.Outgoing{Key: "x5", ToChat: strings.Repeat("a", 33), AppChat: true, Text: "hi",
			CreateChat: &bot.ChatSpec{Name: "a", Members: []string{"eng1", "eng2"}}}, 86001},
		{"long name", bot.Outgoing{Key: "x6", ToChat: "wr6", AppChat: true, Text: "hi",
			CreateChat: &bot.ChatSpec{Name: strings.Repeat("名", 51), Members: []string{"eng1", "eng2"}}}, 86004},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Deliver(ctx, tt.m)
			var ae *wecom.APIError
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.Temporary() {
				t.Errorf("Deliver = %v, want errcode %d, not temporary", err, tt.code)
			}
		})
	}
	if _, err := s.Deliver(ctx, bot.Outgoing{Key: "x7", ToChat: "wr7", AppChat: true, Card: &bot.Card{Title: "x"}}); err == nil {
		t.Error("a card to an app chat was sent; appchat/send takes no template cards")
	}
}
