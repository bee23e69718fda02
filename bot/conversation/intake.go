package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"weibao/bot"
	"weibao/bot/command"
	"weibao/bot/dialog"
	"weibao/bot/ticketing"
)

type parsed = command.Command

var (
	parse         = command.Parse
	normalize     = command.Normalize
	errNotCommand = command.ErrNotCommand
)

const nameArrive = command.Arrive

var bareNoRE = regexp.MustCompile(`(?i)^#?(F\d{8}-\d{4,})$`)

// bareTicketNo returns the number when the whole message is one.
func bareTicketNo(text string) string {
	if m := bareNoRE.FindStringSubmatch(text); m != nil {
		return strings.ToUpper(m[1])
	}
	return ""
}

func (e *Engine) env(ctx context.Context) (dialog.Env, error) {
	ws, err := e.opt.Directory.Wards(ctx)
	if err != nil {
		return dialog.Env{}, err
	}
	cs, err := e.opt.Directory.Categories(ctx)
	if err != nil {
		return dialog.Env{}, err
	}
	return dialog.Env{Wards: ws, Categories: cs}, nil
}

// contextWard is the ward a message comes from: the group's mapping, or in
// 1:1 the person's roster ward.
func (e *Engine) contextWard(ctx context.Context, person *bot.Person, chat string) string {
	if chat != "" {
		if w, err := e.opt.Directory.WardByChat(ctx, chat); err == nil {
			return w.Code
		}
	}
	return person.WardCode
}

// startIntake opens the dialogue; phone marks an engineer's 电话报修.
func (e *Engine) startIntake(ctx context.Context, person *bot.Person, msg bot.Message, text string, phone bool, r *replier) error {
	env, err := e.env(ctx)
	if err != nil {
		return err
	}
	st, out := dialog.Start(env, text, e.contextWard(ctx, person, msg.ChatID), msg.Attachments)
	sess := &session{Intake: &st, Phone: phone, Started: e.now(), ChatID: msg.ChatID, UserID: msg.From}
	if !out.Create {
		// The bot answers at once; the first question comes with it.
		r.say("dlg.received", nil)
		// A report ticketed at once (patient safety, hospital-wide) is never
		// held up by a lookup; the others may get a FAQ tip first.
		e.offerFAQ(ctx, person, text, r)
	}
	return e.step(ctx, env, sess, st, out, msg, r)
}

// faqWait bounds the FAQ lookup: a tip is worth less than a prompt answer.
const faqWait = 500 * time.Millisecond

// offerFAQ adds the knowledge base's FAQ tip matching a nurse's report, if
// any. The report goes on whatever the lookup does: its failure is logged.
func (e *Engine) offerFAQ(ctx context.Context, person *bot.Person, text string, r *replier) {
	if e.opt.Knowledge == nil || person.Role != bot.RoleNurse {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, faqWait)
	defer cancel()
	tip, err := e.opt.Knowledge.Offer(ctx, text)
	if err != nil {
		e.opt.Logger.Warn("faq lookup failed", "user", person.UserID, "err", err)
		return
	}
	if tip != "" {
		r.raw(tip)
	}
}

func (e *Engine) answerIntake(ctx context.Context, sess *session, person *bot.Person, msg bot.Message, text string, r *replier) error {
	env, err := e.env(ctx)
	if err != nil {
		return err
	}
	st := *sess.Intake
	if len(msg.Attachments) > 0 {
		st = dialog.Attach(st, msg.Attachments)
		if st.TicketNo != "" {
			if _, err := e.opt.Tickets.Attach(ctx, msg.From, st.TicketNo, msg.Attachments); err != nil {
				return err
			}
		}
		if text == "" {
			r.say("dlg.attachment_received", nil)
			sess.Intake, sess.MsgID = &st, msg.ID
			return e.saveSession(ctx, sess, r)
		}
	}
	st, out := dialog.Answer(env, st, text)
	return e.step(ctx, env, sess, st, out, msg, r)
}

