package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"weibao/bot"
	"weibao/bot/command"
)

// The survey types are the domain's flow types (bot.Flow), so that the use
// cases that define flows (records, the fault analysis) need not import the
// dialogue.
type (
	SurveyQuestion = bot.FlowQuestion
	SurveyResult   = bot.FlowResult
	SurveyDone     = bot.FlowDone
	SurveyStart    = bot.FlowStart
	Survey         = bot.Flow
)

// NoteSuffix marks the answer key of a choice's note.
const NoteSuffix = bot.NoteSuffix

// WorkingHours tells when surveys may be asked (calendar.Calendar).
type WorkingHours interface {
	// Next is the first working instant at or after t.
	Next(t time.Time) time.Time
}

// surveySet is the due set of requested surveys (SurveyRequests).
const surveySet = "surveys"

// surveyTTL keeps a survey's answers across a paused weekend.
const surveyTTL = 7 * 24 * time.Hour

// surveyPause is how long 稍后 puts a survey off (then to working hours).
const surveyPause = time.Hour

// SurveyRequests asks for surveys without holding the engine: a request
// waits in the sessions' due set until an engine's sweep starts it in
// working hours, so one made at night, or while the person's chat is busy
// (the message that resolved the ticket, a fault report in progress),
// starts on a later sweep, on whichever replica sweeps. Redis may lose it;
// the requester asks again (the fault analysis' daily reminder).
type SurveyRequests struct{ Sessions Sessions }

// StartSurvey queues survey name about subject for userID in chatID ("" for
// 1:1); intro, if any, is said before its first question.
func (q SurveyRequests) StartSurvey(ctx context.Context, name, userID, chatID, subject, intro string) error {
	return q.Sessions.Schedule(ctx, surveySet, requestMember(name, userID, chatID, subject, intro), time.Unix(0, 0))
}

func requestMember(name, user, chat, subject, intro string) string {
	f := []string{name, user, chatKey(chat), subject}
	if intro != "" {
		f = append(f, intro)
	}
	return strings.Join(f, memberSep)
}

