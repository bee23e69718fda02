package wecom_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"weibao/bot"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// TestSenderRateLimit: a group's webhook takes 20 messages a minute across
// replicas; the 21st waits, told how long until the oldest of the 20 is a
// minute old, and goes out then.
func TestSenderRateLimit(t *testing.T) {
	ctx := context.Background()
	client, fake := newClient(t, time.Second)
	run := redistest.Prefix()
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	c := &clock{t: t0}
	lim := limits(t)
	replica := func() *wecom.Sender {
		s, err := wecom.NewSender(wecom.SenderOptions{Client: client, Limits: lim, Claims: claims(t), Clock: c,
			Webhooks: map[string]string{"wrd-a": wecomtest.WebhookKey}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	senders := []*wecom.Sender{replica(), replica()}
	deliver := func(i int) error {
		_, err := senders[i%2].Deliver(ctx, bot.Outgoing{Key: run + string(rune('a'+i)), ToChat: "wrd-a", Format: bot.FormatText, Text: "通知",
			Kind: bot.KindNotice})
		return err
	}
	for i := range 20 {
		c.set(t0.Add(time.Duration(i) * time.Second))
		if err := deliver(i); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
		if _, ok := fake.Next(time.Second); !ok {
			t.Fatalf("message %d did not reach WeCom", i+1)
		}
	}
	c.set(t0.Add(30 * time.Second))
	var rl *wecom.RateLimitError
	if err := deliver(20); !errors.As(err, &rl) || rl.RetryAfter() != 30*time.Second {
		t.Fatalf("21st message err = %v, want a RateLimitError to retry in 30s", err)
	}
	if r, ok := fake.Next(50 * time.Millisecond); ok {
		t.Fatalf("over the limit, %s reached WeCom", r.API)
	}
	c.set(t0.Add(time.Minute))
	if err := deliver(20); err != nil {
		t.Fatalf("21st message a minute after the first: %v", err)
	}
}

// TestSenderSharesLimitByRank: routine messages (P3/P4 cards, digests) use
// two thirds of an engineer's 30 app messages a minute; the rest of the
// minute is left for a P1's card and breach notice, which still go.
func TestSenderSharesLimitByRank(t *testing.T) {
	ctx := context.Background()
	client, fake := newClient(t, time.Second)
	run := redistest.Prefix()
	c := &clock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	s, err := wecom.NewSender(wecom.SenderOptions{Client: client, Limits: limits(t), Claims: claims(t), Clock: c})
	if err != nil {
		t.Fatal(err)
	}
	card := func(i int, p bot.Priority) bot.Outgoing {
		return bot.Outgoing{Key: fmt.Sprintf("%scard%d", run, i), TicketNo: fmt.Sprintf("F%d", i), Priority: p,
			ToUsers: []string{"eng-" + run}, Card: &bot.Card{TaskID: fmt.Sprintf("t%s%d", run, i), Title: "工单",
				Buttons: []bot.Button{{Key: "ack", Text: "接单"}}}}
	}
	var rl *wecom.RateLimitError
	for i := range 21 {
		_, err := s.Deliver(ctx, card(i, bot.P3))
		switch {
		case i < 20 && err != nil:
			t.Fatalf("P3 card %d: %v", i+1, err)
		case i == 20 && !errors.As(err, &rl):
			t.Fatalf("21st P3 card in a minute: err = %v, want a RateLimitError", err)
		}
	}
	for i := range 10 {
		if _, err := s.Deliver(ctx, card(100+i, bot.P1)); err != nil {
			t.Fatalf("P1 card %d after 20 P3 cards: %v", i+1, err)
		}
	}
	if _, err := s.Deliver(ctx, card(200, bot.P1)); !errors.As(err, &rl) {
		t.Fatalf("31st card in a minute: err = %v, want a RateLimitError", err)
	}
	if n := len(fake.Requests()); n != 30 {
		t.Errorf("WeCom got %d messages, want 30", n)
	}
}
