package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"weibao/bot"
	"weibao/sla/pager"
	"weibao/terminal"
)

// Chat is the terminal channel the /try page speaks through
// (*terminal.Terminal): the same bot engine `weibao chat` drives.
type Chat interface {
	Say(ctx context.Context, userID, where, text string) error
	Click(ctx context.Context, userID, where string, b bot.ButtonClick) error
}

// Item is one line of the /try transcript, as the browser draws it.
type Item struct {
	Seq int `json:"seq"`
	// Kind is "said" (the person's own message), "bot" (what weibao sent),
	// "page" (a phone call or SMS, as text) or "note" (the channel's own
	// remarks, such as a clock jump).
	Kind     string   `json:"kind"`
	From     string   `json:"from,omitempty"` // user id of a said line
	Where    string   `json:"where,omitempty"`
	ChatID   string   `json:"chat,omitempty"`
	ToUsers  []string `json:"to,omitempty"`
	Mentions []string `json:"mentions,omitempty"`
	Text     string   `json:"text,omitempty"`
	File     string   `json:"file,omitempty"`
	Card     *Card    `json:"card,omitempty"`
	// Update names the card whose buttons were replaced by Replaced.
	Update   string `json:"update,omitempty"`
	Replaced string `json:"replaced,omitempty"`
}

// Card is a card as the browser draws it.
type Card struct {
	TaskID  string          `json:"task"`
	Title   string          `json:"title"`
	Body    string          `json:"body,omitempty"`
	Fields  []bot.CardField `json:"fields,omitempty"`
	Buttons []bot.Button    `json:"buttons,omitempty"`
}

// keepItems bounds the transcript a new visitor is replayed.
const keepItems = 500

// Try is the /try page's half of the terminal channel: the one transcript
// every visitor sees (weibao is one bot in one demo hospital), fed by the
// terminal (Show), the try pager (Pager) and the visitors' own lines, and
// pushed to browsers as Server-Sent Events.
type Try struct {
	people People
	texts  Texts
	chat   Chat

	mu    sync.Mutex
	seq   int
	items []Item
	subs  map[chan Item]struct{}
	done  chan struct{}
}

// People names roster people (storage.DB).
type People interface {
	People(ctx context.Context, role bot.Role) ([]bot.Person, error)
}

// NewTry returns an empty transcript; Connect gives it the chat.
func NewTry(people People, texts Texts) *Try {
	return &Try{people: people, texts: texts, subs: map[chan Item]struct{}{}, done: make(chan struct{})}
}

// Connect sets the chat the page's lines go to.
func (t *Try) Connect(c Chat) { t.chat = c }

// Close ends every event stream (at shutdown: the server waits for open
// requests).
func (t *Try) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.done:
	default:
		close(t.done)
	}
}

func (t *Try) add(it Item) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq++
	it.Seq = t.seq
	t.items = append(t.items, it)
	if len(t.items) > keepItems {
		t.items = t.items[len(t.items)-keepItems:]
	}
	for ch := range t.subs {
		select {
		case ch <- it:
		default: // a stalled browser reloads and is replayed
		}
	}
}

// Show is the terminal's Show: a message weibao delivered.
func (t *Try) Show(s terminal.Shown) {
	it := Item{Kind: "bot", Where: s.Where, ChatID: s.ChatID, ToUsers: s.ToUsers, Mentions: s.Mentions, Text: s.Text, File: s.File}
	if k := s.Card; k != nil {
		it.Card = &Card{TaskID: k.TaskID, Title: k.Title, Body: k.Body, Fields: k.Fields, Buttons: k.Buttons}
	}
	if u := s.Update; u != nil {
		it.Update, it.Replaced, it.ToUsers = u.TaskID, u.Replaced, u.UserIDs
	}
	t.add(it)
}

// Notes is the terminal's Out: its remarks become note lines.
func (t *Try) Notes() io.Writer { return noteWriter{t} }

type noteWriter struct{ t *Try }

func (w noteWriter) Write(p []byte) (int, error) {
	if s := strings.TrimSpace(string(p)); s != "" {
		w.t.add(Item{Kind: "note", Text: s})
	}
	return len(p), nil
}

