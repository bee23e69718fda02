// Package command parses what engineers (and anyone, for 进度/帮助) type to
// the bot: Chinese command words with English aliases, an optional ticket
// number, and the command's arguments. It is pure and fuzzed: any input
// gives either a Command, ErrNotCommand, or a *bot.Error whose catalogue key
// tells the person what to type instead.
package command

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"weibao/bot"
)

// Name is a command's canonical name (its English alias).
type Name string

const (
	Ack        Name = "ack"        // 接单
	Arrive     Name = "arrive"     // 到场
	OnSite     Name = "onsite"     // 远程无法解决: the 2 h on-site clock starts
	Workaround Name = "workaround" // 备用方案 <text>
	Resolve    Name = "resolve"    // 已解决 原因:… 方案:…
	Transfer   Name = "transfer"   // 转派 @someone
	Escalate   Name = "escalate"   // 升级 [reason]
	Reclass    Name = "reclass"    // 改级 P1..P4 <reason>
	Note       Name = "note"       // 备注 <text>
	Mine       Name = "mine"       // 我的
	OnCall     Name = "oncall"     // 值班
	Help       Name = "help"       // 帮助
	Progress   Name = "progress"   // 进度 [no]
	Digest     Name = "digest"     // 日报 [date]
	Report     Name = "report"     // 报修 <text>: starts a report, for anyone
	Withdraw   Name = "withdraw"   // 撤销 / 取消 [no]: the reporter withdraws, an engineer cancels
	Phone      Name = "phone"      // 电话报修 <ward> <text>: an engineer logs a fault reported by phone
	// 升级批准 <记录号> (the lead), 升级完成 <记录号> 结果:… 版本:… 影响:…, 版本 <系统>
	// 登记缺陷 [紧急] <描述> [期限:YYYY-MM-DD], 登记需求 <人天> <描述> 期限:…, 需求确认 <记录号>
	Bug                Name = "bug"
	Requirement        Name = "requirement"
	ConfirmRequirement Name = "confirm_requirement"
	UpgradeApprove     Name = "upgrade_approve"
	UpgradeDone        Name = "upgrade_done"
	Versions           Name = "versions"
	Knowledge          Name = "kb" // 知识库 <关键词> | 通过 <id> | 修改 <id> 现象:… 原因:… 方案:… | FAQ <id> | 取消FAQ <id> | 待审核
)

// Knowledge-base verbs (Command.Verb of 知识库).
const (
	KBSearch  = "search"
	KBApprove = "approve"
	KBEdit    = "edit"
	KBFAQ     = "faq"
	KBUnFAQ   = "unfaq"
	KBPending = "pending"
)

// ActsOnTicket reports whether the command changes a ticket, so only
// engineers and the lead may use it.
func (n Name) ActsOnTicket() bool {
	switch n {
	case Ack, Arrive, OnSite, Workaround, Resolve, Transfer, Escalate, Reclass, Note:
		return true
	}
	return false
}

// Command is one parsed command.
type Command struct {
	Name     Name
	TicketNo string // empty when not typed
	Text     string // workaround, note, reason (escalate, reclass), report text
	Cause    string // resolve
	Solution string // resolve
	Assignee string // transfer: a user id or name as typed, without the @
	Ward     string // phone: the ward as typed (name or code)
	Priority bot.Priority
	Date     string // digest: as typed ("2026-11-26", "昨天"), empty for yesterday
	// 知识库: the verb (KBSearch…), the entry's id and an edit's fields;
	// Text holds a search's keywords.
	Verb    string
	EntryID int64
	Edit    bot.KBEdit
	// 升级批准 / 升级完成: the upgrade record's number and the outcome.
	RecordNo                string
	Result, Version, Impact string
	// 登记缺陷 / 登记需求: urgency, the estimate in person-days; Date the deadline.
	Urgent bool
	Effort float64
}

// ErrNotCommand means the text is not a command (free text, an answer).
var ErrNotCommand = errors.New("not a command")

type word struct {
	text string
	name Name
}

