// Package terminal is a chat channel on a terminal (`weibao chat`): what the
// person types goes to the bot as a bot.Message, as the WeCom inbox hands it
// over, and what weibao sends reaches Terminal.Deliver through the ordinary
// outbox worker and is printed as WeCom would show it.
package terminal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"weibao/bot"
)

// Help is printed when the terminal starts and on /help.
const Help = `weibao chat — type as the person; everything weibao would send is printed as WeCom shows it.
  text            a message (in the group: as if it @-mentioned the bot)
  <button label>  clicks that button on the last card shown to you (接单, 到场, 已解决)
  /as <userid>    speak as someone else        /in <chat id | ward code | ->  switch chat (- = 1:1)
  /loc <lat,lng>  send a location (到场)        /img            send a photo
  /later <dur>    move the clock forward (e.g. 3m, 24h) and run the sweeps
  /who            the roster                    /quit
`

// Bot takes the person's messages (conversation.Engine).
type Bot interface {
	Handle(ctx context.Context, msg bot.Message) error
	// Tick runs the sweeps (expired dialogues, auto-confirmation) once.
	Tick(ctx context.Context, last *time.Time)
}

// Directory names people and chats (storage.DB).
type Directory interface {
	Person(ctx context.Context, userID string) (*bot.Person, error)
	People(ctx context.Context, role bot.Role) ([]bot.Person, error)
	Ward(ctx context.Context, code string) (*bot.Ward, error)
	WardByChat(ctx context.Context, chatID string) (*bot.Ward, error)
}

// Outbox counts the messages not delivered yet (storage.DB).
type Outbox interface {
	PendingOutbox(ctx context.Context) (int64, error)
}

// Texts is the message catalogue (catalog.Catalog), for role names.
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Options configure a Terminal; all are required.
type Options struct {
	Out       io.Writer
	Bot       Bot
	Directory Directory
	// Outbox is waited on after each line until the outbox worker has
	// printed what the line caused, so replies come before the next prompt.
	Outbox   Outbox
	Texts    Texts
	Clock    *Clock
	Location *time.Location
	// Show, when set, is handed every message delivered instead of printing
	// it to Out (the /try page draws them).
	Show func(Shown)
}

// Terminal is one person's terminal session; /as and /in change who speaks
// and where.
type Terminal struct {
	opt Options

	// turn serialises Say and Click: one person speaks at a time, and
	// each waits for what it caused to be delivered.
	turn   sync.Mutex
	user   string
	chatID string
	seq    int

	// mu keeps the prompt and delivered messages from interleaving and
	// guards cards.
	mu sync.Mutex
	// cards holds the buttons last shown to each person, by label.
	cards map[string]map[string]bot.ButtonClick
}

// New checks opt.
func New(opt Options) (*Terminal, error) {
	if opt.Out == nil || opt.Bot == nil || opt.Directory == nil || opt.Outbox == nil || opt.Texts == nil ||
		opt.Clock == nil || opt.Location == nil {
		return nil, errors.New("terminal: Out, Bot, Directory, Outbox, Texts, Clock and Location are required")
	}
	return &Terminal{opt: opt, cards: map[string]map[string]bot.ButtonClick{}}, nil
}

// As makes the active roster person userID the one who speaks.
func (t *Terminal) As(ctx context.Context, userID string) error {
	p, err := t.opt.Directory.Person(ctx, userID)
	if err != nil || !p.Active {
		return fmt.Errorf("chat: %q is not on the roster (try nurse1, eng1, lead1 with the demo configuration)", userID)
	}
	t.user = userID
	return nil
}

// In moves the person to a group, named by chat id or ward code; "" or "-"
// is the 1:1 chat with the bot.
func (t *Terminal) In(ctx context.Context, where string) {
	if where == "" || where == "-" {
		t.chatID = ""
		return
	}
	if w, err := t.opt.Directory.Ward(ctx, where); err == nil && w.ChatID != "" {
		t.chatID = w.ChatID
		return
	}
	t.chatID = where
}

// Run reads lines from in until it ends or /quit.
func (t *Terminal) Run(ctx context.Context, in io.Reader) error {
	t.print(Help)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for {
		t.mu.Lock()
		fmt.Fprint(t.opt.Out, t.prompt(ctx))
		t.mu.Unlock()
		if !sc.Scan() {
			t.print("\n")
			return sc.Err()
		}
		msg, quit := t.line(ctx, sc.Text())
		if quit {
			return nil
		}
		if msg != nil {
			t.send(ctx, *msg)
		}
	}
}

// Say is one line typed as userID in where (see In), a message or a
// terminal command such as /later 3m, handled as Run handles it; it returns
// once what it caused has been delivered.
func (t *Terminal) Say(ctx context.Context, userID, where, text string) error {
	t.turn.Lock()
	defer t.turn.Unlock()
	if err := t.As(ctx, userID); err != nil {
		return err
	}
	t.In(ctx, where)
	if msg, _ := t.line(ctx, text); msg != nil {
		t.send(ctx, *msg)
	}
	return nil
}

