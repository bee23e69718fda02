// Package dialog is the guided fault report: pure transitions from a state
// and a nurse's answer to the next state and what to say. It asks at most
// four questions (ward, category, scope, clinical impact), skips what the
// first message or the context already answered, and says when the ticket
// must be created: at once on the safety fast path, else after the last
// answer. Once ward and category are known it has the caller look for an
// open report of the same fault, so a nurse whose fault is already reported
// is linked to it before the other questions. Storage, tickets and wording
// live elsewhere; prompts are catalogue keys with fields.
package dialog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"weibao/bot"
	"weibao/bot/command"
)

// Step is the question the dialogue waits on.
type Step string

const (
	StepDescribe  Step = "describe"  // after 重新开始: waiting for a fresh description
	StepWard      Step = "ward"      // which ward
	StepScope     Step = "scope"     // 仅本人 / 本科室 / 全院
	StepConfirm   Step = "confirm"   // "是「无法登录」吗？"
	StepCategory  Step = "category"  // pick from the catalogue
	StepImpact    Step = "impact"    // clinical impact
	StepDuplicate Step = "duplicate" // "是否与 F… 为同一故障？"
	StepDone      Step = "done"
)

// State is one report in progress. It is stored (JSON) between messages.
type State struct {
	Step        Step             `json:"step"`
	Text        string           `json:"text"`
	WardCode    string           `json:"ward,omitempty"`
	Scope       bot.Scope        `json:"scope,omitempty"`
	Category    string           `json:"category,omitempty"`
	Guess       string           `json:"guess,omitempty"` // keyword match awaiting confirmation
	Severity    bot.Severity     `json:"severity,omitempty"`
	Emergency   bool             `json:"emergency,omitempty"`
	Attachments []bot.Attachment `json:"attachments,omitempty"`
	// TicketNo is set once the ticket exists (fast path): later answers
	// complete it instead of creating one.
	TicketNo string `json:"ticket,omitempty"`
	// Duplicate is the open ticket the nurse is asked about in StepDuplicate.
	Duplicate string `json:"duplicate,omitempty"`
	// DupChecked is set once the open tickets were looked up, so that the
	// duplicate question is asked at most once.
	DupChecked bool `json:"dup_checked,omitempty"`
}

// Env is the context a dialogue reads: the configured wards and categories.
type Env struct {
	Wards      []bot.Ward
	Categories []bot.Category
}

// Prompt is what to say: a catalogue key and its fields.
type Prompt struct {
	Key    string
	Fields map[string]any
}

// Outcome tells the caller what to do after a transition.
type Outcome struct {
	// Prompt is the next question, or the one-line hint when Invalid.
	Prompt Prompt
	// Invalid means the answer was not understood; the state is unchanged.
	Invalid bool
	// Create asks for the ticket to be created now. On the safety fast path
	// it comes before the remaining questions (Done is then false).
	Create bool
	// Link means the nurse confirmed her report is State.Duplicate.
	Link bool
	// Lookup asks the caller for an open ticket of State's ward and
	// category; it answers with Duplicate.
	Lookup bool
	// Done means no question is left.
	Done bool
}

// FastPath reports whether the report must be ticketed and paged before any
// further question (architecture invariant 6).
func (s State) FastPath() bool {
	return s.Severity == bot.SeverityPatientSafety || s.Scope == bot.ScopeHospital || s.Emergency
}

var (
	safetyWords    = []string{"抢救", "患者", "病人", "危急", "生命", "心跳", "呼吸停"}
	emergencyWords = []string{"紧急", "急救", "马上", "立刻", "urgent", "emergency"}
	hospitalWords  = []string{"全院", "所有科室", "多个科室", "整个医院", "各科室", "其他科室也"}
	departmentWord = []string{"全科", "整个科室", "本科室", "科室所有", "所有电脑", "多台", "大家都", "都登不上", "都打不开"}
)