// step acts on a dialogue outcome: say the hint, create or link the
// ticket, ask the next question, or finish.
func (e *Engine) step(ctx context.Context, env dialog.Env, sess *session, st dialog.State, out dialog.Outcome, msg bot.Message, r *replier) error {
	sess.MsgID = msg.ID
	if out.Invalid {
		r.say(out.Prompt.Key, out.Prompt.Fields)
		sess.Due = e.now().Add(e.opt.DialogTimeout)
		return e.saveSession(ctx, sess, r)
	}
	if out.Lookup {
		no, err := e.duplicateOf(ctx, st, msg.From)
		if err != nil {
			return err
		}
		st, out = dialog.Duplicate(env, st, no)
	}
	switch {
	case out.Link:
		if _, err := e.opt.Tickets.Link(ctx, msg.From, st.Duplicate, &msg); err != nil {
			return err
		}
		return e.endSession(ctx, sess.ChatID, sess.UserID)
	case out.Create:
		t, err := e.create(ctx, env, st, sess, &msg, "", false)
		if err != nil {
			return err
		}
		st.TicketNo = t.No
		sess.Created = !out.Done
	}
	if out.Done {
		if st.TicketNo != "" && !out.Create {
			// Fast path: the answers given after the ticket complete it.
			if _, err := e.opt.Tickets.Amend(ctx, msg.From, st.TicketNo, &msg, answers(st)); err != nil {
				return err
			}
		}
		return e.endSession(ctx, sess.ChatID, sess.UserID)
	}
	r.say(out.Prompt.Key, out.Prompt.Fields)
	sess.Intake, sess.Due = &st, e.now().Add(e.opt.DialogTimeout)
	return e.saveSession(ctx, sess, r)
}

// duplicateOf is the open ticket of st's ward and category reported within
// the duplicate window by someone else, "" if none: her own earlier report
// is not someone else's duplicate.
func (e *Engine) duplicateOf(ctx context.Context, st dialog.State, reporter string) (string, error) {
	dups, err := e.opt.Tickets.OpenInWard(ctx, st.WardCode, st.Category, e.now().Add(-e.opt.DuplicateWindow))
	if err != nil {
		return "", err
	}
	for _, d := range dups {
		if d.ReporterID != reporter {
			return d.No, nil
		}
	}
	return "", nil
}

// create tickets a dialogue (completed, fast path, or expired), answering
// replyTo unless it is nil; triage marks its class a guess (待分诊).
func (e *Engine) create(ctx context.Context, env dialog.Env, st dialog.State, sess *session, replyTo *bot.Message, note string, triage bool) (*bot.Ticket, error) {
	full := dialog.Fill(env, st)
	// What Fill assumed was not answered: the messages say 未确认 there.
	unconfirmed := ticketing.Unconfirmed{Scope: st.Scope == "", Category: st.Category == "", Severity: st.Severity == ""}
	ward := full.WardCode
	if ward == "" {
		// Nobody said which ward and the context does not know: the ticket
		// must exist anyway; the engineer learns the ward from the reporter.
		ward = unknownWard
	}
	return e.opt.Tickets.Intake(ctx, ticketing.IntakeInput{
		Reporter: sess.UserID, ChatID: sess.ChatID, ReplyTo: replyTo, WardCode: ward, Category: full.Category,
		Description: full.Text, Class: full.Classification(env), Attachments: full.Attachments, Note: note, Triage: triage,
		Unconfirmed: unconfirmed, ByPhone: sess.Phone,
	})
}

// unknownWard is the ward code of a report whose ward nobody could tell.
const unknownWard = "unknown"

// answers are what the nurse answered herself; a category still awaiting
// her confirmation (Guess) is not an answer.
func answers(st dialog.State) ticketing.Answers {
	return ticketing.Answers{WardCode: st.WardCode, Scope: st.Scope, Category: st.Category, Severity: st.Severity}
}

