package dialog

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
)

var env = Env{
	Wards: []bot.Ward{{Code: "ed-icu", Name: "急诊ICU"}, {Code: "med-icu", Name: "内科ICU"}, {Code: "picu", Name: "小儿ICU"}},
	Categories: []bot.Category{
		{Code: "login", Name: "无法登录", Type: bot.TypeSoftware, Difficulty: bot.DifficultySimple, Keywords: []string{"登录", "登不上"}},
		{Code: "slow", Name: "系统卡顿", Type: bot.TypeSoftware, Difficulty: bot.DifficultyRoutine, Keywords: []string{"卡", "慢"}},
		{Code: "printing", Name: "打印问题", Type: bot.TypeTerminal, Difficulty: bot.DifficultySimple, Keywords: []string{"打印"}},
		{Code: "other", Name: "其他", Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther},
	},
}

// step is one turn: the answer typed and what must follow.
type step struct {
	answer  string
	step    Step // the question asked next ("" when none)
	invalid bool
	create  bool
	link    bool
	lookup  bool // the caller is asked for an open ticket of that ward and category
	done    bool
}

func TestDialogues(t *testing.T) {
	tests := []struct {
		name  string
		first string
		ward  string
		open  step // after the first message
		turns []step
		want  State // fields checked at the end
	}{
		{name: "full dialogue in a 1:1 with no ward", first: "电脑有问题",
			open: step{step: StepWard},
			turns: []step{{answer: "2", step: StepCategory}, {answer: "1", lookup: true, step: StepScope}, {answer: "仅本人", step: StepImpact},
				{answer: "4", done: true, create: true}},
			want: State{WardCode: "med-icu", Scope: bot.ScopePersonal, Category: "login", Severity: bot.SeverityExperience}},
		{name: "keyword match is confirmed, ward from context", first: "护士站电脑登不上重症系统", ward: "med-icu",
			open:  step{step: StepConfirm},
			turns: []step{{answer: "是", lookup: true, step: StepScope}, {answer: "本科室多台", step: StepImpact}, {answer: "影响诊疗流程", done: true, create: true}},
			want:  State{WardCode: "med-icu", Scope: bot.ScopeDepartment, Category: "login", Severity: bot.SeverityClinical}},
		{name: "rejected guess asks the list", first: "打印机打不出", ward: "picu",
			open:  step{step: StepConfirm},
			turns: []step{{answer: "不是", step: StepCategory}, {answer: "系统卡顿", lookup: true, step: StepScope}, {answer: "一", step: StepImpact}, {answer: "③", done: true, create: true}},
			want:  State{Scope: bot.ScopePersonal, Category: "slow", Severity: bot.SeverityDaily}},
		{name: "typos and nonsense are re-asked", first: "内科ICU系统很慢",
			open: step{step: StepConfirm},
			turns: []step{{answer: "hello", invalid: true, step: StepConfirm}, {answer: "7", invalid: true, step: StepConfirm},
				{answer: "嗯", lookup: true, step: StepScope}, {answer: "第1个", step: StepImpact}, {answer: "😀", invalid: true, step: StepImpact}, {answer: "2", done: true, create: true}},
			want: State{WardCode: "med-icu", Category: "slow", Severity: bot.SeverityClinical}},
		{name: "only the options shown are taken", first: "打印机打不出", ward: "picu",
			open: step{step: StepConfirm},
			turns: []step{{answer: "4", invalid: true, step: StepConfirm}, {answer: "7", invalid: true, step: StepConfirm}, {answer: "1", lookup: true, step: StepScope},
				{answer: "7", invalid: true, step: StepScope}, {answer: "1", step: StepImpact},
				{answer: "5", invalid: true, step: StepImpact}, {answer: "3", done: true, create: true}},
			want: State{Scope: bot.ScopePersonal, Category: "printing", Severity: bot.SeverityDaily}},
		// The fast path never waits on the duplicate question.
		{name: "safety words: ticket first, questions after", first: "抢救室监护数据不显示，患者在抢救", ward: "ed-icu",
			open:  step{step: StepCategory, create: true},
			turns: []step{{answer: "4", step: StepScope}, {answer: "1", done: true}},
			want:  State{Scope: bot.ScopePersonal, Severity: bot.SeverityPatientSafety, Category: "other"}},
		{name: "hospital-wide answer takes the fast path", first: "系统登不上", ward: "ed-icu",
			open:  step{step: StepConfirm},
			turns: []step{{answer: "1", lookup: true, step: StepScope}, {answer: "3", step: StepImpact, create: true}, {answer: "1", done: true}},
			want:  State{Scope: bot.ScopeHospital, Category: "login"}},
		{name: "patient safety answer takes the fast path", first: "系统卡", ward: "ed-icu",
			open:  step{step: StepConfirm},
			turns: []step{{answer: "1", lookup: true, step: StepScope}, {answer: "1", step: StepImpact}, {answer: "1", done: true, create: true}},
			want:  State{Severity: bot.SeverityPatientSafety}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, out := Start(env, tt.first, tt.ward, nil)
			check := func(label string, want step, s State, out Outcome) {
				t.Helper()
				if out.Lookup != want.lookup {
					t.Fatalf("%s: lookup %v, want %v", label, out.Lookup, want.lookup)
				}
				if out.Lookup {
					// No open ticket of that ward and category.
					s, out = Duplicate(env, s, "")
				}
				if s.Step != want.step && !(want.done && s.Step == StepDone) {
					t.Fatalf("%s: step %q, want %q", label, s.Step, want.step)
				}
				if out.Invalid != want.invalid || out.Create != want.create || out.Link != want.link || out.Done != want.done {
					t.Fatalf("%s: outcome %+v, want %+v", label, out, want)
				}
				if !out.Done && out.Prompt.Key == "" {
					t.Fatalf("%s: no prompt", label)
				}
			}
			check("start", tt.open, s, out)
			if out.Create {
				s.TicketNo = "F20261126-0001"
			}
			for _, turn := range tt.turns {
				s, out = Answer(env, s, turn.answer)
				check(turn.answer, turn, s, out)
				if out.Lookup {
					s, out = Duplicate(env, s, "")
				}
				if out.Create {
					s.TicketNo = "F20261126-0001"
				}
			}
			w := tt.want
			if (w.WardCode != "" && s.WardCode != w.WardCode) || (w.Scope != "" && s.Scope != w.Scope) ||
				(w.Category != "" && s.Category != w.Category) || (w.Severity != "" && s.Severity != w.Severity) {
				t.Errorf("final state %+v, want %+v", s, w)
			}
		})
	}
}

