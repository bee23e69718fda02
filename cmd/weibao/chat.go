package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"weibao/bot"
	"weibao/configs"
)

// offsetClock is the wall clock plus a jump the chat user asked for
// (/later 3m), so timeouts and 24 h confirmations can be seen at once.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *offsetClock) add(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

const chatHelp = `weibao chat — type as the person; everything weibao would send is printed as WeCom shows it.
  text            a message (in the group: as if it @-mentioned the bot)
  <button label>  clicks that button on the last card shown to you (接单, 到场, 已解决)
  /as <userid>    speak as someone else        /in <chat id | ward code | ->  switch chat (- = 1:1)
  /loc <lat,lng>  send a location (到场)        /img            send a photo
  /later <dur>    move the clock forward (e.g. 3m, 24h) and run the sweeps
  /who            the roster                    /quit
`

// chat runs `weibao chat --as <userid> [--in <chat>]`: the bot engine on the
// configured database, with the terminal as the only channel.
func chat(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (default "+configs.DefaultPath+" if it exists)")
	as := fs.String("as", "", "roster user id to speak as (e.g. nurse1, eng1)")
	where := fs.String("in", "", "group chat id or ward code; empty for a 1:1 chat with the bot")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *as == "" {
		return errors.New("chat: --as <userid> is required (see configs/demo.yaml for the demo roster)")
	}
	cfg, err := configs.Load(*path, os.Getenv)
	if err != nil {
		return err
	}
	// The chat never serves HTTP; it must not take a running server's port.
	cfg.Server.Addr = "127.0.0.1:0"
	clock := &offsetClock{}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	m, err := openWith(ctx, cfg, logger, clock)
	if err != nil {
		return err
	}
	defer m.Close()
	c := &chatSession{m: m, clock: clock, out: out, user: *as}
	if err := c.switchUser(ctx, *as); err != nil {
		return err
	}
	if err := c.switchChat(ctx, *where); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range m.workers {
		wg.Go(func() { w(ctx) })
	}
	// Messages weibao sends on its own (timeouts, reminders) appear as they come.
	wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.deliver(ctx)
			}
		}
	})
	fmt.Fprint(out, chatHelp)
	err = c.loop(ctx, in)
	cancel()
	wg.Wait()
	return err
}

type chatSession struct {
	m     *Main
	clock *offsetClock
	out   io.Writer

	mu     sync.Mutex
	user   string
	chatID string
	seq    int
	// cards holds the buttons last shown to each person, by label.
	cards map[string]map[string]bot.ButtonClick
}

func (c *chatSession) switchUser(ctx context.Context, id string) error {
	p, err := c.m.DB.Person(ctx, id)
	if err != nil || !p.Active {
		return fmt.Errorf("chat: %q is not on the roster (try nurse1, eng1, lead1 with the demo configuration)", id)
	}
	c.user = id
	return nil
}

func (c *chatSession) switchChat(ctx context.Context, where string) error {
	if where == "" || where == "-" {
		c.chatID = ""
		return nil
	}
	if w, err := c.m.DB.Ward(ctx, where); err == nil && w.ChatID != "" {
		c.chatID = w.ChatID
		return nil
	}
	c.chatID = where
	return nil
}

func (c *chatSession) prompt() string {
	name := c.user
	if p, err := c.m.DB.Person(context.Background(), c.user); err == nil {
		name = p.Name
	}
	return fmt.Sprintf("%s@%s> ", name, c.chatName(c.chatID))
}

func (c *chatSession) chatName(chat string) string {
	if chat == "" {
		return "私聊"
	}
	if w, err := c.m.DB.WardByChat(context.Background(), chat); err == nil {
		return w.Name + "群"
	}
	return chat
}

