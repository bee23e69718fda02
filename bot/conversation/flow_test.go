package conversation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
)

// checkHarness is the engine with a flow started by its word: a choice
// question, a choice that needs a note, an optional free-text question.
func checkHarness(t *testing.T) (*harness, *[]SurveyResult) {
	h := newHarness(t)
	var got []SurveyResult
	h.surveys = map[string]Survey{"check": {
		Words: []string{"检查", "check"},
		Begin: func(_ context.Context, p *bot.Person, arg string) (SurveyStart, error) {
			if !p.Role.ActsOnTickets() {
				return SurveyStart{}, bot.Errorf(bot.ErrForbidden, "err.engineers_only", nil, "engineers only")
			}
			return SurveyStart{Subject: "sys-" + arg, Intro: "开始检查 " + arg, Questions: []SurveyQuestion{
				{Key: "cpu", Prompt: "CPU？", Choices: []string{"正常", "异常"}, NoteFor: []string{"异常"}, Note: "CPU 23%"},
				{Key: "disk", Prompt: "磁盘？", Choices: []string{"正常", "异常"}, NoteFor: []string{"异常"}},
				{Key: "feedback", Prompt: "反馈？", Optional: true},
			}}, nil
		},
		Done: func(_ context.Context, res SurveyResult) (string, error) {
			got = append(got, res)
			return "已保存 " + res.Subject, nil
		},
	}}
	h.build(t)
	return h, &got
}

func TestFlowAnswerChecking(t *testing.T) {
	h, got := checkHarness(t)
	h.expect(h.say("nurse1", medChat, "检查"), "仅") // engineers only, in the catalogue's words
	h.expect(h.say("eng1", "", "检查 db"), "开始检查 db", "（1/3）CPU？", "1 正常 / 2 异常")
	steps := []struct{ say, want string }{
		{"好的", "没有看懂这个回答"},  // not a choice: re-asked with the choices
		{"12", "没有看懂这个回答"},  // a number that is no choice
		{"我的", "（1/3）CPU？"}, // a command runs, then the question again
		{"检查", "（1/3）CPU？"}, // its own word asks again, never stored
		{"1", "（2/3）磁盘？"},   // by number; the figure is the note
		{"异常", "请在选项后写明情况"}, // an anomaly needs its note
		{"异常：磁盘 92%", "（3/3）反馈？"},
		{"无", "已保存 sys-db"}, // optional
	}
	for _, s := range steps {
		h.expect(h.say("eng1", "", s.say), s.want)
	}
	want := []SurveyResult{{UserID: "eng1", Subject: "sys-db", MsgID: "m10", Answers: map[string]string{
		"cpu": "正常", "cpu.note": "CPU 23%", "disk": "异常", "disk.note": "磁盘 92%", "feedback": ""}}}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("finished flow (-want +got):\n%s", diff)
	}
	// Over: the word starts a fresh one.
	h.expect(h.say("eng1", "", "检查 app"), "开始检查 app")
	h.expect(h.say("eng1", "", "取消"), "已停止")
}

func TestFlowBusyAndHelp(t *testing.T) {
	h, _ := checkHarness(t)
	h.say("eng1", "", "检查 db")
	// Another subject's flow waits until this one ends.
	h.expect(h.say("eng1", "", "检查 app"), "尚未完成", "（1/3）CPU？")
	// The same flow in another chat is another conversation.
	if out := render(h.say("eng1", medChat, "帮助")); !strings.Contains(out, "维护记录：「检查」") {
		t.Errorf("help lacks the flows:\n%s", out)
	}
	// A restart (replica) resumes where it stood.
	h.build(t)
	h.expect(h.say("eng1", "", "正常"), "（2/3）磁盘？")
}

// TestFlowPauseResumes: 稍后 puts a flow off an hour; the sweep asks its
// question again then, with its own questions (Begin's, kept in the state).
func TestFlowPauseResumes(t *testing.T) {
	h, _ := checkHarness(t)
	ctx := context.Background()
	h.say("eng1", "", "检查 db")
	h.say("eng1", "", "1")
	h.expect(h.say("eng1", "", "稍后"), "再问您")
	h.eng.Tick(ctx, nil)
	if out := h.drain(); len(out) != 0 {
		t.Fatalf("asked before the hour:\n%s", render(out))
	}
	h.clock.Advance(61 * time.Minute)
	h.eng.Tick(ctx, nil)
	h.expect(h.drain(), "（2/3）磁盘？")
	h.expect(h.say("eng1", "", "正常"), "（3/3）反馈？")
}
