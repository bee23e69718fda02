package conversation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/sla/calendar"
)

// TestCommandMidDialogueIsNoAnswer: a command word typed while a question
// waits runs, and the question comes again after its reply.
func TestCommandMidDialogueIsNoAnswer(t *testing.T) {
	h := newHarness(t)
	h.expect(h.say("nurse1", medChat, "系统很卡"), "是「系统卡顿」吗")
	h.expect(h.say("nurse1", medChat, "进度"), "当前没有进行中的工单", "请回复 1 或 2：故障类型是「系统卡顿」吗？1 是 / 2 不是")
	h.expect(h.say("nurse1", medChat, "1"), "影响范围")
	againScope := "请回复数字选择影响范围：1 仅本人 / 2 本科室多台或多人 / 3 全院或多个科室"
	h.expect(h.say("nurse1", medChat, "我的"), "当前没有进行中的工单", againScope)
	h.expect(h.say("nurse1", medChat, "值班"), "当前值班：张工", againScope)
	h.expect(h.say("nurse1", medChat, "帮助"), "直接描述故障即可报修", againScope)
	h.expect(h.say("nurse1", medChat, "接单"), "该命令仅供运维工程师使用", againScope)
	h.say("nurse1", medChat, "2")
	h.say("nurse1", medChat, "3")
	tk := h.onlyTicket()
	if tk.Scope != bot.ScopeDepartment || tk.Category != "slow" || tk.Severity != bot.SeverityDaily {
		t.Errorf("ticket %s %s %s, want department slow daily", tk.Scope, tk.Category, tk.Severity)
	}
}

// TestOutOfRangeAnswersAreAskedAgain: "3" to "1 已解决 / 2 仍有问题" and "7"
// to a 1–5 rating get their question back, and change nothing.
func TestOutOfRangeAnswersAreAskedAgain(t *testing.T) {
	h := newHarness(t)
	for _, a := range []string{"系统很卡", "1", "1", "3"} {
		h.say("nurse1", medChat, a)
	}
	no := h.onlyTicket().No
	h.say("eng1", "", "已解决 "+no+" 原因:a 方案:b")
	again := "请回复 1 或 2：工单 " + no + " 的问题解决了吗？1 已解决 / 2 仍有问题"
	for _, a := range []string{"3", "0", "👍"} {
		got := h.say("nurse1", medChat, a)
		if len(got) != 1 || got[0].Text != again {
			t.Errorf("%q: got\n%s", a, render(got))
		}
	}
	if tk := h.ticket(no); tk.Status != bot.StatusResolved {
		t.Fatalf("status %s after invalid answers", tk.Status)
	}
	h.expect(h.say("nurse1", medChat, "1"), "感谢确认")
	h.expect(h.say("nurse1", medChat, "7"), "请回复 1 到 5 为工单 "+no+" 打分")
	h.expect(h.say("nurse1", medChat, "4"), "谢谢您的评价（4 分）")
	if tk := h.ticket(no); tk.Status != bot.StatusClosed || tk.Rating != 4 {
		t.Errorf("ticket %s rated %d", tk.Status, tk.Rating)
	}
}

// analysisHarness is the engine with a fault-analysis-like survey that
// records its answers, asked in the calendar's working hours.
type analysisHarness struct {
	*harness
	got  map[string]string
	open bool
}

