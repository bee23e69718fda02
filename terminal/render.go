package terminal

import (
	"context"
	"fmt"
	"strings"

	"weibao/bot"
)

// Shown is one message weibao sent, as the recipient's WeCom shows it: the
// terminal prints it, the /try page draws it (Options.Show).
type Shown struct {
	// Where names the chat: "内科ICU群", or "私聊 → 张工" for a 1:1 message.
	Where string
	// ChatID is the group's chat id; empty for a 1:1 message, which goes to
	// ToUsers.
	ChatID   string
	ToUsers  []string
	Mentions []string // names
	Text     string
	File     string // "name（n KB）"
	Card     *bot.Card
	// Update is set when the message only replaced the buttons of the card
	// with TaskID Update.TaskID.
	Update *bot.CardUpdate
}

// Deliver shows m as WeCom would; it is the terminal's Deliverer for the
// outbox worker. Whoever a card went to can then click its buttons by typing
// their labels.
func (t *Terminal) Deliver(ctx context.Context, m bot.Outgoing) (string, error) {
	s := t.shown(ctx, m)
	t.mu.Lock()
	defer t.mu.Unlock()
	if k := m.Card; k != nil {
		for _, u := range m.ToUsers {
			t.cards[u] = map[string]bot.ButtonClick{}
			for _, bt := range k.Buttons {
				t.cards[u][bt.Text] = bot.ButtonClick{Key: bt.Key, TaskID: k.TaskID}
			}
		}
	}
	if t.opt.Show != nil {
		t.opt.Show(s)
	} else {
		fmt.Fprintln(t.opt.Out, s.String())
	}
	return ref, nil
}

func (t *Terminal) shown(ctx context.Context, m bot.Outgoing) Shown {
	s := Shown{ChatID: m.ToChat, ToUsers: m.ToUsers, Text: m.Text, Card: m.Card, Update: m.CardUpdate}
	if m.ToChat != "" {
		s.Where = t.chatName(ctx, m.ToChat)
	} else {
		names := make([]string, len(m.ToUsers))
		for i, u := range m.ToUsers {
			names[i] = t.name(ctx, u)
		}
		s.Where = "私聊 → " + strings.Join(names, "、")
	}
	for _, u := range m.Mentions {
		s.Mentions = append(s.Mentions, t.name(ctx, u))
	}
	if f := m.File; f != nil {
		s.File = fmt.Sprintf("%s（%d KB）", f.Name, (f.Size+1023)/1024)
	}
	return s
}

// String is s as the terminal prints it.
func (s Shown) String() string {
	if u := s.Update; u != nil {
		return fmt.Sprintf("  ⟳ 卡片 %s 的按钮变为「%s」", u.TaskID, u.Replaced)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  【%s】 维保：", s.Where)
	for _, n := range s.Mentions {
		fmt.Fprintf(&b, "@%s ", n)
	}
	if s.Text != "" {
		b.WriteString(strings.ReplaceAll(s.Text, "\n", "\n      "))
	}
	if s.File != "" {
		fmt.Fprintf(&b, "📎 %s", s.File)
	}
	if k := s.Card; k != nil {
		writeCard(&b, k)
	}
	return b.String()
}

// ref is what the outbox keeps as the channel's reference for every message
// the terminal printed.
const ref = "cli"

func writeCard(b *strings.Builder, k *bot.Card) {
	fmt.Fprintf(b, "\n    ┌─ %s\n", k.Title)
	if k.Body != "" {
		fmt.Fprintf(b, "    │ %s\n", k.Body)
	}
	for _, f := range k.Fields {
		fmt.Fprintf(b, "    │ %s：%s\n", f.Label, f.Value)
	}
	b.WriteString("    │")
	for _, bt := range k.Buttons {
		fmt.Fprintf(b, " [%s]", bt.Text)
	}
	b.WriteString("\n    └─")
}

func (t *Terminal) name(ctx context.Context, id string) string {
	if p, err := t.opt.Directory.Person(ctx, id); err == nil && p.Name != "" {
		return p.Name
	}
	return id
}

func (t *Terminal) chatName(ctx context.Context, chat string) string {
	if chat == "" {
		return "私聊"
	}
	if w, err := t.opt.Directory.WardByChat(ctx, chat); err == nil {
		return w.Name + "群"
	}
	return chat
}