// words lists every spelling, longest first within a name so that 解决方案
// never reads as 已解决 and "onsite" beats "on".
var words = []word{
	{"远程无法解决", OnSite}, {"无法远程", OnSite}, {"onsite", OnSite},
	{"备用方案", Workaround}, {"临时方案", Workaround}, {"workaround", Workaround},
	{"已解决", Resolve}, {"resolve", Resolve},
	{"接单", Ack}, {"ack", Ack},
	{"到场", Arrive}, {"已到场", Arrive}, {"arrive", Arrive},
	{"转派", Transfer}, {"transfer", Transfer},
	{"升级", Escalate}, {"escalate", Escalate},
	{"改级", Reclass}, {"reclass", Reclass},
	{"备注", Note}, {"note", Note},
	{"我的", Mine}, {"mine", Mine},
	{"值班", OnCall}, {"oncall", OnCall},
	{"帮助", Help}, {"help", Help},
	{"进度", Progress}, {"查询", Progress}, {"status", Progress},
	{"日报", Digest}, {"digest", Digest},
	{"报修", Report}, {"report", Report},
	{"撤销", Withdraw}, {"取消", Withdraw}, {"withdraw", Withdraw},
	{"电话报修", Phone}, {"phone", Phone},
	{"知识库", Knowledge}, {"kb", Knowledge},
	{"登记缺陷", Bug}, {"登记需求", Requirement}, {"需求确认", ConfirmRequirement},
	{"升级批准", UpgradeApprove}, {"批准升级", UpgradeApprove},
	{"升级完成", UpgradeDone},
	{"版本", Versions}, {"versions", Versions},
}

var noRE = regexp.MustCompile(`(?i)#?\bF\d{8}-\d{4,}\b`)

// Normalize folds full-width letters, digits, ":#@/-" and spaces to half-width, drops leading
// @mentions and a leading slash, and trims. Answers and commands are compared
// after it.
func Normalize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\u3000':
			return ' '
		case r >= '\uff01' && r <= '\uff5e':
			// Only what commands and answers are made of; a nurse's
			// full-width punctuation stays as she wrote it.
			if h := r - 0xfee0; h < 128 && (unicode.IsLetter(h) || unicode.IsDigit(h) || strings.ContainsRune(":#@/-", h)) {
				return h
			}
			return r
		case r == '\u200b' || r == '\ufeff':
			return -1
		case unicode.IsSpace(r):
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	for strings.HasPrefix(s, "@") {
		i := strings.IndexByte(s, ' ')
		if i < 0 {
			return ""
		}
		s = strings.TrimSpace(s[i+1:])
	}
	return strings.TrimSpace(strings.TrimPrefix(s, "/"))
}