// answer applies a to s as the dialogue's caller does when no open ticket
// matches.
func answer(s State, a string) State {
	s, out := Answer(env, s, a)
	if out.Lookup {
		s, _ = Duplicate(env, s, "")
	}
	return s
}

func TestExpireFollowsEvidence(t *testing.T) {
	tests := []struct {
		name    string
		first   string
		answers []string
		want    State // Scope, Severity, Category checked
		triage  bool
	}{
		// Issue 13: an abandoned printer report used to be P1 by assumption.
		{"printer, nothing answered", "打印机打不出", nil,
			State{Scope: bot.ScopePersonal, Severity: bot.SeverityDaily, Category: "printing"}, true},
		{"scope answered is kept", "电脑问题", []string{"4", "2"},
			State{Scope: bot.ScopeDepartment, Severity: bot.SeverityDaily, Category: "other"}, true},
		{"category answered is kept", "电脑问题", []string{"3"},
			State{Scope: bot.ScopePersonal, Severity: bot.SeverityDaily, Category: "printing"}, true},
		{"department words count", "全科电脑都很卡", nil,
			State{Scope: bot.ScopeDepartment, Severity: bot.SeverityDaily, Category: "slow"}, true},
		{"safety answer stays safety", "电脑问题", []string{"3", "1", "1"},
			State{Scope: bot.ScopePersonal, Severity: bot.SeverityPatientSafety, Category: "printing"}, false},
		{"safety words stay safety", "抢救时打印不出", nil,
			State{Scope: bot.ScopePersonal, Severity: bot.SeverityPatientSafety, Category: "printing"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := Start(env, tt.first, "picu", nil)
			for _, a := range tt.answers {
				s = answer(s, a)
			}
			got, triage := Expire(env, s)
			if triage != tt.triage {
				t.Errorf("triage = %v, want %v", triage, tt.triage)
			}
			if got.Scope != tt.want.Scope || got.Severity != tt.want.Severity || got.Category != tt.want.Category || got.Step != StepDone {
				t.Errorf("expired: scope %s severity %s category %s step %s, want %+v", got.Scope, got.Severity, got.Category, got.Step, tt.want)
			}
		})
	}
}

