package terminal

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"weibao/bot"
)

// fakeBot records what the terminal hands it and answers with replies, which
// it delivers at once as the outbox worker would.
type fakeBot struct {
	t       *Terminal
	got     []bot.Message
	ticks   int
	replies func(bot.Message) []bot.Outgoing
}

func (b *fakeBot) Handle(ctx context.Context, msg bot.Message) error {
	b.got = append(b.got, msg)
	if b.replies != nil {
		for _, r := range b.replies(msg) {
			b.t.Deliver(ctx, r)
		}
	}
	return nil
}

func (b *fakeBot) Tick(ctx context.Context, last *time.Time) { b.ticks++ }

type directory struct{}

var (
	people = []bot.Person{
		{UserID: "eng1", Name: "张工", Role: bot.Role("engineer"), Active: true},
		{UserID: "nurse1", Name: "王护士", Role: bot.Role("nurse"), WardCode: "med-icu", Active: true},
		{UserID: "gone", Name: "离职", Role: bot.Role("nurse")},
	}
	ward = bot.Ward{Code: "med-icu", Name: "内科ICU", ChatID: "wrdMed"}
)

func (directory) Person(ctx context.Context, id string) (*bot.Person, error) {
	for _, p := range people {
		if p.UserID == id {
			return &p, nil
		}
	}
	return nil, bot.ErrNotFound
}

func (directory) People(ctx context.Context, role bot.Role) ([]bot.Person, error) {
	return people[:2], nil
}

func (directory) Ward(ctx context.Context, code string) (*bot.Ward, error) {
	if code == ward.Code {
		return &ward, nil
	}
	return nil, bot.ErrNotFound
}

func (directory) WardByChat(ctx context.Context, chat string) (*bot.Ward, error) {
	if chat == ward.ChatID {
		return &ward, nil
	}
	return nil, bot.ErrNotFound
}

type delivered struct{}

func (delivered) PendingOutbox(ctx context.Context) (int64, error) { return 0, nil }

type texts struct{}

func (texts) Text(key string, _ map[string]any) string { return "<" + key + ">" }