// Sweep tickets every dialogue whose nurse stopped answering, with what
// her words support (dialog.Expire), and tells her what was recorded and
// how to correct it. It returns how many it handled.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	due, err := e.opt.Dialogues.DueDialogues(ctx, e.now(), sweepBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, m := range due {
		chat, user, ok := strings.Cut(m, memberSep)
		if !ok {
			e.opt.Dialogues.EndDialogue(ctx, m)
			continue
		}
		if chat == directChatID {
			chat = ""
		}
		done, err := e.expire(ctx, chat, user)
		if err != nil {
			errs = append(errs, fmt.Errorf("expire dialogue of %s: %w", user, err))
			continue
		}
		if done {
			n++
		}
	}
	if len(errs) > 0 {
		return n, errs[0]
	}
	return n, nil
}

func (e *Engine) expire(ctx context.Context, chat, user string) (bool, error) {
	unlock, err := e.opt.Sessions.Lock(ctx, lockKey(chat, user), lockTTL, time.Second)
	if err != nil {
		return false, err
	}
	defer unlock()
	sess, err := e.loadSession(ctx, chat, user)
	if err != nil {
		return false, err
	}
	if sess == nil || sess.Intake == nil {
		return false, e.endSession(ctx, chat, user)
	}
	if sess.Due.After(e.now()) {
		return false, nil // answered meanwhile: saved with its new due time
	}
	env, err := e.env(ctx)
	if err != nil {
		return false, err
	}
	st := *sess.Intake
	r := &replier{e: e, msg: bot.Message{ID: fmt.Sprintf("timeout:%s:%s:%d", chatKey(chat), user, sess.Started.UnixMilli()), From: user, ChatID: chat}}
	switch {
	case st.TicketNo != "":
		// What she answered before falling silent still corrects the ticket.
		if _, err := e.opt.Tickets.Amend(ctx, user, st.TicketNo, nil, answers(st)); err != nil {
			return false, err
		}
	case strings.TrimSpace(st.Text) == "":
		// 重新开始 and then silence: nothing was described, nothing to ticket.
		r.say("dlg.timeout_nothing", nil)
	default:
		full, triage := dialog.Expire(env, st)
		f := map[string]any{"minutes": int(e.opt.DialogTimeout.Round(time.Minute) / time.Minute)}
		t, err := e.create(ctx, env, full, sess, nil, e.text("dlg.timeout_note", f), triage)
		if err != nil {
			return false, err
		}
		f["no"] = t.No
		r.say("dlg.timeout_created", f)
	}
	if err := r.flush(ctx); err != nil {
		return false, err
	}
	return true, e.endSession(ctx, chat, user)
}

// answerPending handles "1"/"2" to a resolution and "1"–"5" to the rating.
// It reports whether the message was such an answer.
func (e *Engine) answerPending(ctx context.Context, person *bot.Person, msg bot.Message, text string, r *replier) (bool, error) {
	yes, no := confirmAnswer(text)
	p, err := e.loadPending(ctx, msg.ChatID, msg.From)
	if err != nil {
		return false, err
	}
	if p != nil && p.Kind == "rate" {
		n, ok := dialog.ParseRating(text)
		if !ok && triedAnswer(text) {
			r.say("msg.again.rate", map[string]any{"no": p.No})
			return true, nil
		}
		e.opt.Sessions.Delete(ctx, pendingKey(msg.ChatID, msg.From))
		if ok {
			if _, err := e.opt.Tickets.Rate(ctx, msg.From, p.No, n); err != nil {
				return true, err
			}
			r.say("msg.rated", map[string]any{"no": p.No, "n": n})
			return true, nil
		}
		// The rating is optional: anything else is handled as usual.
	}
	if !yes && !no && !triedAnswer(text) {
		return false, nil
	}
	target := ""
	if p != nil && p.Kind == "confirm" {
		target = p.No
	} else {
		// Redis lost the question (or she answers elsewhere): the database
		// knows which of her tickets wait for her.
		ts, err := e.opt.Tickets.Reported(ctx, msg.From, bot.StatusResolved)
		if err != nil {
			return false, err
		}
		switch len(ts) {
		case 0:
			return false, nil
		case 1:
			target = ts[0].No
		default:
			r.say("msg.which_confirm", map[string]any{"nos": ticketNos(ts)})
			return true, nil
		}
	}
	if !yes && !no {
		r.say("msg.again.confirm", map[string]any{"no": target})
		return true, nil
	}
	if yes {
		if _, err := e.opt.Tickets.Confirm(ctx, msg.From, target, &msg); err != nil {
			return true, err
		}
		e.savePending(ctx, msg.ChatID, msg.From, pending{Kind: "rate", No: target}, ratingTTL)
		return true, nil
	}
	if _, err := e.opt.Tickets.Reopen(ctx, msg.From, target, "", &msg); err != nil {
		return true, err
	}
	e.opt.Sessions.Delete(ctx, pendingKey(msg.ChatID, msg.From))
	return true, nil
}

