package conversation

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"weibao/bot"
)

// flakyOutbox fails its first fails calls (an InnoDB deadlock).
type flakyOutbox struct {
	Outbox
	fails int
}

func (o *flakyOutbox) Enqueue(ctx context.Context, msgs ...bot.Outgoing) error {
	if o.fails > 0 {
		o.fails--
		return errors.New("Error 1213: Deadlock found when trying to get lock")
	}
	return o.Outbox.Enqueue(ctx, msgs...)
}

// flakyDialogues fails its first fails saves; applied ones are written
// before the error (the commit's answer was lost on the way).
type flakyDialogues struct {
	Dialogues
	fails   int
	applied bool
}

func (s *flakyDialogues) SaveDialogue(ctx context.Context, key string, val []byte, due time.Time) error {
	if s.fails == 0 {
		return s.Dialogues.SaveDialogue(ctx, key, val, due)
	}
	s.fails--
	if s.applied {
		if err := s.Dialogues.SaveDialogue(ctx, key, val, due); err != nil {
			return err
		}
	}
	return errors.New("invalid connection")
}

// A failed attempt never suppresses the real reply of its retry: the nurse
// gets her question, and at most one "busy" notice.
func TestRetryAfterFailedAttemptStillReplies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		outbox    int  // Enqueue failures
		saves     int  // session Save failures
		applied   bool // the failed saves were written
		wantBusy  int
		wantFails int // attempts that return an error
	}{
		{name: "enqueue fails", outbox: 1, wantFails: 1},
		{name: "session save fails", saves: 2, wantBusy: 1, wantFails: 2},
		{name: "session saved but reported failed", saves: 1, applied: true, wantBusy: 1, wantFails: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.eng.opt.Outbox = &flakyOutbox{Outbox: h.db, fails: tc.outbox}
			h.eng.opt.Dialogues = &flakyDialogues{Dialogues: h.db, fails: tc.saves, applied: tc.applied}
			msg := bot.Message{ID: "retry-1", From: "nurse1", ChatID: medChat, ChatType: bot.ChatGroup, Text: "系统很卡", At: h.clock.Now()}
			var got []bot.Outgoing
			fails := 0
			for attempt := 0; attempt < 5; attempt++ {
				err := h.eng.Handle(context.Background(), msg)
				got = append(got, h.drain()...)
				if err == nil {
					break
				}
				fails++
			}
			if fails != tc.wantFails {
				t.Errorf("%d attempts failed, want %d", fails, tc.wantFails)
			}
			// The busy notice is a message of its own: the real reply is
			// never merged into it, nor dropped as its duplicate.
			questions, busy := 0, 0
			for _, m := range got {
				switch {
				case strings.Contains(m.Text, "系统繁忙"):
					busy++
				case strings.Contains(m.Text, "是「系统卡顿」吗？"):
					questions++
				}
			}
			if questions != 1 || busy != tc.wantBusy {
				t.Errorf("question sent %d times (want 1), busy notice %d (want %d); got:\n%s", questions, busy, tc.wantBusy, render(got))
			}
			// The dialogue goes on from the question she was asked.
			h.eng.opt.Outbox, h.eng.opt.Dialogues = h.db, h.db
			h.expect(h.say("nurse1", medChat, "1"), "影响范围？")
		})
	}
}

// A survey answer whose reply failed to queue is answered on its retry.
func TestSurveyRetryAfterEnqueueFailsAsksNext(t *testing.T) {
	h := newHarness(t)
	questions := []SurveyQuestion{{Key: "cause", Label: "原因", Prompt: "根本原因是什么？"}, {Key: "lesson", Label: "改进", Prompt: "有什么改进？"}}
	h.surveys = map[string]Survey{"analysis": {Questions: questions,
		Done: func(context.Context, SurveyResult) (string, error) { return "", nil }}}
	h.build(t)
	if err := h.eng.StartSurvey(context.Background(), "analysis", "eng1", "", "F20261126-0001", ""); err != nil {
		t.Fatal(err)
	}
	h.drain()
	h.eng.opt.Outbox = &flakyOutbox{Outbox: h.db, fails: 1}
	msg := bot.Message{ID: "survey-1", From: "eng1", ChatType: bot.ChatSingle, Text: "交换机端口故障", At: h.clock.Now()}
	if err := h.eng.Handle(context.Background(), msg); err == nil {
		t.Fatal("first attempt did not fail")
	}
	if err := h.eng.Handle(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	h.expect(h.drain(), "（2/2）有什么改进？")
}