// TestDuplicateAskedOnceWardAndCategoryAreKnown: issue 13 saw the duplicate
// question only after every other question; it comes right after the
// category, so a nurse whose fault is already reported is linked after two
// answers, and "no" goes on with scope and impact.
func TestDuplicateAskedOnceWardAndCategoryAreKnown(t *testing.T) {
	s, out := Start(env, "系统很慢", "picu", nil)
	if s.Step != StepConfirm {
		t.Fatalf("first question %q, want the category", s.Step)
	}
	s, out = Answer(env, s, "1")
	if !out.Lookup || out.Create || s.Category != "slow" {
		t.Fatalf("category settled: %+v %+v, want a lookup", s, out)
	}
	s, out = Duplicate(env, s, "F20261126-0002")
	if s.Step != StepDuplicate || out.Prompt.Key != "dlg.ask_duplicate" || out.Prompt.Fields["no"] != "F20261126-0002" {
		t.Fatalf("duplicate question: %+v %+v", s, out)
	}
	if _, out := Answer(env, s, "1"); !out.Link || !out.Done || out.Create {
		t.Errorf("yes: %+v", out)
	}
	no, out := Answer(env, s, "2")
	if no.Step != StepScope || out.Create || out.Link || out.Lookup || out.Done {
		t.Fatalf("no: %+v %+v, want the scope question", no, out)
	}
	no, _ = Answer(env, no, "1")
	if no, out := Answer(env, no, "3"); !out.Create || !out.Done || out.Lookup || no.Scope != bot.ScopePersonal {
		t.Errorf("after no, the last answer: %+v %+v, want the ticket without a second lookup", no, out)
	}
}

func TestRestart(t *testing.T) {
	s, _ := Start(env, "系统很慢", "picu", nil)
	s, out := Restart(s)
	if s.Step != StepDescribe || s.WardCode != "picu" {
		t.Fatalf("restart: %+v %+v", s, out)
	}
	if _, out := Answer(env, s, "ok"); !out.Invalid {
		t.Errorf("English description accepted: %+v", out)
	}
	if s, _ := Answer(env, s, "打印不出来"); s.Guess != "printing" {
		t.Errorf("after restart: %+v", s)
	}
}

func TestParseRating(t *testing.T) {
	for in, want := range map[string]int{"5": 5, "５": 5, "4分": 4, "三": 3, "6": 0, "好": 0, "": 0} {
		if got, _ := ParseRating(in); got != want {
			t.Errorf("ParseRating(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestAgainRepeatsTheQuestionOnOneLine: an answer that is not an option gets
// the same question back, its options on one line.
func TestAgainRepeatsTheQuestionOnOneLine(t *testing.T) {
	tests := []struct {
		name   string
		s      State
		answer string
		want   Prompt
	}{
		{"ward", State{Step: StepWard, Text: "电脑坏了"}, "9",
			Prompt{Key: "dlg.again.ward", Fields: map[string]any{"options": "1 急诊ICU / 2 内科ICU / 3 小儿ICU"}}},
		{"scope", State{Step: StepScope, WardCode: "picu"}, "4", Prompt{Key: "dlg.again.scope", Fields: map[string]any{}}},
		{"confirm", State{Step: StepConfirm, WardCode: "picu", Scope: bot.ScopePersonal, Guess: "printing"}, "7",
			Prompt{Key: "dlg.again.confirm", Fields: map[string]any{"category": "打印问题"}}},
		{"category", State{Step: StepCategory, WardCode: "picu", Scope: bot.ScopePersonal}, "0",
			Prompt{Key: "dlg.again.category", Fields: map[string]any{"options": "1 无法登录 / 2 系统卡顿 / 3 打印问题 / 4 其他"}}},
		{"impact", State{Step: StepImpact, WardCode: "picu", Scope: bot.ScopePersonal, Category: "slow"}, "5",
			Prompt{Key: "dlg.again.impact", Fields: map[string]any{}}},
		{"duplicate", State{Step: StepDuplicate, WardCode: "picu", Scope: bot.ScopePersonal, Category: "slow", Duplicate: "F20261126-0001"}, "3",
			Prompt{Key: "dlg.again.duplicate", Fields: map[string]any{"no": "F20261126-0001"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, out := Answer(env, tt.s, tt.answer)
			if !out.Invalid {
				t.Fatalf("%q taken: %+v", tt.answer, s)
			}
			if diff := cmp.Diff(tt.s, s); diff != "" {
				t.Errorf("state changed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, out.Prompt); diff != "" {
				t.Errorf("prompt (-want +got):\n%s", diff)
			}
		})
	}
}
