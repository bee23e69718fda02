package dialog

import (
	"regexp"
	"strings"
	"unicode"

	"weibao/bot"
	"weibao/bot/command"
)

// Intent is what a message outside any dialogue asks of the bot.
type Intent string

const (
	// IntentFault describes a fault: it opens a report.
	IntentFault Intent = "fault"
	// IntentCourtesy is thanks, an acknowledgement, a "fixed now" or emoji:
	// nothing to do and nothing to say. A reply to 收到 in a ward group is
	// itself noise, and noise is what makes a ward mute the bot.
	IntentCourtesy Intent = "courtesy"
	// IntentGreeting is 你好 / 在吗: answered with how to report.
	IntentGreeting Intent = "greeting"
	// IntentOption is a bare answer to a question ("2", "是") when none is
	// pending: she is told so; it never becomes a fault.
	IntentOption Intent = "option"
	// IntentUnclear names no fault: she is asked to describe one.
	IntentUnclear Intent = "unclear"
)

// Evidence words beyond the category keywords. Safety words count on their
// own: a report that may touch a patient is never filtered out.
var (
	faultSafetyWords = append([]string{"紧急", "急救"}, safetyWords...)
	symptomWords     = []string{
		"不能", "无法", "不了", "没法", "用不了", "打不开", "进不去", "上不去", "连不上", "登不上", "点不动", "点不了",
		"出不来", "不出来", "不显示", "没显示", "显示不", "不更新", "不刷新", "不同步", "不全", "不准", "不对", "错乱",
		"坏了", "坏掉", "故障", "报错", "错误", "出错", "失败", "异常", "没反应", "无反应", "不动", "不响", "没声音",
		"黑屏", "白屏", "蓝屏", "花屏", "空白", "闪退", "崩溃", "死机", "卡住", "卡死", "转圈", "很慢", "好慢", "太慢",
		"掉线", "断了", "断开", "中断", "不通", "不亮", "不工作", "不正常", "乱码", "丢了", "丢失", "不见了", "消失",
		"停了", "没了", "提示", "弹窗", "有问题", "出问题", "不行", "不好用", "不好使", "不灵", "失灵", "怎么回事", "咋回事",
		"没网", "超时", "挂了", "收不到", "传不过来", "not working", "down", "doesn't work", "error", "broken", "crash", "can't", "cannot", "failed", "offline",
	}
	// fixedWords say a fault is over; without a symptom they open nothing.
	fixedWords    = []string{"好了", "好啦", "恢复了", "恢复正常", "可以用了", "能用了", "解决了", "正常了", "没事了", "修好了", "可以了", "不卡了", "不慢了"}
	courtesyWords = []string{
		"谢谢", "多谢", "感谢", "谢了", "辛苦了", "辛苦", "麻烦了", "麻烦您", "不客气", "好的", "好滴", "好嘞", "好吧", "好",
		"全部收到", "都收到", "已收到", "收到", "知道了", "明白了", "明白", "了解", "懂了", "嗯嗯", "嗯", "哦", "噢", "行",
		"可以", "没问题", "ok", "okay", "thanks", "thank you", "thx", "工程师", "哈哈", "呵呵", "啊", "呀",
		"啦", "了", "的", "吧", "您", "你", "[ok]", "[thumbsup]", "[强]", "[谢谢]", "[抱拳]", "[微笑]",
	}
	greetingWords = []string{"你好", "您好", "在吗", "在不在", "有人吗", "hello", "hi", "早上好", "晚上好", "中午好", "早安", "哈喽"}
	// addressRE is how a ward addresses someone (张工, 李老师, 师傅): in
	// 谢谢张工 it adds nothing to the courtesy.
	addressRE = regexp.MustCompile(`\p{Han}?(工|老师|师傅|经理|主任)`)
	// optionRE is a bare numbered or yes/no answer.
	optionRE = regexp.MustCompile(`^(第?[0-9①-⑨一二三四五六七八九十]{1,2}个?|选[0-9一二三四五六七八九]|是|是的|不是|否|对|不对|y|n|yes|no)[.。、!！]?$`)
)

// Classify tells what a message outside any dialogue is, from the
// catalogue's keywords and the symptom words: only a fault opens a report.
func Classify(cats []bot.Category, text string) Intent {
	t := strings.ToLower(command.Normalize(text))
	if containsAny(t, faultSafetyWords) {
		return IntentFault
	}
	if optionRE.MatchString(t) {
		return IntentOption
	}
	symptom := containsAny(t, symptomWords)
	if !symptom && containsAny(t, fixedWords) {
		return IntentCourtesy
	}
	rest := t
	for _, w := range courtesyWords {
		rest = strings.ReplaceAll(rest, w, " ")
	}
	bare := addressRE.ReplaceAllString(rest, " ")
	if !meaningful(bare) {
		if containsAny(t, greetingWords) {
			return IntentGreeting // 你好 is courteous too, but asks for an answer
		}
		return IntentCourtesy
	}
	if symptom || keyword(cats, rest) {
		return IntentFault
	}
	for _, w := range greetingWords {
		bare = strings.ReplaceAll(bare, w, " ")
	}
	if !meaningful(bare) {
		return IntentGreeting
	}
	return IntentUnclear
}

func keyword(cats []bot.Category, t string) bool {
	for _, c := range cats {
		for _, k := range c.Keywords {
			if k != "" && strings.Contains(t, strings.ToLower(k)) {
				return true
			}
		}
	}
	return false
}

// meaningful reports whether s has a letter or a digit: what is left of
// 谢谢！👍 once the courtesy is taken out is punctuation and emoji.
func meaningful(s string) bool {
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}

// corrected is what a correction means: 不是打印机，是电脑登不上 is about the
// login, not the printer.
func corrected(text string) string {
	if rest, ok := strings.CutPrefix(text, "不是"); ok {
		if i := strings.Index(rest, "是"); i >= 0 {
			return rest[i+len("是"):]
		}
	}
	return text
}
