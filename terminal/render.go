package terminal

import (
	"context"
	"fmt"
	"strings"

	"weibao/bot"
)

// Deliver prints m as WeCom would show it; it is the terminal's Deliverer for
// the outbox worker. Whoever a card went to can then click its buttons by
// typing their labels.
func (t *Terminal) Deliver(ctx context.Context, m bot.Outgoing) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u := m.CardUpdate; u != nil {
		fmt.Fprintf(t.opt.Out, "  ⟳ 卡片 %s 的按钮变为「%s」\n", u.TaskID, u.Replaced)
		return ref, nil
	}
	var head string
	if m.ToChat != "" {
		head = "【" + t.chatName(ctx, m.ToChat) + "】"
	} else {
		names := make([]string, len(m.ToUsers))
		for i, u := range m.ToUsers {
			names[i] = t.name(ctx, u)
		}
		head = "【私聊 → " + strings.Join(names, "、") + "】"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "  %s 维保：", head)
	for _, u := range m.Mentions {
		fmt.Fprintf(&b, "@%s ", t.name(ctx, u))
	}
	if m.Text != "" {
		b.WriteString(strings.ReplaceAll(m.Text, "\n", "\n      "))
	}
	if f := m.File; f != nil {
		fmt.Fprintf(&b, "📎 %s（%d KB）", f.Name, (f.Size+1023)/1024)
	}
	if k := m.Card; k != nil {
		writeCard(&b, k)
		for _, u := range m.ToUsers {
			t.cards[u] = map[string]bot.ButtonClick{}
			for _, bt := range k.Buttons {
				t.cards[u][bt.Text] = bot.ButtonClick{Key: bt.Key, TaskID: k.TaskID}
			}
		}
	}
	fmt.Fprintln(t.opt.Out, b.String())
	return ref, nil
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