func newAnalysisHarness(t *testing.T) *analysisHarness {
	t.Helper()
	h := &analysisHarness{harness: newHarness(t), open: true}
	h.surveys = map[string]Survey{"analysis": {
		Questions: []SurveyQuestion{{Key: "cause", Label: "原因", Prompt: "故障原因？"}, {Key: "impact", Label: "影响", Prompt: "影响范围？"},
			{Key: "conclusion", Label: "总结", Prompt: "总结与预防？"}},
		Done: func(ctx context.Context, res SurveyResult) (string, error) {
			h.got = res.Answers
			return "", nil
		},
		Open: func(context.Context, string) (bool, error) { return h.open, nil },
	}}
	h.build(t)
	cal, err := calendar.New(calendar.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	h.eng.opt.SurveyHours = cal
	return h
}

func (h *analysisHarness) request() {
	h.t.Helper()
	req := SurveyRequests{Sessions: h.sessions}
	if err := req.StartSurvey(context.Background(), "analysis", "eng1", "", "F20261126-0001", "工单 F20261126-0001 需要故障分析："); err != nil {
		h.t.Fatal(err)
	}
}

func (h *analysisHarness) tick() []bot.Outgoing {
	h.t.Helper()
	h.eng.Tick(context.Background(), nil)
	return h.drain()
}

// TestSurveyTakesNoCommands: 我的, 值班, 进度 typed during the analysis run
// and the question comes again; they are never stored as answers.
func TestSurveyTakesNoCommands(t *testing.T) {
	h := newAnalysisHarness(t)
	h.request()
	h.expect(h.tick(), "工单 F20261126-0001 需要故障分析：\n（1/3）故障原因？", "原因：… / 影响：… / 总结：…")
	h.expect(h.say("eng1", "", "我的"), "当前没有进行中的工单", "（1/3）故障原因？")
	h.expect(h.say("eng1", "", "值班"), "当前值班", "（1/3）故障原因？")
	h.expect(h.say("eng1", "", "进度"), "当前没有进行中的工单", "（1/3）故障原因？")
	h.expect(h.say("eng1", "", "F20990101-0001"), "未找到工单", "（1/3）故障原因？")
	h.expect(h.say("eng1", "", "1"), "请用文字回答", "（1/3）故障原因？")
	h.expect(h.say("eng1", "", "核心交换机电源故障"), "（2/3）影响范围？")
	h.expect(h.say("eng1", "", "帮助"), "命令", "（2/3）影响范围？")
	h.expect(h.say("eng1", "", "内科ICU 40 分钟"), "（3/3）总结与预防？")
	h.expect(h.say("eng1", "", "加电源冗余"), "谢谢，已全部记录")
	want := map[string]string{"cause": "核心交换机电源故障", "impact": "内科ICU 40 分钟", "conclusion": "加电源冗余"}
	if diff := cmp.Diff(want, h.got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

// TestSurveyWaitsForWorkingHours: a fix at 02:46 is asked at 08:00.
func TestSurveyWaitsForWorkingHours(t *testing.T) {
	h := newAnalysisHarness(t)
	h.clock.t = time.Date(2026, 11, 26, 2, 46, 0, 0, h.eng.opt.Location)
	h.request()
	if out := h.tick(); len(out) != 0 {
		t.Fatalf("asked at 02:46:\n%s", render(out))
	}
	h.clock.Advance(5 * time.Hour)
	if out := h.tick(); len(out) != 0 {
		t.Fatalf("asked at 07:46:\n%s", render(out))
	}
	h.clock.Advance(14 * time.Minute)
	h.expect(h.tick(), "需要故障分析", "（1/3）故障原因？")
	if out := h.tick(); len(out) != 0 {
		t.Errorf("asked twice:\n%s", render(out))
	}
}

// TestSurveyPausedAndAnsweredInAnyOrder: 稍后 puts the question off (asked
// again an hour later, in working hours); labelled answers come in any
// order; while paused other messages are handled as usual.
func TestSurveyPausedAndAnsweredInAnyOrder(t *testing.T) {
	h := newAnalysisHarness(t)
	h.request()
	h.tick()
	h.expect(h.say("eng1", "", "稍后"), "11-26 11:00 再问您")
	h.expect(h.say("eng1", "", "系统很好"), "没有这个命令")
	h.clock.Advance(30 * time.Minute)
	if out := h.tick(); len(out) != 0 {
		t.Fatalf("paused survey asked after 30 min:\n%s", render(out))
	}
	h.clock.Advance(31 * time.Minute)
	h.expect(h.tick(), "（1/3）故障原因？")
	h.expect(h.say("eng1", "", "影响：内科ICU 40 分钟"), "（1/3）故障原因？")
	h.expect(h.say("eng1", "", "稍后"), "再问您")
	h.expect(h.say("eng1", "", "继续"), "（1/3）故障原因？")
	h.clock.Advance(2 * time.Hour)
	if out := h.tick(); len(out) != 0 {
		t.Errorf("resumed survey asked again by the sweep:\n%s", render(out))
	}
	h.expect(h.say("eng1", "", "总结：加电源冗余；原因分析：交换机电源故障"), "谢谢，已全部记录")
	want := map[string]string{"cause": "交换机电源故障", "impact": "内科ICU 40 分钟", "conclusion": "加电源冗余"}
	if diff := cmp.Diff(want, h.got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

// TestSurveyAnsweredElsewhereEnds: once the analysis endpoint has the
// answers, a paused survey is not asked again.
func TestSurveyAnsweredElsewhereEnds(t *testing.T) {
	h := newAnalysisHarness(t)
	h.request()
	h.tick()
	h.say("eng1", "", "稍后")
	h.open = false
	h.clock.Advance(2 * time.Hour)
	if out := h.tick(); len(out) != 0 {
		t.Fatalf("answered survey asked again:\n%s", render(out))
	}
	h.expect(h.say("eng1", "", "原因：交换机"), "没有这个命令")
	if h.got != nil {
		t.Errorf("Done called with %v", h.got)
	}
}

func TestLabelled(t *testing.T) {
	sv := Survey{Questions: []SurveyQuestion{{Key: "cause", Label: "原因"}, {Key: "impact", Label: "影响"}, {Key: "conclusion", Label: "总结"}}}
	tests := []struct {
		text string
		want map[string]string
	}{
		{"原因：交换机", map[string]string{"cause": "交换机"}},
		{"原因分析: 交换机 影响范围：两个科室", map[string]string{"cause": "交换机", "impact": "两个科室"}},
		{"总结：加冗余\n原因：电源", map[string]string{"conclusion": "加冗余", "cause": "电源"}},
		{"原因是交换机", nil},
		{"交换机故障，影响：两个科室", nil},
		{"原因：交换机坏了的原因：老化", map[string]string{"cause": "交换机坏了的原因：老化"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, labelled(sv, &surveyState{}, tt.text)); diff != "" {
			t.Errorf("labelled(%q) (-want +got):\n%s", tt.text, diff)
		}
	}
}

// TestSurveyRestartIsNoAnswer: 重新开始 typed during the analysis was stored
// as its answer. It restarts only a fault report: the engineer is told how
// to pause or stop, and the question comes again.
func TestSurveyRestartIsNoAnswer(t *testing.T) {
	h := newAnalysisHarness(t)
	h.request()
	h.tick()
	got := h.say("eng1", "", "重新开始")
	h.expect(got, "「重新开始」只用于报修", "回复「稍后」暂停，「取消」停止", "（1/3）故障原因？")
	if s := render(got); strings.Contains(s, "请重新描述") {
		t.Errorf("a report was restarted:\n%s", s)
	}
	h.expect(h.say("eng1", "", "核心交换机电源故障"), "（2/3）影响范围？")
	h.say("eng1", "", "内科ICU 40 分钟")
	h.say("eng1", "", "加电源冗余")
	if h.got["cause"] != "核心交换机电源故障" {
		t.Errorf("answers %v", h.got)
	}
}

// TestResumeWithNoSurvey: 分析 / 继续 with no analysis under way is told so,
// not "没有这个命令".
func TestResumeWithNoSurvey(t *testing.T) {
	h := newAnalysisHarness(t)
	for _, w := range []string{"继续", "分析", "继续。"} {
		got := h.say("eng1", "", w)
		h.expect(got, "当前没有待回答的故障分析")
		if s := render(got); strings.Contains(s, "没有这个命令") {
			t.Errorf("%q: %s", w, s)
		}
	}
	// Once the analysis is answered, 继续 has nothing to resume either.
	h.request()
	h.tick()
	h.say("eng1", "", "原因：交换机 影响：内科ICU 总结：加冗余")
	h.expect(h.say("eng1", "", "继续"), "当前没有待回答的故障分析")
}