func newTerminal(t *testing.T, b *fakeBot) (*Terminal, *strings.Builder) {
	t.Helper()
	var out strings.Builder
	term, err := New(Options{Out: &out, Bot: b, Directory: directory{}, Outbox: delivered{}, Texts: texts{},
		Clock: &Clock{}, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	b.t = term
	if err := term.As(context.Background(), "nurse1"); err != nil {
		t.Fatal(err)
	}
	return term, &out
}

func TestLinesBecomeMessages(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		where string
		want  []bot.Message
	}{
		{"group text", "电脑登不上", "med-icu", []bot.Message{{Channel: "cli", From: "nurse1", ChatID: "wrdMed", ChatType: bot.ChatGroup, Text: "电脑登不上"}}},
		{"1:1 text", "电脑登不上", "-", []bot.Message{{Channel: "cli", From: "nurse1", ChatType: bot.ChatSingle, Text: "电脑登不上"}}},
		{"unknown chat id", "hi", "wrdX", []bot.Message{{Channel: "cli", From: "nurse1", ChatID: "wrdX", ChatType: bot.ChatGroup, Text: "hi"}}},
		{"location", "/loc 26.0791,119.3002", "", []bot.Message{{Channel: "cli", From: "nurse1", ChatType: bot.ChatSingle,
			Location: &bot.Location{Lat: 26.0791, Lng: 119.3002}}}},
		{"photo", "/img 屏幕", "", []bot.Message{{Channel: "cli", From: "nurse1", ChatType: bot.ChatSingle, Text: "屏幕",
			Attachments: []bot.Attachment{{Kind: "image", URL: "cli://photo.jpg", Name: "photo.jpg"}}}}},
		{"switch person and chat", "/as eng1\n/in med-icu\n接单\n/in\n到场", "", []bot.Message{
			{Channel: "cli", From: "eng1", ChatID: "wrdMed", ChatType: bot.ChatGroup, Text: "接单"},
			{Channel: "cli", From: "eng1", ChatType: bot.ChatSingle, Text: "到场"}}},
		{"terminal commands send nothing", "/who\n/help\n/later 3m\n/as gone\n/loc x\n", "", nil},
		{"quit stops reading", "/quit\nhi", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &fakeBot{}
			term, _ := newTerminal(t, b)
			term.In(context.Background(), tt.where)
			if err := term.Run(context.Background(), strings.NewReader(tt.in)); err != nil {
				t.Fatal(err)
			}
			ignore := cmpopts.IgnoreFields(bot.Message{}, "ID", "At")
			if diff := cmp.Diff(tt.want, b.got, ignore, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			seen := map[string]bool{}
			for _, m := range b.got {
				if !strings.HasPrefix(m.ID, "cli:") || seen[m.ID] {
					t.Errorf("message id %q: want a fresh cli: id", m.ID)
				}
				seen[m.ID] = true
			}
		})
	}
}

func TestRendering(t *testing.T) {
	card := &bot.Card{TaskID: "page-F1", Title: "【P2】内科ICU · 无法登录", Body: "电脑登不上",
		Fields:  []bot.CardField{{Label: "工单", Value: "F1"}},
		Buttons: []bot.Button{{Key: "ack:F1", Text: "接单"}, {Key: "arrive:F1", Text: "到场"}}}
	tests := []struct {
		name string
		m    bot.Outgoing
		want string
	}{
		{"group with mentions", bot.Outgoing{ToChat: "wrdMed", Mentions: []string{"nurse1"}, Text: "收到\n影响范围？"},
			"  【内科ICU群】 维保：@王护士 收到\n      影响范围？\n"},
		{"unmapped group", bot.Outgoing{ToChat: "wrdX", Text: "hi"}, "  【wrdX】 维保：hi\n"},
		{"1:1 to several", bot.Outgoing{ToUsers: []string{"eng1", "lead9"}, Text: "已接单"}, "  【私聊 → 张工、lead9】 维保：已接单\n"},
		{"file", bot.Outgoing{ToUsers: []string{"eng1"}, File: &bot.FileRef{ID: 1, Name: "运维月报.xlsx", Size: 2049}},
			"  【私聊 → 张工】 维保：📎 运维月报.xlsx（3 KB）\n"},
		{"card", bot.Outgoing{ToUsers: []string{"eng1"}, Card: card},
			"  【私聊 → 张工】 维保：\n    ┌─ 【P2】内科ICU · 无法登录\n    │ 电脑登不上\n    │ 工单：F1\n    │ [接单] [到场]\n    └─\n"},
		{"card redraw", bot.Outgoing{CardUpdate: &bot.CardUpdate{TaskID: "page-F1", Replaced: "已由 张工 接单"}},
			"  ⟳ 卡片 page-F1 的按钮变为「已由 张工 接单」\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			term, out := newTerminal(t, &fakeBot{})
			ref, err := term.Deliver(context.Background(), tt.m)
			if err != nil || ref != "cli" {
				t.Errorf("Deliver = %q, %v; want cli, nil", ref, err)
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("printed (-want +got):\n%s", diff)
			}
		})
	}
}