func containsAny(s string, words []string) bool {
	s = strings.ToLower(s)
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// Start begins a report from the nurse's first message. ward is the ward
// known from context (the group's mapping or her roster ward), "" if none.
func Start(env Env, text string, ward string, attachments []bot.Attachment) (State, Outcome) {
	s := State{Text: strings.TrimSpace(text), WardCode: ward, Attachments: attachments}
	if s.WardCode == "" {
		s.WardCode = matchWard(env.Wards, s.Text)
	}
	switch {
	case containsAny(s.Text, hospitalWords):
		s.Scope = bot.ScopeHospital
	case containsAny(s.Text, departmentWord):
		s.Scope = bot.ScopeDepartment
	}
	if containsAny(s.Text, safetyWords) {
		s.Severity = bot.SeverityPatientSafety
	}
	s.Emergency = containsAny(s.Text, emergencyWords)
	if c, ok := guessCategory(env.Categories, corrected(s.Text)); ok {
		s.Guess = c
	}
	return s.next(env, true)
}

// Restart forgets everything but the ward and waits for a new description.
func Restart(s State) (State, Outcome) {
	return State{Step: StepDescribe, WardCode: s.WardCode}, Outcome{Prompt: Prompt{Key: "dlg.describe"}}
}

// Duplicate answers Outcome.Lookup with the open ticket of the same ward and
// category, "" when there is none: the nurse is asked whether hers is the
// same fault, or the questions go on.
func Duplicate(env Env, s State, no string) (State, Outcome) {
	s.DupChecked = true
	if no == "" {
		return s.next(env, false)
	}
	s.Step, s.Duplicate = StepDuplicate, no
	return s, Outcome{Prompt: Prompt{Key: "dlg.ask_duplicate", Fields: map[string]any{"no": no}}}
}

// Attach keeps a photo or file sent mid-dialogue.
func Attach(s State, a []bot.Attachment) State {
	s.Attachments = append(slices.Clone(s.Attachments), a...)
	return s
}

// next decides what to ask after a change. first is true for the opening
// message, when a fast path creates before anything is asked.
func (s State) next(env Env, first bool) (State, Outcome) {
	if s.FastPath() && s.TicketNo == "" {
		// Ticket first, questions after. The caller creates and sets
		// TicketNo, then calls Resume for the remaining question.
		if s.Category == "" && s.Guess != "" && first {
			s.Category, s.Guess = s.Guess, ""
		}
		st, out := s.ask(env)
		out.Create = true
		return st, out
	}
	return s.ask(env)
}

// Resume asks the question the state waits on, e.g. after the fast-path
// ticket was created or after a restart of the process.
func Resume(env Env, s State) (State, Outcome) { return s.ask(env) }

func (s State) ask(env Env) (State, Outcome) {
	switch {
	case s.WardCode == "":
		s.Step = StepWard
		return s, Outcome{Prompt: Prompt{Key: "dlg.ask_ward", Fields: map[string]any{"options": wardOptions(env.Wards, "\n")}}}
	case s.Category == "" && s.Guess != "":
		s.Step = StepConfirm
		return s, Outcome{Prompt: Prompt{Key: "dlg.confirm_category", Fields: map[string]any{"category": categoryName(env.Categories, s.Guess)}}}
	case s.Category == "":
		s.Step = StepCategory
		return s, Outcome{Prompt: Prompt{Key: "dlg.ask_category", Fields: map[string]any{"options": categoryOptions(env.Categories, "\n")}}}
	case s.TicketNo == "" && !s.DupChecked && !s.FastPath():
		// Ward and category are known: the same fault may already be
		// reported. A fast-path ticket exists or is being created; it
		// never waits on this question.
		return s, Outcome{Lookup: true}
	case s.Scope == "":
		s.Step = StepScope
		return s, Outcome{Prompt: Prompt{Key: "dlg.ask_scope"}}
	case s.Severity == "":
		s.Step = StepImpact
		return s, Outcome{Prompt: Prompt{Key: "dlg.ask_impact"}}
	}
	s.Step = StepDone
	return s, Outcome{Done: true, Create: s.TicketNo == ""}
}

// Answer applies the nurse's reply to the question s waits on.
func Answer(env Env, s State, text string) (State, Outcome) {
	a := command.Normalize(text)
	invalid := func() (State, Outcome) { return s, Again(env, s) }
	switch s.Step {
	case StepDescribe:
		if Classify(env.Categories, a) != IntentFault {
			return s, Outcome{Invalid: true, Prompt: Prompt{Key: "dlg.not_a_report"}}
		}
		return Start(env, a, s.WardCode, s.Attachments)
	case StepWard:
		w := ""
		if n, ok := choice(a, len(env.Wards)); ok {
			w = env.Wards[n-1].Code
		} else {
			w = matchWard(env.Wards, a)
		}
		if w == "" {
			return invalid()
		}
		s.WardCode = w
	case StepScope:
		sc, ok := parseScope(a)
		if !ok {
			return invalid()
		}
		s.Scope = sc
	case StepConfirm:
		yes, ok := yesNo(a)
		if !ok {
			// Naming another category answers the question too; a number
			// is not a name: "7" to "1 是 / 2 不是" is no item of a list
			// she never saw.
			if c, ok := namedCategory(env.Categories, a); ok {
				s.Category, s.Guess = c, ""
				break
			}
			return invalid()
		}
		if yes {
			s.Category = s.Guess
		}
		s.Guess = ""
	case StepCategory:
		c, ok := pickCategory(env.Categories, a)
		if !ok {
			return invalid()
		}
		s.Category = c
	case StepImpact:
		sev, ok := parseImpact(a)
		if !ok {
			return invalid()
		}
		s.Severity = sev
	case StepDuplicate:
		yes, ok := yesNo(a)
		if !ok {
			return invalid()
		}
		s.DupChecked = true
		if yes {
			s.Step = StepDone
			return s, Outcome{Link: true, Done: true}
		}
		// Not the same fault: the remaining questions follow.
	default:
		return s, Outcome{Done: true}
	}
	return s.next(env, false)
}

// Again re-asks the question s waits on with its options on one line: the
// answer to an invalid reply, and the question repeated after a command
// typed mid-dialogue.
func Again(env Env, s State) Outcome {
	f := map[string]any{}
	switch s.Step {
	case StepDescribe:
		return Outcome{Invalid: true, Prompt: Prompt{Key: "dlg.describe"}}
	case StepWard:
		f["options"] = wardOptions(env.Wards, " / ")
	case StepConfirm:
		f["category"] = categoryName(env.Categories, s.Guess)
	case StepCategory:
		f["options"] = categoryOptions(env.Categories, " / ")
	case StepDuplicate:
		f["no"] = s.Duplicate
	}
	return Outcome{Invalid: true, Prompt: Prompt{Key: "dlg.again." + string(s.Step), Fields: f}}
}

// Expire completes an abandoned dialogue with what its evidence supports.
// Safety words or a safety answer already made it a fast-path ticket; any
// other report keeps what was said and, for each question left open, the
// least it could be: the category the keywords suggest (or 其他), one
// person, daily work. Such a class is a guess, so triage is true: the
// engineer confirms it, and no phone rings on it.
func Expire(env Env, s State) (st State, triage bool) {
	triage = !s.FastPath()
	if s.Category == "" {
		s.Category = s.Guess
	}
	if s.Category == "" {
		s.Category = fallbackCategory(env.Categories)
	}
	if s.Scope == "" {
		s.Scope = bot.ScopePersonal
	}
	if s.Severity == "" {
		s.Severity = bot.SeverityDaily
	}
	s.Guess, s.Step = "", StepDone
	return s, triage
}

// Fill returns the state with the fast path's assumptions for questions not
// yet answered: the ticket is created before they are.
func Fill(env Env, s State) State {
	if s.Category == "" {
		s.Category = s.Guess
	}
	if s.Category == "" {
		s.Category = fallbackCategory(env.Categories)
	}
	if s.Scope == "" {
		s.Scope = bot.ScopePersonal
	}
	if s.Severity == "" {
		s.Severity = bot.SeverityPatientSafety
	}
	return s
}

// Classification gives the dimensions the nurse answered; the category
// supplies type and difficulty. Priority is left to the classifier.
func (s State) Classification(env Env) bot.Classification {
	c := bot.Classification{Scope: s.Scope, Severity: s.Severity, Emergency: s.Emergency,
		Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther}
	for _, k := range env.Categories {
		if k.Code == s.Category {
			c.Type, c.Difficulty = k.Type, k.Difficulty
		}
	}
	return c
}

// Describes reports whether text can open a report: it has at least one Han
// character. Emoji, English greetings and bare numbers are not fault
// descriptions, and starting a dialogue on them would page someone for nothing.
func Describes(text string) bool {
	for _, r := range text {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func fallbackCategory(cats []bot.Category) string {
	for _, c := range cats {
		if c.Code == "other" {
			return c.Code
		}
	}
	if len(cats) > 0 {
		return cats[len(cats)-1].Code
	}
	return "other"
}

func wardOptions(ws []bot.Ward, sep string) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%d %s", i+1, w.Name)
	}
	return strings.Join(parts, sep)
}

func categoryOptions(cs []bot.Category, sep string) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%d %s", i+1, c.Name)
	}
	return strings.Join(parts, sep)
}

