// Package conversation turns each inbound bot.Message into what weibao does
// and says: a chat command, a step of the guided fault report, an answer to
// a confirmation or a survey. A fault report's state lives per (chat, user)
// in the database (Redis keeps its lock), so two nurses in one group never
// cross, and a restart or a flushed Redis resumes a dialogue; a sweep
// creates the ticket of a dialogue nobody finished. Every reply is written to the outbox: with the ticket change
// that caused it (through ticketing), or through Outbox.Enqueue.
package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"weibao/bot"
	"weibao/bot/command"
	"weibao/bot/dialog"
	"weibao/bot/ticketing"
	"weibao/catalog"
)

// Outbox queues replies caused by no ticket change (storage.DB).
type Outbox interface {
	Enqueue(ctx context.Context, msgs ...bot.Outgoing) error
}

// Sessions keeps survey state, pending questions, locks and due sets
// (redisstore.Sessions).
type Sessions interface {
	Load(ctx context.Context, key string) ([]byte, error)
	Save(ctx context.Context, key string, val []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
	Lock(ctx context.Context, key string, ttl, wait time.Duration) (func(), error)
	Schedule(ctx context.Context, set, member string, at time.Time) error
	Unschedule(ctx context.Context, set, member string) error
	Due(ctx context.Context, set string, now time.Time, limit int) ([]string, error)
}

// Dialogues keeps each fault report in progress in the database
// (storage.DB), by key, with the time the sweep tickets it: Redis may be
// flushed or restarted empty mid-dialogue, and the nurse's answers so far
// must survive it (architecture invariant 1).
type Dialogues interface {
	Dialogue(ctx context.Context, key string) ([]byte, error) // nil when none
	SaveDialogue(ctx context.Context, key string, state []byte, due time.Time) error
	EndDialogue(ctx context.Context, key string) error
	DueDialogues(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// Digester renders the daily digest (the reports engineer's).
type Digester interface {
	Digest(ctx context.Context, day time.Time) (markdown string, err error)
}

// Knowledge is the knowledge base (knowledge.Service).
type Knowledge interface {
	// Command runs a 知识库 command and returns the reply.
	Command(ctx context.Context, person *bot.Person, c command.Command) (string, error)
	// Offer returns the FAQ tip matching a report's words, "" for none.
	Offer(ctx context.Context, text string) (string, error)
}

// Upgrades runs the commands of a record use case (upgrade.Service,
// register.Service) and returns the reply.
type RecordCommands interface {
	Command(ctx context.Context, person *bot.Person, c command.Command) (string, error)
}

// Options configure an Engine.
type Options struct {
	Tickets   *ticketing.Service
	Directory bot.Directory
	Outbox    Outbox
	Sessions  Sessions
	Dialogues Dialogues
	Catalog   *catalog.Catalog
	Clock     bot.Clock
	Logger    *slog.Logger
	Location  *time.Location
	// Roster answers 值班; nil answers "not enabled".
	Roster bot.Roster
	// Digester answers 日报; nil answers "not enabled".
	Digester Digester
	// Knowledge answers 知识库 and offers FAQ entries to nurses who report;
	// nil answers "not enabled" and offers nothing.
	Knowledge Knowledge
	// Upgrades answers 升级批准, 升级完成 and 版本; Register 登记缺陷, 登记需求
	// and 需求确认; nil answers "not enabled".
	Upgrades RecordCommands
	Register RecordCommands

	// DialogTimeout creates the ticket of a dialogue nobody finished
	// (default 3 min). DuplicateWindow is how far back the same ward and
	// category count as one fault (default 30 min). ConfirmWindow
	// auto-confirms a resolution nobody answered (default 24 h).
	DialogTimeout   time.Duration
	DuplicateWindow time.Duration
	ConfirmWindow   time.Duration
	// SweepEvery is how often Run looks for expired dialogues and queued
	// surveys (default 5 s).
	SweepEvery time.Duration
	// Surveys are the guided question-and-answers other packages run with a
	// person, by name (the fault analysis); see SurveyRequests.
	Surveys map[string]Survey
	// SurveyHours are when surveys are asked (the engineers' working hours);
	// nil: at any time.
	SurveyHours WorkingHours
}

// Engine handles messages.
type Engine struct {
	opt Options
}

// New checks opt and fills defaults.
func New(opt Options) (*Engine, error) {
	if opt.Tickets == nil || opt.Directory == nil || opt.Outbox == nil || opt.Sessions == nil || opt.Dialogues == nil || opt.Catalog == nil {
		return nil, errors.New("conversation: Tickets, Directory, Outbox, Sessions, Dialogues and Catalog are required")
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.DialogTimeout, 3*time.Minute)
	def(&opt.DuplicateWindow, 30*time.Minute)
	def(&opt.ConfirmWindow, 24*time.Hour)
	def(&opt.SweepEvery, 5*time.Second)
	return &Engine{opt: opt}, nil
}

// MaxMessageBytes bounds what is read of one message: a fault is told in a
// few sentences, and a 10 KB paste is a mistake, answered and dropped.
const MaxMessageBytes = 4 * bot.MaxTextRunes

const (
	lockTTL      = 30 * time.Second
	lockWait     = 10 * time.Second
	sweepBatch   = 50
	pendingTTL   = 48 * time.Hour
	ratingTTL    = 24 * time.Hour
	memberSep    = "\x1f"
	directChatID = "-"
)

// session is the state kept per (chat, user), in Dialogues under member.
type session struct {
	Intake *dialog.State `json:"report,omitempty"` // the fault report (报修) in progress
	Phone  bool          `json:"phone,omitempty"`  // an engineer logs a report phoned in (电话报修)
	MsgID  string        `json:"msg,omitempty"`    // the last message handled, for redeliveries
	// Replies are what MsgID was answered: saved before they are queued, so
	// a redelivery queues them again (the outbox drops what it has).
	Replies []bot.Outgoing `json:"replies,omitempty"`
	Started time.Time      `json:"started"`
	Due     time.Time      `json:"due,omitempty"` // when a report dialogue times out
	Created bool           `json:"created,omitempty"`
	ChatID  string         `json:"chat,omitempty"`
	UserID  string         `json:"user"`
}

// pending is a question the person answers with a number outside any
// dialogue: confirm a resolution, or rate it.
type pending struct {
	Kind string `json:"kind"` // "confirm" or "rate"
	No   string `json:"no"`
}

func chatKey(chat string) string {
	if chat == "" {
		return directChatID
	}
	return chat
}

func pendingKey(chat, user string) string { return "p:" + chatKey(chat) + ":" + user }
func lockKey(chat, user string) string    { return chatKey(chat) + ":" + user }
func member(chat, user string) string     { return chatKey(chat) + memberSep + user }

func (e *Engine) now() time.Time { return e.opt.Clock.Now() }

func (e *Engine) text(key string, f map[string]any) string { return e.opt.Catalog.Text(key, f) }

// replier collects the replies to one message; they are queued together
// under keys derived from the message id, so a redelivered message never
// queues a second copy.
type replier struct {
	e   *Engine
	msg bot.Message
	out []bot.Outgoing
}

func (r *replier) say(key string, f map[string]any) { r.raw(r.e.text(key, f)) }

func (r *replier) raw(text string) {
	m := bot.Outgoing{Key: fmt.Sprintf("reply/%s/%d", r.msg.ID, len(r.out)), ReplyTo: r.msg.ID, Route: r.msg.Route, Format: bot.FormatText, Text: text}
	if r.msg.ChatID != "" {
		m.ToChat, m.Mentions = r.msg.ChatID, []string{r.msg.From}
	} else {
		m.ToUsers = []string{r.msg.From}
	}
	r.out = append(r.out, m)
}

// flush queues the replies.
func (r *replier) flush(ctx context.Context) error {
	out := r.replies()
	if len(out) == 0 {
		return nil
	}
	return r.e.opt.Outbox.Enqueue(ctx, out...)
}

// replies are the replies as queued. Plain-text answers to the message go
// out as one message: a robot can answer a callback only once, and one
// bubble reads better than three.
func (r *replier) replies() []bot.Outgoing {
	var out []bot.Outgoing
	first := -1
	for _, m := range r.out {
		if m.Card == nil && m.CardUpdate == nil && m.Format == bot.FormatText && m.ReplyTo == r.msg.ID && strings.HasPrefix(m.Key, "reply/") {
			if first >= 0 {
				out[first].Text += "\n" + m.Text
				continue
			}
			first = len(out)
		}
		out = append(out, m)
	}
	return out
}

// errReply answers an error: a domain error's own Chinese line, or the
// generic "busy" line for an internal one (which is also returned, so the
// inbox retries the message). The failed attempt's other replies are
// dropped, as the retry says them; the busy line has a key of its own, so
// the retry's real reply is no duplicate of it, and however many attempts
// fail she is told once, at the first.
func (r *replier) errReply(err error) error {
	if key, f := bot.UserText(err); key != "" {
		r.say(key, f)
		return nil
	}
	r.out = nil
	r.say("err.internal", map[string]any{"ref": r.msg.ID})
	r.out[0].Key, r.out[0].Kind = "reply/"+r.msg.ID+"/busy", bot.KindBusy
	return err
}

// Handle is the inbox's handler. It is idempotent per message id.
func (e *Engine) Handle(ctx context.Context, msg bot.Message) error {
	r := &replier{e: e, msg: msg}
	err := e.handle(ctx, msg, r)
	if err != nil {
		err = r.errReply(err)
		if err != nil {
			e.opt.Logger.Error("message failed", "msg_id", msg.ID, "user", msg.From, "err", err)
		}
	}
	if ferr := r.flush(ctx); ferr != nil {
		return errors.Join(err, ferr)
	}
	return err
}

func (e *Engine) handle(ctx context.Context, msg bot.Message, r *replier) error {
	if msg.Event != "" && msg.Button == nil {
		return nil // enter_chat and the like need no answer
	}
	if len(msg.Text) > MaxMessageBytes || utf8.RuneCountInString(msg.Text) > bot.MaxTextRunes {
		r.say("err.text_too_long", map[string]any{"max": bot.MaxTextRunes})
		return nil
	}
	if !utf8.ValidString(msg.Text) {
		r.say("err.text_encoding", nil)
		return nil
	}
	person, err := e.opt.Directory.Person(ctx, msg.From)
	if err != nil || !person.Active {
		if err != nil && !errors.Is(err, bot.ErrNotFound) {
			return err
		}
		if person = e.stranger(ctx, msg, person, r); person == nil {
			r.say("msg.unknown_person", nil)
			return nil
		}
	}
	text := normalize(msg.Text)
	if text == "" && len(msg.Attachments) == 0 && msg.Location == nil && msg.Button == nil {
		r.say("msg.empty", nil)
		return nil
	}
	unlock, err := e.opt.Sessions.Lock(ctx, lockKey(msg.ChatID, msg.From), lockTTL, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	sess, err := e.loadSession(ctx, msg.ChatID, msg.From)
	if err != nil {
		return err
	}
	sv, err := e.loadSurvey(ctx, msg.ChatID, msg.From)
	if err != nil {
		return err
	}
	switch {
	case sess != nil && sess.MsgID == msg.ID:
		// Redelivered, or retried after its state was saved: its replies
		// again, under the same keys.
		r.out = sess.Replies
		return nil
	case sv != nil && sv.MsgID == msg.ID:
		r.out = sv.Replies
		return nil
	}
	if msg.Button != nil {
		return e.button(ctx, person, msg, r)
	}
	if sv != nil && (sess == nil || sess.Intake == nil) {
		if done, err := e.onSurvey(ctx, person, sv, msg, text, r); done || err != nil {
			return err
		}
	}
	switch {
	case contains([]string{"取消", "cancel", "算了", "不报了"}, text):
		return e.cancel(ctx, sess, msg, r)
	case contains(restartWords, text):
		return e.restart(ctx, sess, person, msg, r)
	}
	if sess != nil && sess.Intake != nil {
		if c, perr := parse(text); perr != nil || c.Name != command.Report {
			// A command word is never an answer: it runs, and the question
			// waiting on her comes again after its reply.
			if ran, err := e.commandInQuestion(ctx, person, msg, text, r); ran || err != nil {
				if err != nil {
					return err
				}
				env, err := e.env(ctx)
				if err != nil {
					return err
				}
				out := dialog.Again(env, *sess.Intake)
				r.say(out.Prompt.Key, out.Prompt.Fields)
				return nil
			}
		}
		return e.answerIntake(ctx, sess, person, msg, text, r)
	}
	if name, arg, ok := e.flowWord(text); ok {
		return e.startFlow(ctx, person, msg, sv, name, arg, r)
	}
	if done, err := e.answerPending(ctx, person, msg, text, r); done || err != nil {
		return err
	}
	cmd, perr := parse(text)
	switch {
	case perr == nil:
		return e.command(ctx, person, msg, cmd, r)
	case !errors.Is(perr, errNotCommand):
		if key, _ := bot.UserText(perr); key == "cmd.usage.resolve" && !person.Role.ActsOnTickets() {
			r.say("err.engineers_only", nil)
			return nil
		}
		return perr
	}
	if no := bareTicketNo(text); no != "" {
		return e.progress(ctx, person, msg, no, r)
	}
	if msg.Location != nil && person.Role.ActsOnTickets() && text == "" {
		return e.command(ctx, person, msg, parsed{Name: nameArrive}, r)
	}
	if text == "" && len(msg.Attachments) > 0 {
		return e.attachLoose(ctx, person, msg, r)
	}
	if person.Role != bot.RoleNurse {
		if contains(resumeWords, surveyWord(text)) {
			// 继续 a survey that is over, or never began here.
			r.say("survey.none", nil)
			return nil
		}
		r.say("cmd.unknown", nil)
		return nil
	}
	env, err := e.env(ctx)
	if err != nil {
		return err
	}
	switch dialog.Classify(env.Categories, text) {
	case dialog.IntentFault:
		return e.startIntake(ctx, person, msg, text, false, r)
	case dialog.IntentGreeting:
		r.say("dlg.greeting", nil)
	case dialog.IntentOption:
		r.say("dlg.no_question", nil)
	case dialog.IntentUnclear:
		r.say("dlg.not_a_report", nil)
	}
	return nil // courtesy: nothing to do, and a reply would only be noise
}

func (e *Engine) loadSession(ctx context.Context, chat, user string) (*session, error) {
	b, err := e.opt.Dialogues.Dialogue(ctx, member(chat, user))
	if err != nil || b == nil {
		return nil, err
	}
	var s session
	if err := json.Unmarshal(b, &s); err != nil {
		// A state from an incompatible version: start over rather than fail forever.
		e.opt.Logger.Warn("dropping unreadable session", "user", user, "err", err)
		return nil, nil
	}
	return &s, nil
}

// saveSession saves s with r's replies, the last thing a message does to
// it: a retry that finds s.MsgID its own only queues them again. The due
// time is saved with it, so a saved dialogue is never left unswept.
func (e *Engine) saveSession(ctx context.Context, s *session, r *replier) error {
	s.Replies = r.replies()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return e.opt.Dialogues.SaveDialogue(ctx, member(s.ChatID, s.UserID), b, s.Due)
}

func (e *Engine) endSession(ctx context.Context, chat, user string) error {
	return e.opt.Dialogues.EndDialogue(ctx, member(chat, user))
}

func (e *Engine) cancel(ctx context.Context, sess *session, msg bot.Message, r *replier) error {
	switch {
	case sess == nil:
		// No dialogue to stop; a ticket of hers is withdrawn by its number.
		if ts, err := e.opt.Tickets.Reported(ctx, msg.From, bot.ActiveStatuses...); err == nil && len(ts) > 0 {
			r.say("msg.withdraw_hint", map[string]any{"no": ts[0].No})
			return nil
		}
		r.say("msg.nothing_to_cancel", nil)
	case sess.Intake != nil && sess.Intake.TicketNo != "":
		// The ticket exists and stays: cancelling only stops the questions.
		r.say("dlg.cancel_after_ticket", map[string]any{"no": sess.Intake.TicketNo})
	default:
		r.say("dlg.cancelled", nil)
	}
	if sess == nil {
		return nil
	}
	return e.endSession(ctx, msg.ChatID, msg.From)
}

// commandInQuestion runs text if it is a command (or a bare ticket number)
// typed while a question waits on the person, and reports whether it was. A
// domain error is answered here, so that the caller can repeat its question
// after the reply.
func (e *Engine) commandInQuestion(ctx context.Context, person *bot.Person, msg bot.Message, text string, r *replier) (bool, error) {
	c, perr := parse(text)
	var err error
	switch {
	case perr == nil:
		err = e.command(ctx, person, msg, c, r)
	case !errors.Is(perr, errNotCommand):
		err = perr
	case bareTicketNo(text) != "":
		err = e.progress(ctx, person, msg, bareTicketNo(text), r)
	default:
		return false, nil
	}
	if err != nil {
		key, f := bot.UserText(err)
		if key == "" {
			return true, err
		}
		if key == "cmd.usage.resolve" && !person.Role.ActsOnTickets() {
			key, f = "err.engineers_only", nil
		}
		r.say(key, f)
	}
	return true, nil
}

// restartWords start a fault report afresh; they mean nothing to a survey.
var restartWords = []string{"重新开始", "restart", "重来", "重新报修"}

func (e *Engine) restart(ctx context.Context, sess *session, person *bot.Person, msg bot.Message, r *replier) error {
	if sess != nil && sess.Intake != nil && sess.Intake.TicketNo != "" {
		r.say("dlg.restart_after_ticket", map[string]any{"no": sess.Intake.TicketNo})
		return e.endSession(ctx, msg.ChatID, msg.From)
	}
	st := dialog.State{}
	if sess != nil && sess.Intake != nil {
		st = *sess.Intake
	}
	st, out := dialog.Restart(st)
	ns := &session{Intake: &st, MsgID: msg.ID, Started: e.now(), Due: e.now().Add(e.opt.DialogTimeout), ChatID: msg.ChatID, UserID: msg.From}
	r.say(out.Prompt.Key, out.Prompt.Fields)
	return e.saveSession(ctx, ns, r)
}
