package conversation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"weibao/bot"
)

// SurveyQuestion is one question of a survey, already rendered in Chinese.
type SurveyQuestion struct {
	Key    string
	Prompt string
}

// SurveyDone receives a finished survey's answers by question key.
type SurveyDone func(ctx context.Context, subject string, answers map[string]string) error

// Survey lets another package run a guided question-and-answer with a person
// (e.g. the fault analysis after a department-wide fault) without touching
// the dialogue code; Done is called once with every answer.
type Survey struct {
	Questions []SurveyQuestion
	Done      SurveyDone
}

// surveySet is the due set of requested surveys (SurveyRequests).
const surveySet = "surveys"

// SurveyRequests asks for surveys without holding the engine: a request
// waits in the sessions' due set until an engine's sweep starts it, so one
// made while the person's chat is busy (the message that resolved the
// ticket, a fault report in progress) starts on a later sweep, on whichever
// replica sweeps. Redis may lose it; the requester asks again (the fault
// analysis' daily reminder).
type SurveyRequests struct{ Sessions Sessions }

// StartSurvey queues survey name about subject for userID in chatID ("" for
// 1:1).
func (q SurveyRequests) StartSurvey(ctx context.Context, name, userID, chatID, subject string) error {
	m := strings.Join([]string{name, userID, chatKey(chatID), subject}, memberSep)
	return q.Sessions.Schedule(ctx, surveySet, m, time.Unix(0, 0))
}

// startRequested starts the queued surveys; one that cannot start yet (the
// person is busy) stays queued for the next sweep.
func (e *Engine) startRequested(ctx context.Context) error {
	due, err := e.opt.Sessions.Due(ctx, surveySet, e.now(), sweepBatch)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range due {
		f := strings.Split(m, memberSep)
		if len(f) != 4 {
			e.opt.Sessions.Unschedule(ctx, surveySet, m)
			continue
		}
		chat := f[2]
		if chat == directChatID {
			chat = ""
		}
		err := e.StartSurvey(ctx, f[0], f[1], chat, f[3])
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

type surveyState struct {
	Name    string            `json:"name"`
	Subject string            `json:"subject"`
	Index   int               `json:"index"`
	Answers map[string]string `json:"answers"`
}

// StartSurvey asks userID, in chatID ("" for 1:1), the first question of
// survey name about subject. The person's next messages there answer it; 取消
// stops it. It refuses (ErrConflict) while that person is reporting a fault
// there: a nurse's report is never interrupted.
func (e *Engine) StartSurvey(ctx context.Context, name, userID, chatID, subject string) error {
	sv, ok := e.opt.Surveys[name]
	if !ok || len(sv.Questions) == 0 {
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
	ns := &session{Survey: &surveyState{Name: name, Subject: subject, Answers: map[string]string{}}, Started: e.now(),
		ChatID: chatID, UserID: userID}
	if err := e.saveSession(ctx, ns); err != nil {
		return err
	}
	return e.opt.Outbox.Enqueue(ctx, e.surveyPrompt(ns, sv))
}

func (e *Engine) surveyPrompt(s *session, sv Survey) bot.Outgoing {
	st := s.Survey
	text := e.text("survey.question", map[string]any{"i": st.Index + 1, "n": len(sv.Questions), "q": sv.Questions[st.Index].Prompt})
	m := bot.Outgoing{Key: fmt.Sprintf("survey/%s/%s/%s/%d/%d", st.Name, st.Subject, s.UserID, s.Started.UnixMilli(), st.Index),
		Format: bot.FormatText, Text: text}
	if s.ChatID != "" {
		m.ToChat, m.Mentions = s.ChatID, []string{s.UserID}
	} else {
		m.ToUsers = []string{s.UserID}
	}
	return m
}

func (e *Engine) answerSurvey(ctx context.Context, sess *session, msg bot.Message, text string, r *replier) error {
	sv, ok := e.opt.Surveys[sess.Survey.Name]
	if !ok {
		// Registered by a build that is gone: nothing can take the answers.
		return e.endSession(ctx, sess.ChatID, sess.UserID)
	}
	if text == "" {
		r.say("survey.need_text", nil)
		return nil
	}
	st := sess.Survey
	st.Answers[sv.Questions[st.Index].Key] = text
	st.Index++
	sess.MsgID = msg.ID
	if st.Index < len(sv.Questions) {
		r.out = append(r.out, e.surveyPrompt(sess, sv))
		return e.saveSession(ctx, sess)
	}
	if err := sv.Done(ctx, st.Subject, st.Answers); err != nil {
		if errors.Is(err, bot.ErrInvalid) {
			r.say("survey.rejected", nil)
			return e.endSession(ctx, sess.ChatID, sess.UserID)
		}
		st.Index-- // ask the last question again on the retry
		return err
	}
	r.say("survey.done", nil)
	return e.endSession(ctx, sess.ChatID, sess.UserID)
}