// Pager is a phone provider that shows each call or SMS on the page as text
// instead of ringing anyone.
func (t *Try) Pager() pager.Notifier { return tryPager{t} }

type tryPager struct{ t *Try }

func (p tryPager) Provider() string                { return "try" }
func (p tryPager) Channels() []pager.Channel       { return []pager.Channel{pager.Voice, pager.SMS} }
func (p tryPager) Limit(pager.Channel) pager.Limit { return pager.Limit{} }

func (p tryPager) Send(ctx context.Context, ch pager.Channel, pg pager.Page) (pager.Sent, error) {
	it := Item{Kind: "page", Where: p.t.texts.Text("console.try.page_"+string(ch), nil), Text: pg.Text}
	if people, err := p.t.people.People(ctx, ""); err == nil {
		want, _ := pager.NationalNumber(pg.Mobile)
		for _, person := range people {
			if n, _ := pager.NationalNumber(person.Mobile); n != "" && n == want {
				it.ToUsers = []string{person.UserID}
			}
		}
	}
	p.t.add(it)
	return pager.Sent{MessageID: "try-" + pg.ID}, nil
}

// since returns the items after seq and a channel of the next ones.
func (t *Try) since(seq int) ([]Item, chan Item) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Item
	for _, it := range t.items {
		if it.Seq > seq {
			out = append(out, it)
		}
	}
	ch := make(chan Item, 64)
	t.subs[ch] = struct{}{}
	return out, ch
}

func (t *Try) leave(ch chan Item) {
	t.mu.Lock()
	delete(t.subs, ch)
	t.mu.Unlock()
}

// events streams the transcript: what the browser missed (after its
// Last-Event-ID), then every new item.
func (t *Try) events(w http.ResponseWriter, r *http.Request) {
	last, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
	backlog, ch := t.since(last)
	defer t.leave(ch)
	sse := startSSE(w)
	for _, it := range backlog {
		sse.send(it.Seq, it)
	}
	for {
		select {
		case it := <-ch:
			if !sse.send(it.Seq, it) {
				return
			}
		case <-r.Context().Done():
			return
		case <-t.done:
			return
		}
	}
}

type tryLine struct {
	As     string `json:"as"`
	In     string `json:"in"`
	Text   string `json:"text"`
	Key    string `json:"key"`
	TaskID string `json:"task"`
}

// say takes one line or click from the page and answers once weibao has
// delivered what it caused (those arrive on the event stream).
func (t *Try) say(w http.ResponseWriter, r *http.Request) {
	var l tryLine
	if err := json.NewDecoder(r.Body).Decode(&l); err != nil || l.As == "" || (strings.TrimSpace(l.Text) == "" && l.Key == "") {
		jsonError(w, http.StatusBadRequest, "bad_line", t.texts.Text("console.try.bad_line", nil))
		return
	}
	if t.chat == nil {
		jsonError(w, http.StatusServiceUnavailable, "no_chat", t.texts.Text("console.try.no_chat", nil))
		return
	}
	if !t.known(r.Context(), l.As) {
		jsonError(w, http.StatusBadRequest, "bad_person", t.texts.Text("console.try.bad_person", map[string]any{"userid": l.As}))
		return
	}
	var err error
	if l.Key != "" {
		t.add(Item{Kind: "said", From: l.As, ChatID: l.In, Text: "〔" + l.Text + "〕"})
		err = t.chat.Click(r.Context(), l.As, l.In, bot.ButtonClick{Key: l.Key, TaskID: l.TaskID})
	} else {
		if !strings.HasPrefix(l.Text, "/") {
			t.add(Item{Kind: "said", From: l.As, ChatID: l.In, Text: l.Text})
		}
		err = t.chat.Say(r.Context(), l.As, l.In, l.Text)
	}
	if err != nil {
		jsonError(w, http.StatusBadRequest, "bad_line", err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// known reports whether userID is an active roster person.
func (t *Try) known(ctx context.Context, userID string) bool {
	people, err := t.people.People(ctx, "")
	if err != nil {
		return false
	}
	for _, p := range people {
		if p.UserID == userID && p.Active {
			return true
		}
	}
	return false
}