func categoryName(cs []bot.Category, code string) string {
	for _, c := range cs {
		if c.Code == code {
			return c.Name
		}
	}
	return code
}

// matchWard finds the one ward whose name or code the text mentions (内科ICU,
// 内科, med-icu); "" if none or several.
func matchWard(ws []bot.Ward, text string) string {
	t := strings.ToLower(text)
	found := ""
	for _, w := range ws {
		name := strings.ToLower(w.Name)
		short := strings.TrimSuffix(name, "icu")
		if strings.Contains(t, name) || strings.Contains(t, strings.ToLower(w.Code)) ||
			(utf8.RuneCountInString(short) >= 2 && strings.Contains(t, short)) {
			if found != "" && found != w.Code {
				return ""
			}
			found = w.Code
		}
	}
	return found
}

// guessCategory picks the category whose keywords the text matches most;
// a tie is no clear match.
func guessCategory(cs []bot.Category, text string) (string, bool) {
	t := strings.ToLower(text)
	var best []bot.Category
	bestN := 0
	for _, c := range cs {
		n := 0
		for _, k := range c.Keywords {
			if k != "" && strings.Contains(t, strings.ToLower(k)) {
				n++
			}
		}
		switch {
		case n > bestN:
			best, bestN = []bot.Category{c}, n
		case n == bestN && n > 0:
			best = append(best, c)
		}
	}
	if len(best) > 1 {
		// A named device is where the fault is: 监护仪不显示 is the monitor's
		// data, 护理记录打印不了 the printer. Other ties are asked.
		best = slices.DeleteFunc(best, func(c bot.Category) bool { return c.Type != bot.TypeTerminal })
	}
	if len(best) != 1 {
		return "", false
	}
	return best[0].Code, true
}