// Typing a button's label clicks it on the last card shown to that person,
// and only to that person.
func TestButtonLabelClicksLastCard(t *testing.T) {
	b := &fakeBot{}
	term, _ := newTerminal(t, b)
	ctx := context.Background()
	for i, task := range []string{"page-F1", "page-F2"} {
		term.Deliver(ctx, bot.Outgoing{ToUsers: []string{"eng1"}, Card: &bot.Card{TaskID: task,
			Buttons: []bot.Button{{Key: fmt.Sprintf("ack:F%d", i+1), Text: "接单"}}}})
	}
	if err := term.Run(ctx, strings.NewReader("接单\n/as eng1\n接单\n 接单 \n到场")); err != nil {
		t.Fatal(err)
	}
	click := &bot.ButtonClick{Key: "ack:F2", TaskID: "page-F2"}
	want := []bot.Message{
		{Channel: "cli", From: "nurse1", ChatType: bot.ChatSingle, Text: "接单"},
		{Channel: "cli", From: "eng1", ChatType: bot.ChatSingle, Button: click, Event: "template_card_event"},
		{Channel: "cli", From: "eng1", ChatType: bot.ChatSingle, Button: click, Event: "template_card_event"},
		{Channel: "cli", From: "eng1", ChatType: bot.ChatSingle, Text: "到场"},
	}
	if diff := cmp.Diff(want, b.got, cmpopts.IgnoreFields(bot.Message{}, "ID", "At")); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

func TestReplyPrintsBeforeNextPrompt(t *testing.T) {
	b := &fakeBot{replies: func(m bot.Message) []bot.Outgoing {
		return []bot.Outgoing{{ToChat: m.ChatID, Mentions: []string{m.From}, Text: "收到"}}
	}}
	term, out := newTerminal(t, b)
	term.In(context.Background(), "med-icu")
	if err := term.Run(context.Background(), strings.NewReader("电脑登不上\n/who\n")); err != nil {
		t.Fatal(err)
	}
	want := Help + "王护士@内科ICU群> " + "  【内科ICU群】 维保：@王护士 收到\n" +
		"王护士@内科ICU群> " + "  eng1     张工（<role.engineer>）\n  nurse1   王护士（<role.nurse>）med-icu\n" +
		"王护士@内科ICU群> \n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("transcript (-want +got):\n%s", diff)
	}
}

func TestLaterMovesClockAndSweeps(t *testing.T) {
	b := &fakeBot{}
	term, out := newTerminal(t, b)
	before := term.opt.Clock.Now()
	if err := term.Run(context.Background(), strings.NewReader("/later 24h\n/later soon\n")); err != nil {
		t.Fatal(err)
	}
	if d := term.opt.Clock.Now().Sub(before); d < 24*time.Hour || d > 25*time.Hour {
		t.Errorf("clock moved %v, want 24h", d)
	}
	if b.ticks != 1 {
		t.Errorf("sweeps ran %d times, want 1", b.ticks)
	}
	for _, s := range []string{"（时间前进 24h0m0s，现在 ", "/later needs a duration like 3m or 24h\n"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
}

func TestAsRejectsUnknownAndInactive(t *testing.T) {
	term, _ := newTerminal(t, &fakeBot{})
	for _, id := range []string{"nobody", "gone"} {
		if err := term.As(context.Background(), id); err == nil || !strings.Contains(err.Error(), "not on the roster") {
			t.Errorf("As(%q) = %v, want not on the roster", id, err)
		}
	}
}

// queued is an outbox whose worker delivers in the background.
type queued struct{ pending atomic.Int64 }

func (q *queued) PendingOutbox(ctx context.Context) (int64, error) { return q.pending.Load(), nil }

// A reply the outbox worker delivers later still prints before the next
// prompt: the terminal waits until nothing is pending.
func TestWaitsForOutboxWorker(t *testing.T) {
	var out strings.Builder
	q := &queued{}
	done := make(chan struct{})
	b := &asyncBot{q: q, done: done}
	term, err := New(Options{Out: &out, Bot: b, Directory: directory{}, Outbox: q, Texts: texts{},
		Clock: &Clock{}, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	b.t = term
	term.As(context.Background(), "nurse1")
	if err := term.Run(context.Background(), strings.NewReader("电脑登不上\n")); err != nil {
		t.Fatal(err)
	}
	<-done
	want := Help + "王护士@私聊> " + "  【私聊 → 王护士】 维保：收到\n" + "王护士@私聊> \n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("transcript (-want +got):\n%s", diff)
	}
}

// asyncBot queues one reply to the only message it gets; a goroutine, like
// the outbox worker, delivers it while or after the handler returns.
type asyncBot struct {
	t    *Terminal
	q    *queued
	done chan struct{}
}

func (b *asyncBot) Handle(ctx context.Context, msg bot.Message) error {
	b.q.pending.Add(1)
	go func() {
		defer close(b.done)
		b.t.Deliver(ctx, bot.Outgoing{ToUsers: []string{msg.From}, Text: "收到"})
		b.q.pending.Add(-1)
	}()
	return nil
}

func (b *asyncBot) Tick(ctx context.Context, last *time.Time) {}
