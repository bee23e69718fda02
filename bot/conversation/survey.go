package conversation

import (
	"context"
	"errors"
	"fmt"

	"weibao/bot"
)

// SurveyQuestion is one question of a survey, already rendered in Chinese.
type SurveyQuestion struct {
	Key    string
	Prompt string
}

// SurveyDone receives a finished survey's answers by question key.
type SurveyDone func(ctx context.Context, subject string, answers map[string]string) error

type survey struct {
	questions []SurveyQuestion
	done      SurveyDone
}

type surveyState struct {
	Name    string            `json:"name"`
	Subject string            `json:"subject"`
	Index   int               `json:"index"`
	Answers map[string]string `json:"answers"`
}

// RegisterSurvey lets another package run a guided question-and-answer with
// a person (e.g. the fault analysis after a department-wide fault) without
// touching the dialogue code. Register before Run; done is called once with
// every answer.
func (e *Engine) RegisterSurvey(name string, questions []SurveyQuestion, done SurveyDone) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.surveys[name] = survey{questions: questions, done: done}
}

// StartSurvey asks userID, in chatID ("" for 1:1), the first question of
// survey name about subject. The person's next messages there answer it; 取消
// stops it. It refuses (ErrConflict) while that person is reporting a fault
// there: a nurse's report is never interrupted.
func (e *Engine) StartSurvey(ctx context.Context, name, userID, chatID, subject string) error {
	e.mu.RLock()
	sv, ok := e.surveys[name]
	e.mu.RUnlock()
	if !ok || len(sv.questions) == 0 {
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
	if sess != nil && sess.Report != nil {
		return fmt.Errorf("start survey %q for %s: a report is in progress: %w", name, userID, bot.ErrConflict)
	}
	ns := &session{Survey: &surveyState{Name: name, Subject: subject, Answers: map[string]string{}}, Started: e.now(),
		ChatID: chatID, UserID: userID}
	if err := e.saveSession(ctx, ns); err != nil {
		return err
	}
	return e.opt.Outbox.Enqueue(ctx, e.surveyPrompt(ns, sv))
}

func (e *Engine) surveyPrompt(s *session, sv survey) bot.Outgoing {
	st := s.Survey
	text := e.text("survey.question", map[string]any{"i": st.Index + 1, "n": len(sv.questions), "q": sv.questions[st.Index].Prompt})
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
	e.mu.RLock()
	sv, ok := e.surveys[sess.Survey.Name]
	e.mu.RUnlock()
	if !ok {
		// Registered by a build that is gone: nothing can take the answers.
		return e.endSession(ctx, sess.ChatID, sess.UserID)
	}
	if text == "" {
		r.say("survey.need_text", nil)
		return nil
	}
	st := sess.Survey
	st.Answers[sv.questions[st.Index].Key] = text
	st.Index++
	sess.MsgID = msg.ID
	if st.Index < len(sv.questions) {
		r.out = append(r.out, e.surveyPrompt(sess, sv))
		return e.saveSession(ctx, sess)
	}
	if err := sv.done(ctx, st.Subject, st.Answers); err != nil {
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