func pickCategory(cs []bot.Category, a string) (string, bool) {
	if n, ok := choice(a, len(cs)); ok {
		return cs[n-1].Code, true
	}
	return namedCategory(cs, a)
}

// namedCategory finds the category a names, by name or keyword.
func namedCategory(cs []bot.Category, a string) (string, bool) {
	for _, c := range cs {
		if strings.Contains(a, c.Name) || (utf8.RuneCountInString(a) >= 2 && strings.Contains(c.Name, a)) {
			return c.Code, true
		}
	}
	return guessCategory(cs, a)
}

var chineseDigits = map[rune]int{'一': 1, '二': 2, '两': 2, '三': 3, '四': 4, '五': 5, '六': 6, '七': 7, '八': 8, '九': 9}

// choice reads a short numbered answer: "2", "2.", "第2个", "选二", "②".
func choice(a string, n int) (int, bool) {
	if utf8.RuneCountInString(a) > 6 {
		return 0, false
	}
	num := -1
	for _, r := range a {
		d := -1
		switch {
		case r >= '0' && r <= '9':
			d = int(r - '0')
		case r >= '①' && r <= '⑨':
			d = int(r-'①') + 1
		default:
			if v, ok := chineseDigits[r]; ok {
				d = v
			}
		}
		if d < 0 {
			continue
		}
		if num >= 0 {
			if r >= '0' && r <= '9' && num < 10 {
				num = num*10 + d // "10"
				continue
			}
			return 0, false // two numbers: ambiguous
		}
		num = d
	}
	if num < 1 || num > n {
		return 0, false
	}
	return num, true
}

func parseScope(a string) (bot.Scope, bool) {
	if n, ok := choice(a, 3); ok {
		return []bot.Scope{bot.ScopePersonal, bot.ScopeDepartment, bot.ScopeHospital}[n-1], true
	}
	switch {
	case containsAny(a, []string{"全院", "多个科室", "医院", "其他科", "别的科", "各科"}):
		return bot.ScopeHospital, true
	case containsAny(a, []string{"科室", "多台", "多人", "大家", "全科", "都", "好几"}):
		return bot.ScopeDepartment, true
	case containsAny(a, []string{"本人", "自己", "个人", "一台", "我", "仅"}):
		return bot.ScopePersonal, true
	}
	return "", false
}

func parseImpact(a string) (bot.Severity, bool) {
	if n, ok := choice(a, 4); ok {
		return []bot.Severity{bot.SeverityPatientSafety, bot.SeverityClinical, bot.SeverityDaily, bot.SeverityExperience}[n-1], true
	}
	switch {
	case containsAny(a, []string{"患者", "安全", "抢救", "监护", "医嘱执行", "病人", "生命"}):
		return bot.SeverityPatientSafety, true
	case containsAny(a, []string{"诊疗", "流程", "治疗", "医嘱", "护理"}):
		return bot.SeverityClinical, true
	case containsAny(a, []string{"不便", "体验", "不影响", "还好", "能用"}):
		return bot.SeverityExperience, true
	case containsAny(a, []string{"日常", "工作"}):
		return bot.SeverityDaily, true
	}
	return "", false
}

func yesNo(a string) (yes, ok bool) {
	a = strings.ToLower(strings.TrimRight(a, "。.!！~"))
	switch a {
	case "1", "是", "是的", "对", "对的", "嗯", "好", "确认", "y", "yes", "ok", "一", "同一个", "一样", "是同一个":
		return true, true
	case "2", "否", "不是", "不对", "不", "n", "no", "二", "不一样", "不是同一个", "新的":
		return false, true
	}
	if strings.HasPrefix(a, "不") {
		return false, true
	}
	if strings.HasPrefix(a, "是") {
		return true, true
	}
	return false, false
}

// ParseRating reads a 1–5 satisfaction answer.
func ParseRating(a string) (int, bool) {
	a = command.Normalize(a)
	if n, ok := choice(a, 5); ok && utf8.RuneCountInString(a) <= 3 {
		return n, true
	}
	if n, err := strconv.Atoi(strings.TrimSuffix(a, "分")); err == nil && n >= 1 && n <= 5 {
		return n, true
	}
	return 0, false
}