// confirmAnswer reads a reply to "1 已解决 / 2 仍有问题".
func confirmAnswer(text string) (yes, no bool) {
	switch strings.TrimRight(text, "。.!！") {
	case "1", "已解决", "解决了", "好了", "可以了", "确认", "确认解决", "1 已解决", "一":
		return true, false
	case "2", "仍有问题", "还有问题", "没解决", "没有解决", "未解决", "不行", "还是不行", "2 仍有问题", "二":
		return false, true
	}
	return false, false
}

// triedAnswer reports whether text, though no option, was meant as the
// answer to a numbered question: no Chinese word ("3", "7", an emoji) and no
// command. A sentence is left to the usual handling, so a new fault is never
// held up by an old question.
func triedAnswer(text string) bool {
	if text == "" || bareTicketNo(text) != "" || strings.ContainsFunc(text, func(r rune) bool { return unicode.Is(unicode.Han, r) }) {
		return false
	}
	_, err := parse(text)
	return errors.Is(err, errNotCommand)
}

func (e *Engine) loadPending(ctx context.Context, chat, user string) (*pending, error) {
	b, err := e.opt.Sessions.Load(ctx, pendingKey(chat, user))
	if err != nil || b == nil {
		return nil, err
	}
	var p pending
	if json.Unmarshal(b, &p) != nil {
		return nil, nil
	}
	return &p, nil
}

func (e *Engine) savePending(ctx context.Context, chat, user string, p pending, ttl time.Duration) {
	b, _ := json.Marshal(p)
	if err := e.opt.Sessions.Save(ctx, pendingKey(chat, user), b, ttl); err != nil {
		// The database fallback in answerPending still finds the ticket.
		e.opt.Logger.Warn("pending question not saved", "user", user, "err", err)
	}
}

// askConfirmation remembers, for each reporter, that her next "1" or "2"
// in the ticket's chat answers this resolution.
func (e *Engine) askConfirmation(ctx context.Context, t *bot.Ticket) {
	rep, err := e.opt.Tickets.Reporters(ctx, t.No)
	if err != nil {
		e.opt.Logger.Warn("reporters not loaded", "ticket", t.No, "err", err)
		return
	}
	for _, u := range rep {
		e.savePending(ctx, t.ChatID, u, pending{Kind: "confirm", No: t.No}, pendingTTL)
	}
}

// attachLoose keeps a photo sent outside a dialogue on the nurse's latest
// open ticket, or asks for words first.
func (e *Engine) attachLoose(ctx context.Context, person *bot.Person, msg bot.Message, r *replier) error {
	ts, err := e.opt.Tickets.Reported(ctx, msg.From, bot.ActiveStatuses...)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		r.say("msg.describe_first", nil)
		return nil
	}
	if _, err := e.opt.Tickets.Attach(ctx, msg.From, ts[0].No, msg.Attachments); err != nil {
		return err
	}
	r.say("msg.attached", map[string]any{"no": ts[0].No})
	return nil
}