// Click is userID clicking a card's button in where, the event WeCom sends
// for it.
func (t *Terminal) Click(ctx context.Context, userID, where string, b bot.ButtonClick) error {
	t.turn.Lock()
	defer t.turn.Unlock()
	if err := t.As(ctx, userID); err != nil {
		return err
	}
	if b.Key == "" || b.TaskID == "" {
		return errors.New("chat: a click needs the button's key and the card's task id")
	}
	t.In(ctx, where)
	t.send(ctx, bot.Message{From: t.user, ChatID: t.chatID, Button: &b, Event: "template_card_event"})
	return nil
}

// line runs a terminal command, or returns the message the line is.
func (t *Terminal) line(ctx context.Context, line string) (_ *bot.Message, quit bool) {
	msg := bot.Message{From: t.user, ChatID: t.chatID, Text: line}
	switch f := strings.Fields(line); {
	case len(f) > 0 && f[0] == "/quit":
		return nil, true
	case len(f) > 0 && f[0] == "/help":
		t.print(Help)
	case len(f) == 2 && f[0] == "/as":
		if err := t.As(ctx, f[1]); err != nil {
			t.print(err.Error() + "\n")
		}
	case len(f) >= 1 && f[0] == "/in":
		where := ""
		if len(f) > 1 {
			where = f[1]
		}
		t.In(ctx, where)
	case len(f) == 1 && f[0] == "/who":
		t.who(ctx)
	case len(f) == 2 && f[0] == "/later":
		t.later(ctx, f[1])
	case len(f) == 2 && f[0] == "/loc":
		lat, lng, ok := strings.Cut(f[1], ",")
		la, err1 := strconv.ParseFloat(lat, 64)
		ln, err2 := strconv.ParseFloat(lng, 64)
		if !ok || err1 != nil || err2 != nil {
			t.print("/loc needs lat,lng e.g. /loc 26.0791,119.3002\n")
			return nil, false
		}
		msg.Text, msg.Location = "", &bot.Location{Lat: la, Lng: ln}
		return &msg, false
	case len(f) >= 1 && f[0] == "/img":
		msg.Text = strings.TrimSpace(strings.TrimPrefix(line, "/img"))
		msg.Attachments = []bot.Attachment{{Kind: "image", URL: "cli://photo.jpg", Name: "photo.jpg"}}
		return &msg, false
	default:
		t.mu.Lock()
		if b, ok := t.cards[t.user][strings.TrimSpace(line)]; ok {
			msg.Text, msg.Button, msg.Event = "", &b, "template_card_event"
		}
		t.mu.Unlock()
		return &msg, false
	}
	return nil, false
}

func (t *Terminal) who(ctx context.Context) {
	ps, _ := t.opt.Directory.People(ctx, "")
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  %-8s %s（%s）%s\n", p.UserID, p.Name, t.opt.Texts.Text("role."+string(p.Role), nil), p.WardCode)
	}
	t.print(b.String())
}

// later moves the clock forward and runs the sweeps that the jump made due.
func (t *Terminal) later(ctx context.Context, arg string) {
	d, err := time.ParseDuration(arg)
	if err != nil || d <= 0 {
		t.print("/later needs a duration like 3m or 24h\n")
		return
	}
	t.opt.Clock.Add(d)
	t.print(fmt.Sprintf("（时间前进 %s，现在 %s）\n", d, t.opt.Clock.Now().In(t.opt.Location).Format("01-02 15:04")))
	t.opt.Bot.Tick(ctx, nil)
	t.settle(ctx)
}

func (t *Terminal) send(ctx context.Context, msg bot.Message) {
	t.seq++
	msg.ID = fmt.Sprintf("cli:%d:%d", time.Now().UnixNano(), t.seq)
	msg.Channel, msg.At = "cli", t.opt.Clock.Now()
	msg.ChatType = bot.ChatSingle
	if msg.ChatID != "" {
		msg.ChatType = bot.ChatGroup
	}
	if err := t.opt.Bot.Handle(ctx, msg); err != nil {
		t.print(fmt.Sprintln("（处理失败：", err, "）"))
	}
	t.settle(ctx)
}

// settle waits until the outbox worker has printed everything queued, at
// most settleLimit (a message that keeps failing must not hang the terminal).
func (t *Terminal) settle(ctx context.Context) {
	for end := time.Now().Add(settleLimit); time.Now().Before(end); {
		if n, err := t.opt.Outbox.PendingOutbox(ctx); err != nil || n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

const settleLimit = 5 * time.Second

func (t *Terminal) prompt(ctx context.Context) string {
	return fmt.Sprintf("%s@%s> ", t.name(ctx, t.user), t.chatName(ctx, t.chatID))
}

func (t *Terminal) print(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprint(t.opt.Out, s)
}
