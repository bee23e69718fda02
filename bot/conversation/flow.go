package conversation

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"

	"weibao/bot"
)

// A flow is a survey someone starts by typing its word (巡检, 备份检查):
// the same questions, answer checking and state as any survey, begun at
// once in the chat the word was typed in.

// flowWord finds the survey whose word is text's first word (the whole
// text, or followed by a space) and returns its name and the rest.
func (e *Engine) flowWord(text string) (name, arg string, ok bool) {
	type w struct{ word, name string }
	var ws []w
	for n, sv := range e.opt.Surveys {
		if sv.Begin == nil {
			continue
		}
		for _, x := range sv.Words {
			ws = append(ws, w{x, n})
		}
	}
	// Longest first: 备份检查 before 备份.
	sort.Slice(ws, func(i, j int) bool { return len(ws[i].word) > len(ws[j].word) })
	for _, x := range ws {
		rest, found := strings.CutPrefix(strings.ToLower(text), strings.ToLower(x.word))
		if found && (rest == "" || rest[0] == ' ') {
			return x.name, strings.TrimSpace(text[len(x.word):]), true
		}
	}
	return "", "", false
}

// flowWords lists every flow's first word, for the help text.
func (e *Engine) flowWords() []string {
	var out []string
	for _, sv := range e.opt.Surveys {
		if sv.Begin != nil && len(sv.Words) > 0 {
			out = append(out, "「"+sv.Words[0]+"」")
		}
	}
	slices.Sort(out)
	return out
}

// startFlow begins survey name for person here, or resumes the one of the
// same subject under way; another survey under way has to end first.
func (e *Engine) startFlow(ctx context.Context, person *bot.Person, msg bot.Message, st *surveyState, name, arg string, r *replier) error {
	sv := e.opt.Surveys[name]
	start, err := sv.Begin(ctx, person, arg)
	if err != nil {
		if key, f := bot.UserText(err); key != "" && !errors.Is(err, bot.ErrUnavailable) {
			r.say(key, f)
			return nil
		}
		return err
	}
	if st != nil && (st.Name != name || st.Subject != start.Subject) {
		r.say("survey.busy", nil)
		return nil
	}
	if st == nil {
		st = &surveyState{Name: name, Subject: start.Subject, Answers: map[string]string{}, ChatID: msg.ChatID,
			UserID: msg.From, Questions: start.Questions}
		if start.Intro != "" {
			r.raw(start.Intro)
		}
	}
	return e.askSurvey(ctx, sv, st, msg, r)
}