// startRequested starts the queued surveys; one that cannot start yet (out
// of working hours, the person is busy) stays queued for a later sweep.
func (e *Engine) startRequested(ctx context.Context) error {
	now := e.now()
	due, err := e.opt.Sessions.Due(ctx, surveySet, now, sweepBatch)
	if err != nil {
		return err
	}
	at := e.workingAt(now)
	var errs []error
	for _, m := range due {
		f := strings.Split(m, memberSep)
		if len(f) != 4 && len(f) != 5 {
			e.opt.Sessions.Unschedule(ctx, surveySet, m)
			continue
		}
		if at.After(now) {
			// Nobody is asked at night: the request waits for the morning.
			if err := e.opt.Sessions.Schedule(ctx, surveySet, m, at); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		chat := f[2]
		if chat == directChatID {
			chat = ""
		}
		intro := ""
		if len(f) == 5 {
			intro = f[4]
		}
		err := e.StartSurvey(ctx, f[0], f[1], chat, f[3], intro)
		switch {
		case errors.Is(err, bot.ErrConflict):
			continue
		case err != nil && !errors.Is(err, bot.ErrNotFound):
			errs = append(errs, fmt.Errorf("start survey %s for %s: %w", f[0], f[1], err))
			continue
		}
		if err := e.opt.Sessions.Unschedule(ctx, surveySet, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// workingAt is the first instant at or after t a survey may be asked.
func (e *Engine) workingAt(t time.Time) time.Time {
	if e.opt.SurveyHours == nil {
		return t
	}
	return e.opt.SurveyHours.Next(t)
}

// surveyState is a person's survey in progress, kept apart from the fault
// report's session so that neither ever overwrites the other.
type surveyState struct {
	Name    string            `json:"name"`
	Subject string            `json:"subject"`
	Answers map[string]string `json:"answers"`
	// Asking is the key of the question asked; "" while paused (稍后).
	Asking string `json:"asking,omitempty"`
	MsgID  string `json:"msg,omitempty"` // the last message handled, for redeliveries
	// Replies are what MsgID was answered, as session.Replies.
	Replies []bot.Outgoing `json:"replies,omitempty"`
	ChatID  string         `json:"chat,omitempty"`
	UserID  string         `json:"user"`
	// Questions are the ones Begin chose; nil: the survey's own.
	Questions []SurveyQuestion `json:"questions,omitempty"`
}

// questions are the questions st asks.
func questions(sv Survey, st *surveyState) []SurveyQuestion {
	if st.Questions != nil {
		return st.Questions
	}
	return sv.Questions
}

func surveyKey(chat, user string) string { return "v:" + chatKey(chat) + ":" + user }

func (e *Engine) loadSurvey(ctx context.Context, chat, user string) (*surveyState, error) {
	b, err := e.opt.Sessions.Load(ctx, surveyKey(chat, user))
	if err != nil || b == nil {
		return nil, err
	}
	var s surveyState
	if err := json.Unmarshal(b, &s); err != nil {
		e.opt.Logger.Warn("dropping unreadable survey", "user", user, "err", err)
		return nil, nil
	}
	return &s, nil
}

// saveSurvey saves s, with r's replies when r answers s.MsgID (nil when
// no message is answered).
func (e *Engine) saveSurvey(ctx context.Context, s *surveyState, r *replier) error {
	if r != nil && r.msg.ID == s.MsgID {
		s.Replies = r.replies()
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return e.opt.Sessions.Save(ctx, surveyKey(s.ChatID, s.UserID), b, surveyTTL)
}

// endSurvey forgets the survey and any request queued for it.
func (e *Engine) endSurvey(ctx context.Context, s *surveyState) error {
	if err := e.opt.Sessions.Delete(ctx, surveyKey(s.ChatID, s.UserID)); err != nil {
		return err
	}
	return e.opt.Sessions.Unschedule(ctx, surveySet, requestMember(s.Name, s.UserID, s.ChatID, s.Subject, ""))
}

// StartSurvey asks userID, in chatID ("" for 1:1), the next unanswered
// question of survey name about subject, after intro if any; a survey of the
// same subject already under way keeps its answers (a reminder resumes it).
// The person's next messages there answer it; 稍后 pauses it, 取消 stops it.
// It refuses (ErrConflict) while that person is reporting a fault there (a
// nurse's report is never interrupted) or is in another survey.
func (e *Engine) StartSurvey(ctx context.Context, name, userID, chatID, subject, intro string) error {
	sv, ok := e.opt.Surveys[name]
	if !ok || (len(sv.Questions) == 0 && sv.Begin == nil) {
		return fmt.Errorf("start survey %q: %w", name, bot.ErrNotFound)
	}
	unlock, err := e.opt.Sessions.Lock(ctx, lockKey(chatID, userID), lockTTL, lockWait)
	if err != nil {
		return err
	}
	defer unlock()
	sess, err := e.loadSession(ctx, chatID, userID)
	if err != nil {
		return err
	}
	if sess != nil && sess.Intake != nil {
		return fmt.Errorf("start survey %q for %s: a report is in progress: %w", name, userID, bot.ErrConflict)
	}
	st, err := e.loadSurvey(ctx, chatID, userID)
	if err != nil {
		return err
	}
	if st != nil && (st.Name != name || st.Subject != subject) {
		return fmt.Errorf("start survey %q for %s: survey %q about %s is in progress: %w", name, userID, st.Name, st.Subject, bot.ErrConflict)
	}
	if st == nil {
		st = &surveyState{Name: name, Subject: subject, Answers: map[string]string{}, ChatID: chatID, UserID: userID}
	}
	if sv.Open != nil {
		open, err := sv.Open(ctx, subject)
		if err != nil {
			return err
		}
		if !open {
			return e.endSurvey(ctx, st)
		}
	}
	q, ok := nextQuestion(sv, st)
	if !ok {
		return nil
	}
	st.Asking = q.Key
	if err := e.saveSurvey(ctx, st, nil); err != nil {
		return err
	}
	text := e.surveyQuestion(sv, st, q)
	if intro != "" {
		text = intro + "\n" + text
	}
	m := bot.Outgoing{Key: fmt.Sprintf("survey/%s/%s/%s/%d/%s", name, subject, userID, e.now().UnixMilli(), q.Key),
		Format: bot.FormatText, Text: text}
	if chatID != "" {
		m.ToChat, m.Mentions = chatID, []string{userID}
	} else {
		m.ToUsers = []string{userID}
	}
	return e.opt.Outbox.Enqueue(ctx, m)
}

// nextQuestion is the first question not yet answered.
func nextQuestion(sv Survey, st *surveyState) (SurveyQuestion, bool) {
	for _, q := range questions(sv, st) {
		if _, ok := st.Answers[q.Key]; !ok {
			return q, true
		}
	}
	return SurveyQuestion{}, false
}

func (e *Engine) surveyQuestion(sv Survey, st *surveyState, q SurveyQuestion) string {
	qs := questions(sv, st)
	i := 0
	var labels []string
	for j, x := range qs {
		if x.Key == q.Key {
			i = j
		}
		if x.Label != "" && x.Choices == nil {
			labels = append(labels, x.Label+"：…")
		}
	}
	f := map[string]any{"i": i + 1, "n": len(qs), "q": q.Prompt, "labels": strings.Join(labels, " / ")}
	switch {
	case q.Choices != nil:
		f["choices"] = choiceList(q.Choices)
		return e.text("survey.question_choice", f)
	case len(labels) == 0:
		return e.text("survey.question_plain", f)
	}
	return e.text("survey.question", f)
}

// choiceList renders choices numbered: "1 正常 / 2 异常".
func choiceList(cs []string) string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%d %s", i+1, c)
	}
	return strings.Join(out, " / ")
}

// readChoice reads an answer to a choice question: a choice's word or
// number at the start, then the note. ok is false for anything else.
func readChoice(q SurveyQuestion, text string) (choice, note string, ok bool) {
	for i, c := range q.Choices {
		for _, w := range []string{c, strconv.Itoa(i + 1)} {
			rest, found := strings.CutPrefix(text, w)
			if !found {
				continue
			}
			r, _ := utf8.DecodeRuneInString(rest)
			if rest != "" && !unicode.IsSpace(r) && !strings.ContainsRune(":：,，;；.。、-", r) {
				continue // "12" is no "1", "异常情况" is a word of its own
			}
			note = strings.TrimSpace(strings.TrimLeft(rest, ":：,，;；.。、- "))
			return c, note, true
		}
	}
	return "", "", false
}

// Words that steer a survey rather than answer it.
var (
	pauseWords  = []string{"稍后", "晚点", "等会", "等一下", "later"}
	resumeWords = []string{"分析", "继续", "continue"}
	stopWords   = []string{"取消", "cancel", "算了"}
)

// onSurvey handles a message from a person with a survey under way and no
// fault report in progress. It reports whether the message was the
// survey's; a paused survey lets everything but its own words through.
func (e *Engine) onSurvey(ctx context.Context, person *bot.Person, st *surveyState, msg bot.Message, text string, r *replier) (bool, error) {
	sv, ok := e.opt.Surveys[st.Name]
	if !ok {
		// Registered by a build that is gone: nothing can take the answers.
		return false, e.endSurvey(ctx, st)
	}
	word := surveyWord(text)
	switch {
	case contains(stopWords, word):
		r.say("survey.cancelled", nil)
		return true, e.endSurvey(ctx, st)
	case contains(pauseWords, word):
		at := e.workingAt(e.now().Add(surveyPause))
		st.Asking, st.MsgID = "", msg.ID
		r.say("survey.paused", map[string]any{"at": at.In(e.opt.Location).Format("01-02 15:04")})
		// Scheduled before the save: a retry that finds the save only
		// repeats the reply.
		if err := e.opt.Sessions.Schedule(ctx, surveySet, requestMember(st.Name, st.UserID, st.ChatID, st.Subject, ""), at); err != nil {
			return true, err
		}
		return true, e.saveSurvey(ctx, st, r)
	case contains(resumeWords, word):
		return true, e.askSurvey(ctx, sv, st, msg, r)
	case contains(restartWords, word) && st.Asking != "":
		// Restarting is for a fault report; an answer it is not.
		r.say("survey.no_restart", nil)
		r.raw(e.surveyQuestion(sv, st, askedQuestion(sv, st)))
		return true, nil
	}
	if name, arg, ok := e.flowWord(text); ok && st.Asking != "" {
		// Another flow's word is a command, never an answer: this one
		// has to end first; its own bare word only asks the question again.
		if name != st.Name || arg != "" {
			r.say("survey.busy", nil)
		}
		r.raw(e.surveyQuestion(sv, st, askedQuestion(sv, st)))
		st.MsgID = msg.ID
		return true, e.saveSurvey(ctx, st, r)
	}
	if got := labelled(sv, st, text); len(got) > 0 {
		for k, v := range got {
			st.Answers[k] = v
		}
		return true, e.askSurvey(ctx, sv, st, msg, r)
	}
	if st.Asking == "" {
		return false, nil
	}
	if handled, err := e.commandInQuestion(ctx, person, msg, text, r); handled || err != nil {
		if err == nil {
			if c, perr := parse(text); perr == nil && c.Name == command.Report {
				// A fault report now owns the chat; the survey resumes after it.
				st.Asking = ""
				if err := e.saveSurvey(ctx, st, nil); err != nil {
					return true, err
				}
				return true, e.opt.Sessions.Schedule(ctx, surveySet, requestMember(st.Name, st.UserID, st.ChatID, st.Subject, ""), time.Unix(0, 0))
			}
			r.raw(e.surveyQuestion(sv, st, askedQuestion(sv, st)))
		}
		return true, err
	}
	q := askedQuestion(sv, st)
	if q.Key != st.Asking {
		st.Asking = q.Key // the questions changed under a saved state
	}
	if hint := e.answer(ctx, sv, q, st, text); hint != "" {
		r.say(hint, map[string]any{"choices": choiceList(q.Choices)})
		r.raw(e.surveyQuestion(sv, st, q))
		return true, nil
	}
	return true, e.askSurvey(ctx, sv, st, msg, r)
}

// answer records text as the answer to q, or returns the catalogue key of
// the hint to give when it answers nothing.
func (e *Engine) answer(ctx context.Context, sv Survey, q SurveyQuestion, st *surveyState, text string) string {
	if q.Optional && contains([]string{"无", "没有", "跳过", "skip"}, surveyWord(text)) {
		st.Answers[q.Key] = ""
		return ""
	}
	if q.Choices == nil {
		hint, vetted := "", false
		if sv.Check != nil {
			hint, vetted = sv.Check(ctx, q.Key, text)
		}
		if !vetted && !wordy(text) {
			hint = "survey.need_text"
		}
		if hint != "" {
			return hint
		}
		st.Answers[q.Key] = text
		return ""
	}
	c, note, ok := readChoice(q, text)
	switch {
	case !ok:
		return "survey.need_choice"
	case note == "" && contains(q.NoteFor, c) && q.Note == "":
		return "survey.need_note"
	case note == "":
		note = q.Note
	}
	st.Answers[q.Key] = c
	if note != "" {
		st.Answers[q.Key+NoteSuffix] = note
	}
	return ""
}

// surveyWord is text as compared with the words that steer a survey.
func surveyWord(text string) string { return strings.ToLower(strings.TrimRight(text, "。.!！~")) }

func askedQuestion(sv Survey, st *surveyState) SurveyQuestion {
	for _, q := range questions(sv, st) {
		if q.Key == st.Asking {
			return q
		}
	}
	q, _ := nextQuestion(sv, st)
	return q
}

// askSurvey asks the next unanswered question, or hands the answers to Done
// when none is left.
func (e *Engine) askSurvey(ctx context.Context, sv Survey, st *surveyState, msg bot.Message, r *replier) error {
	st.MsgID = msg.ID
	if q, ok := nextQuestion(sv, st); ok {
		st.Asking = q.Key
		if err := e.opt.Sessions.Unschedule(ctx, surveySet, requestMember(st.Name, st.UserID, st.ChatID, st.Subject, "")); err != nil {
			return err
		}
		r.raw(e.surveyQuestion(sv, st, q))
		return e.saveSurvey(ctx, st, r)
	}
	reply, err := sv.Done(ctx, SurveyResult{UserID: st.UserID, ChatID: st.ChatID, Subject: st.Subject,
		Answers: st.Answers, MsgID: msg.ID})
	if err != nil {
		if errors.Is(err, bot.ErrInvalid) {
			if key, f := bot.UserText(err); key != "" {
				r.say(key, f)
			} else {
				r.say("survey.rejected", nil)
			}
			return e.endSurvey(ctx, st)
		}
		return err // nothing saved: the retried message answers again
	}
	if reply == "" {
		reply = e.text("survey.done", nil)
	}
	r.raw(reply)
	return e.endSurvey(ctx, st)
}

// labelled reads answers written as "原因：… 影响：…": the message starts
// with a label and its colon (within a few characters: "原因分析：" is 原因),
// and each label after a break starts the answer to its question, which runs
// to the next label.
func labelled(sv Survey, st *surveyState, text string) map[string]string {
	type mark struct {
		at, end int
		key     string
	}
	var ms []mark
	for _, q := range questions(sv, st) {
		if q.Label == "" || q.Choices != nil {
			continue
		}
		for from := 0; ; {
			i := strings.Index(text[from:], q.Label)
			if i < 0 {
				break
			}
			i += from
			from = i + len(q.Label)
			if !separator(text[:i]) {
				continue // inside a sentence: "…的原因：" is no label
			}
			n := 0
			for k, r := range text[from:] {
				if r == ':' || r == '：' {
					ms = append(ms, mark{i, from + k + utf8.RuneLen(r), q.Key})
					break
				}
				if n++; n > 4 {
					break
				}
			}
		}
	}
	slices.SortFunc(ms, func(a, b mark) int { return a.at - b.at })
	if len(ms) == 0 || ms[0].at != 0 {
		return nil
	}
	out := map[string]string{}
	for i, m := range ms {
		stop := len(text)
		if i+1 < len(ms) {
			stop = ms[i+1].at
		}
		if v := strings.Trim(strings.TrimSpace(text[m.end:stop]), "，,；;"); v != "" {
			out[m.key] = v
		}
	}
	return out
}

// separator reports whether a label after before starts an answer: at the
// start, after a space or a clause break.
func separator(before string) bool {
	r, _ := utf8.DecodeLastRuneInString(before)
	return before == "" || unicode.IsSpace(r) || strings.ContainsRune("；;。，,", r)
}

// wordy reports whether text can answer a survey question: words, not a
// bare number, emoji or punctuation.
func wordy(text string) bool {
	n := 0
	for _, r := range text {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n >= 2
}