func (c *chatSession) loop(ctx context.Context, in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for {
		c.mu.Lock()
		fmt.Fprint(c.out, c.prompt())
		c.mu.Unlock()
		if !sc.Scan() {
			fmt.Fprintln(c.out)
			return sc.Err()
		}
		line := sc.Text()
		msg := bot.Message{From: c.user, ChatID: c.chatID, Text: line}
		switch f := strings.Fields(line); {
		case len(f) > 0 && f[0] == "/quit":
			return nil
		case len(f) > 0 && f[0] == "/help":
			fmt.Fprint(c.out, chatHelp)
			continue
		case len(f) == 2 && f[0] == "/as":
			if err := c.switchUser(ctx, f[1]); err != nil {
				fmt.Fprintln(c.out, err)
			}
			continue
		case len(f) >= 1 && f[0] == "/in":
			arg := ""
			if len(f) > 1 {
				arg = f[1]
			}
			c.switchChat(ctx, arg)
			continue
		case len(f) == 1 && f[0] == "/who":
			ps, _ := c.m.DB.People(ctx, "")
			for _, p := range ps {
				fmt.Fprintf(c.out, "  %-8s %s（%s）%s\n", p.UserID, p.Name, c.m.Catalog.Text("role."+string(p.Role), nil), p.WardCode)
			}
			continue
		case len(f) == 2 && f[0] == "/later":
			d, err := time.ParseDuration(f[1])
			if err != nil || d <= 0 {
				fmt.Fprintln(c.out, "/later needs a duration like 3m or 24h")
				continue
			}
			c.clock.add(d)
			fmt.Fprintf(c.out, "（时间前进 %s，现在 %s）\n", d, c.clock.Now().In(c.m.Config.Location).Format("01-02 15:04"))
			c.m.Bot.Engine.Tick(ctx, nil)
			c.deliver(ctx)
			continue
		case len(f) == 2 && f[0] == "/loc":
			lat, lng, ok := strings.Cut(f[1], ",")
			la, err1 := strconv.ParseFloat(lat, 64)
			ln, err2 := strconv.ParseFloat(lng, 64)
			if !ok || err1 != nil || err2 != nil {
				fmt.Fprintln(c.out, "/loc needs lat,lng e.g. /loc 26.0791,119.3002")
				continue
			}
			msg.Text, msg.Location = "", &bot.Location{Lat: la, Lng: ln}
		case len(f) >= 1 && f[0] == "/img":
			msg.Text = strings.TrimSpace(strings.TrimPrefix(line, "/img"))
			msg.Attachments = []bot.Attachment{{Kind: "image", URL: "cli://photo.jpg", Name: "photo.jpg"}}
		default:
			c.mu.Lock()
			if b, ok := c.cards[c.user][strings.TrimSpace(line)]; ok {
				msg.Text, msg.Button, msg.Event = "", &b, "template_card_event"
			}
			c.mu.Unlock()
		}
		c.seq++
		msg.ID = fmt.Sprintf("cli:%d:%d", time.Now().UnixNano(), c.seq)
		msg.Channel, msg.At = "cli", c.clock.Now()
		msg.ChatType = bot.ChatSingle
		if msg.ChatID != "" {
			msg.ChatType = bot.ChatGroup
		}
		if err := c.m.Bot.Engine.Handle(ctx, msg); err != nil {
			fmt.Fprintln(c.out, "（处理失败：", err, "）")
		}
		c.deliver(ctx)
	}
}

// deliver is the terminal's outbox worker: it claims what weibao queued
// and prints it as WeCom would show it.
func (c *chatSession) deliver(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Rows are stamped with the wall clock; the chat's clock may be ahead.
	now := time.Now().Add(time.Second)
	if t := c.clock.Now(); t.After(now) {
		now = t
	}
	ds, err := c.m.DB.ClaimDeliveries(ctx, now, now.Add(time.Minute), 100)
	if err != nil {
		if ctx.Err() == nil {
			fmt.Fprintln(c.out, "（outbox:", err, "）")
		}
		return
	}
	for _, d := range ds {
		c.print(ctx, d.Message)
		c.m.DB.DeliverySent(ctx, d.ID, c.clock.Now(), "cli")
	}
}

func (c *chatSession) name(ctx context.Context, id string) string {
	if p, err := c.m.DB.Person(ctx, id); err == nil && p.Name != "" {
		return p.Name
	}
	return id
}

func (c *chatSession) print(ctx context.Context, m bot.Outgoing) {
	var head string
	switch {
	case m.CardUpdate != nil:
		fmt.Fprintf(c.out, "  ⟳ 卡片 %s 的按钮变为「%s」\n", m.CardUpdate.TaskID, m.CardUpdate.Replaced)
		return
	case m.ToChat != "":
		head = "【" + c.chatName(m.ToChat) + "】"
	default:
		names := make([]string, len(m.ToUsers))
		for i, u := range m.ToUsers {
			names[i] = c.name(ctx, u)
		}
		head = "【私聊 → " + strings.Join(names, "、") + "】"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %s 维保：", head)
	for _, u := range m.Mentions {
		fmt.Fprintf(&b, "@%s ", c.name(ctx, u))
	}
	if m.Text != "" {
		b.WriteString(strings.ReplaceAll(m.Text, "\n", "\n      "))
	}
	if f := m.File; f != nil {
		fmt.Fprintf(&b, "📎 %s（%d KB）", f.Name, (f.Size+1023)/1024)
	}
	if k := m.Card; k != nil {
		fmt.Fprintf(&b, "\n    ┌─ %s\n", k.Title)
		if k.Body != "" {
			fmt.Fprintf(&b, "    │ %s\n", k.Body)
		}
		for _, f := range k.Fields {
			fmt.Fprintf(&b, "    │ %s：%s\n", f.Label, f.Value)
		}
		b.WriteString("    │")
		for _, bt := range k.Buttons {
			fmt.Fprintf(&b, " [%s]", bt.Text)
		}
		b.WriteString("\n    └─")
		// Whoever the card went to can click its buttons by typing their labels.
		if c.cards == nil {
			c.cards = map[string]map[string]bot.ButtonClick{}
		}
		for _, u := range m.ToUsers {
			c.cards[u] = map[string]bot.ButtonClick{}
			for _, bt := range k.Buttons {
				c.cards[u][bt.Text] = bot.ButtonClick{Key: bt.Key, TaskID: k.TaskID}
			}
		}
	}
	fmt.Fprintln(c.out, b.String())
}