// Parse reads text as a command.
func Parse(text string) (Command, error) {
	s := Normalize(text)
	var c Command
	var rest string
	found := false
	for _, w := range words {
		if len(s) < len(w.text) || !strings.EqualFold(s[:len(w.text)], w.text) {
			continue
		}
		after := s[len(w.text):]
		if !boundary(after) {
			continue
		}
		c.Name, rest, found = w.name, after, true
		break
	}
	if !found {
		return Command{}, ErrNotCommand
	}
	if m := noRE.FindStringIndex(rest); m != nil {
		c.TicketNo = strings.ToUpper(strings.TrimPrefix(rest[m[0]:m[1]], "#"))
		rest = rest[:m[0]] + " " + rest[m[1]:]
	}
	rest = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(rest), ":"))
	usage := func() error {
		return bot.Errorf(bot.ErrInvalid, "cmd.usage."+string(c.Name), nil, "command %s: bad arguments", c.Name)
	}
	switch c.Name {
	case Workaround, Note, Report:
		if rest == "" {
			return c, usage()
		}
		c.Text = rest
	case Escalate, Progress:
		c.Text = rest
	case Withdraw:
		// "取消 医嘱后系统报错" describes a fault; only a bare word or a
		// number withdraws.
		if rest != "" {
			return Command{}, ErrNotCommand
		}
	case Phone:
		ward, text, _ := strings.Cut(rest, " ")
		c.Ward, c.Text = ward, strings.TrimSpace(text)
		if c.Ward == "" || c.Text == "" {
			return c, usage()
		}
	case Resolve:
		c.Cause, c.Solution = fields(rest)
		if c.Cause == "" || c.Solution == "" {
			return c, usage()
		}
	case Transfer:
		f := strings.Fields(rest)
		if len(f) == 0 {
			return c, usage()
		}
		c.Assignee = strings.TrimPrefix(f[0], "@")
		c.Text = strings.TrimSpace(strings.TrimPrefix(rest, f[0]))
		if c.Assignee == "" {
			return c, usage()
		}
	case Reclass:
		f := strings.Fields(rest)
		if len(f) == 0 {
			return c, usage()
		}
		p := bot.Priority(strings.ToUpper(f[0]))
		switch p {
		case bot.P1, bot.P2, bot.P3, bot.P4:
		default:
			return c, usage()
		}
		c.Priority = p
		c.Text = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(strings.TrimPrefix(rest, f[0])), ":"))
		c.Text = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(c.Text, "原因"), ":"))
		if c.Text == "" {
			return c, usage()
		}
	case Digest:
		c.Date = rest
	case Knowledge:
		if !knowledge(&c, rest) {
			return c, usage()
		}
	case Bug, Requirement:
		text, date, _ := strings.Cut(rest, "期限")
		c.Date = strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(date), ":"))
		text = strings.TrimSpace(text)
		if c.Name == Bug {
			if t, ok := strings.CutPrefix(text, "紧急"); ok {
				c.Urgent, text = true, strings.TrimSpace(t)
			} else {
				text = strings.TrimSpace(strings.TrimPrefix(text, "一般"))
			}
			if c.Text = text; text == "" || (!c.Urgent && c.Date == "") {
				return c, usage()
			}
			break
		}
		days, desc, _ := strings.Cut(text, " ")
		e, err := strconv.ParseFloat(strings.TrimSuffix(days, "人天"), 64)
		if c.Effort, c.Text = e, strings.TrimSpace(desc); err != nil || e <= 0 || c.Text == "" || c.Date == "" {
			return c, usage()
		}
	case ConfirmRequirement, UpgradeApprove, UpgradeDone:
		no, after, _ := strings.Cut(rest, " ")
		c.RecordNo = strings.ToUpper(strings.TrimPrefix(no, "#"))
		if !bot.ValidRecordNo(c.RecordNo) {
			return c, usage()
		}
		if c.Name == UpgradeDone {
			f := labelled(after, map[string]string{"结果": "result", "result": "result", "版本": "version", "version": "version",
				"影响": "impact", "impact": "impact"})
			c.Result, c.Version, c.Impact = f["result"], f["version"], f["impact"]
			if c.Result == "" || c.Version == "" || c.Impact == "" {
				return c, usage()
			}
		}
	case Versions:
		if rest == "" {
			return c, usage()
		}
		c.Text = rest
	default:
		// Ack, Arrive, OnSite, Mine, OnCall, Help take nothing else; a
		// trailing remark is kept for the timeline.
		c.Text = rest
	}
	return c, nil
}

// boundary reports whether a command word may end where after begins: at the
// end, before a space, a colon, a ticket number or '#'. "我的电脑登不上" and
// "升级后打不开" are reports, not commands.
func boundary(after string) bool {
	if after == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(after)
	switch {
	case r == ' ' || r == ':' || r == '#' || r == ',' || r == '，':
		return true
	case r == 'F' || r == 'f':
		return noRE.MatchString(after) && noRE.FindStringIndex(after)[0] == 0
	}
	return false
}

// fields splits "原因:… 方案:…" (or cause:/solution:, either order).
func fields(s string) (cause, solution string) {
	type marker struct {
		at, end  int
		solution bool
	}
	var ms []marker
	lower := strings.ToLower(s)
	for _, m := range []struct {
		w        string
		solution bool
	}{{"解决方案", true}, {"原因", false}, {"方案", true}, {"cause", false}, {"solution", true}, {"措施", true}} {
		for from := 0; ; {
			i := strings.Index(lower[from:], m.w)
			if i < 0 {
				break
			}
			i += from
			end := i + len(m.w)
			from = end
			j := end
			for j < len(s) && s[j] == ' ' {
				j++
			}
			if j >= len(s) || s[j] != ':' {
				continue
			}
			overlap := false
			for _, o := range ms {
				if i < o.end && end > o.at {
					overlap = true
				}
			}
			if !overlap {
				ms = append(ms, marker{i, j + 1, m.solution})
			}
		}
	}
	// Order markers by position; each value runs to the next marker.
	for i := range ms {
		for j := i + 1; j < len(ms); j++ {
			if ms[j].at < ms[i].at {
				ms[i], ms[j] = ms[j], ms[i]
			}
		}
	}
	for i, m := range ms {
		stop := len(s)
		if i+1 < len(ms) {
			stop = ms[i+1].at
		}
		v := strings.Trim(strings.TrimSpace(s[m.end:stop]), ",，;；。")
		if m.solution && solution == "" {
			solution = v
		} else if !m.solution && cause == "" {
			cause = v
		}
	}
	return cause, solution
}

// kbVerbs are the spellings of 知识库's verbs; anything else is a search.
var kbVerbs = map[string]string{
	"通过": KBApprove, "approve": KBApprove, "修改": KBEdit, "edit": KBEdit,
	"faq": KBFAQ, "常见问题": KBFAQ, "取消faq": KBUnFAQ, "unfaq": KBUnFAQ,
	"待审核": KBPending, "pending": KBPending,
}

// knowledge reads 知识库's arguments into c; false when they are incomplete.
func knowledge(c *Command, rest string) bool {
	verb, args, _ := strings.Cut(rest, " ")
	c.Verb = kbVerbs[strings.ToLower(verb)]
	switch c.Verb {
	case "":
		c.Verb, c.Text = KBSearch, rest
		return rest != ""
	case KBPending:
		return true
	}
	idText, after, _ := strings.Cut(strings.TrimSpace(args), " ")
	id, err := strconv.ParseInt(strings.TrimPrefix(idText, "#"), 10, 64)
	if err != nil || id <= 0 {
		return false
	}
	c.EntryID = id
	if c.Verb != KBEdit {
		return true
	}
	f := labelled(after, map[string]string{"现象": "symptom", "症状": "symptom", "symptom": "symptom",
		"原因": "cause", "cause": "cause", "方案": "fix", "解决方案": "fix", "fix": "fix", "分类": "category", "category": "category"})
	c.Edit = bot.KBEdit{Category: f["category"], Symptom: f["symptom"], Cause: f["cause"], Fix: f["fix"]}
	return !c.Edit.Empty()
}

// labelled splits "标签:值 标签:值" by the labels given (label → field);
// each value runs to the next label. Text before the first label is dropped.
func labelled(s string, labels map[string]string) map[string]string {
	type mark struct {
		at, end int
		field   string
	}
	var marks []mark
	for i := 0; i < len(s); i++ {
		best := ""
		for l := range labels {
			if len(l) > len(best) && len(s)-i >= len(l) && strings.EqualFold(s[i:i+len(l)], l) {
				j := i + len(l)
				for j < len(s) && s[j] == ' ' {
					j++
				}
				if j < len(s) && s[j] == ':' {
					best = l
				}
			}
		}
		if best == "" {
			continue
		}
		j := i + len(best)
		for s[j] != ':' {
			j++
		}
		marks = append(marks, mark{i, j + 1, labels[best]})
		i = j
	}
	out := map[string]string{}
	for k, m := range marks {
		stop := len(s)
		if k+1 < len(marks) {
			stop = marks[k+1].at
		}
		if v := strings.Trim(strings.TrimSpace(s[m.end:stop]), ",，;；。"); v != "" && out[m.field] == "" {
			out[m.field] = v
		}
	}
	return out
}
