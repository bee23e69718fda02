package dialog

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"weibao/bot"
	"weibao/bot/command"
	"weibao/configs"
)

// Outcomes of a first message: no report, a report on the safety fast
// path, a report whose category is asked, or a category code pre-selected.
const (
	noReport = "-"
	fastPath = "!"
	asked    = "?"
)

// corpus is what wards write to the bot, with what must come of it. The
// categories are the shipped catalogue's (configs/defaults.yaml).
var corpus = []struct{ text, want string }{
	// 无法登录
	{"护士站电脑登不上重症系统", "login"},
	{"重症系统登录不了", "login"},
	{"密码输对了还是进不去", "login"},
	{"账号被锁了", "login"},
	{"系统打不开", "login"},
	{"ICU系统登不上去了", "login"},
	{"工号登录提示密码错误", "login"},
	{"5床的电脑开机后进不去系统", "login"},
	{"新来的护士没有账号，登不上", "login"},
	{"登录页面白屏", "login"},
	{"HIS登不上", "login"},
	{"早上交班登不上系统", "login"},
	{"护理站两台电脑都登不上", "login"},
	{"登陆不上", "login"},
	{"３床电脑登不上", "login"},
	{"PACS打不开", "login"},
	{"又登不上了😭", "login"},
	{"登录不上", "login"},
	{"登陆界面一直转圈", asked}, // 登陆 and 转圈 tie: she picks
	// 系统卡顿
	{"系统很卡", "slow"},
	{"电脑特别慢", "slow"},
	{"点一下要等半天，好卡", "slow"},
	{"录入医嘱的时候一直卡顿", "slow"},
	{"系统无响应", "slow"},
	{"电脑死机了", "slow"},
	{"页面一直在转圈圈", "slow"},
	{"重症系统好慢啊", "slow"},
	{"卡死了动不了", "slow"},
	{"今天系统特别卡，点什么都没反应", "slow"},
	{"护士站电脑反应很慢", "slow"},
	{"the system is so slow 好卡", "slow"},
	{"EMR很卡", "slow"},
	{"😡系统又卡了", "slow"},
	{"系统很慢慢", "slow"},
	// 数据不显示或不同步
	{"检验结果不显示", "data_sync"},
	{"病历数据不同步", "data_sync"},
	{"化验单刷新不出来", "data_sync"},
	{"出入量不显示了", "data_sync"},
	{"昨天的记录看不到了", "data_sync"},
	{"数据丢失了", "data_sync"},
	{"检查报告一直不同步", "data_sync"},
	{"刷新后还是没数据", "data_sync"},
	{"体温单不显示", "data_sync"},
	{"监护议没数据", "data_sync"}, // a typo of 监护仪 leaves 没数据
	{"医嘱界面没数据", asked},
	// 监护设备数据未采集
	{"监护仪数据没有采集上来", "device_data"},
	{"呼吸机参数传不过来", "device_data"},
	{"输液泵数据没进系统", "device_data"},
	{"3床监护仪不传数据", "device_data"},
	{"设备数据采集中断", "device_data"},
	{"呼吸机的数据断了", "device_data"},
	{"输液泵采集失败", "device_data"},
	{"12床呼吸机没有数据", "device_data"},
	{"监护仪连不上", "device_data"},
	{"监护仪不显示", "device_data"},
	// 医嘱/护理记录无法保存
	{"医嘱保存不了", "save_failed"},
	{"护理记录提交失败", "save_failed"},
	{"签名签不上", "save_failed"},
	{"点保存没反应", "save_failed"},
	{"护理记录写完保存报错", "save_failed"},
	{"执行医嘱时提示失败", "save_failed"},
	{"提交的时候弹窗报错", "save_failed"},
	{"电子签名用不了", "save_failed"},
	{"护理评估单无法保存", "save_failed"},
	{"医瞩保存失败", "save_failed"},
	{"保存的时候卡住了", asked},
	// 打印问题
	{"打印机打不出", "printing"},
	{"打印机卡纸了", "printing"},
	{"腕带打印不出来", "printing"},
	{"标签打不出", "printing"},
	{"打印出来是乱码", "printing"},
	{"打印机没反应", "printing"},
	{"打印预览空白", "printing"},
	{"床头卡打印机坏了", "printing"},
	{"输液单打印错位", "printing"},
	{"printer 打不出", "printing"},
	{"大印机打不出", "printing"},
	{"打印机又坏了😭", "printing"},
	{"护理记录打印不了", "printing"},
	// 网络或服务器中断
	{"断网了", "network"},
	{"网络连不上", "network"},
	{"服务器是不是挂了", "network"},
	{"所有电脑都连不上", "network"},
	{"服务器连接超时", "network"},
	{"网络中断", "network"},
	{"wifi连不上", "network"},
	{"网络很慢", asked},
	// A fault no keyword names: she picks the category.
	{"护士站没网了", asked},
	{"wifi断了", asked},
	{"内网访问不了", asked},
	{"电脑黑屏了", asked},
	{"鼠标不动了", asked},
	{"键盘失灵", asked},
	{"扫码枪扫不了", asked},
	{"PDA闪退", asked},
	{"电脑蓝屏", asked},
	{"系统报错了", asked},
	{"显示器不亮", asked},
	{"电脑出问题了", asked},
	{"系统提示错误代码500", asked},
	{"电脑开不了机", asked},
	{"网落断了", asked},
	{"保寸不了", asked},
	{"重症系统login不了", asked},
	{"ｌｏｇｉｎ不了", asked},
	{"HIS系统login失败", asked},
	{"系统error", asked},
	{"ICU system down 了", asked},
	{"the printer is not working", asked},
	{"can't login", asked},
	{"不是打印机，是电脑登不上", "login"},
	{"不是网络的问题，是打印机打不出", "printing"},
	// Safety: ticketed and paged before any question.
	{"抢救室电脑登不上", fastPath},
	{"患者监护数据不显示", fastPath},
	{"病人的医嘱执行不了", fastPath},
	{"危急值收不到", fastPath},
	{"抢救时呼吸机数据没了", fastPath},
	{"紧急！系统登不上", fastPath},
	{"全院都登不上", fastPath},
	{"多个科室系统都打不开", fastPath},
	{"患者心跳数据采集不到", fastPath},
	{"抢救记录保存不了", fastPath},
	{"急救车旁边的电脑死机", fastPath},
	{"生命体征不显示", fastPath},
	{"有病人需要抢救，系统卡死了", fastPath},
	{"urgent 系统打不开", fastPath},
	{"患者", fastPath},
	{"抢救", fastPath},
	{"其他科室也登不上了", fastPath},
	{"整个医院网络断了", fastPath},
	{"ＩＣＵ患者的输液泵数据丢了", fastPath},
	{"病人呼吸停了监护仪没报警", fastPath},
	{"谢谢，患者的监护仪又没数据了", fastPath},
	// Courtesy, acknowledgements, "fixed now", emoji.
	{"谢谢", noReport},
	{"谢谢！", noReport},
	{"好的", noReport},
	{"好的好的", noReport},
	{"收到", noReport},
	{"收到～", noReport},
	{"辛苦了", noReport},
	{"辛苦啦", noReport},
	{"麻烦了", noReport},
	{"多谢", noReport},
	{"感谢", noReport},
	{"谢谢老师", noReport},
	{"谢谢工程师", noReport},
	{"谢谢张工", noReport},
	{"辛苦刘工了", noReport},
	{"好的李老师，收到", noReport},
	{"好的谢谢", noReport},
	{"收到谢谢", noReport},
	{"嗯嗯", noReport},
	{"嗯", noReport},
	{"哦", noReport},
	{"ok", noReport},
	{"OK", noReport},
	{"Ｏｋ", noReport},
	{"thanks", noReport},
	{"thank you", noReport},
	{"👍", noReport},
	{"🙏🙏", noReport},
	{"😊", noReport},
	{"😭😭😭", noReport},
	{"[强]", noReport},
	{"[抱拳]", noReport},
	{"哈哈哈哈", noReport},
	{"？", noReport},
	{"！！！", noReport},
	{"。。。", noReport},
	{"知道了", noReport},
	{"明白", noReport},
	{"好嘞", noReport},
	{"全部收到", noReport},
	{"好了好了", noReport},
	{"已经好了", noReport},
	{"打印机好了，谢谢", noReport},
	{"可以了谢谢", noReport},
	{"恢复了", noReport},
	{"现在能用了", noReport},
	{"解决了，辛苦", noReport},
	{"没事了", noReport},
	{"系统恢复正常了", noReport},
	{"不卡了，谢谢", noReport},
	// Greetings.
	{"你好", noReport},
	{"您好", noReport},
	{"在吗", noReport},
	{"有人吗？", noReport},
	{"hello", noReport},
	{"hi", noReport},
	{"早上好", noReport},
	{"师傅在吗", noReport},
	// Bare answers to a question no longer asked.
	{"1", noReport},
	{"2", noReport},
	{"3", noReport},
	{"7", noReport},
	{"２", noReport},
	{"３", noReport},
	{"10", noReport},
	{"是", noReport},
	{"不是", noReport},
	{"否", noReport},
	{"第2个", noReport},
	{"①", noReport},
	{"选二", noReport},
	{"2.", noReport},
	// Words that name no fault.
	{"麻烦来一下", noReport},
	{"工程师快来一下", noReport},
	{"明天培训几点", noReport},
	{"今天谁值班", noReport},
	{"我想问个问题", noReport},
	{"please call me", noReport},
	{"测试", noReport},
	{"123456", noReport},
	{"刚才说错了，是7床", noReport},
	{"不好意思发错了", noReport},
	{"更正：是内科ICU", noReport},
	// Long text.
	{strings.Repeat("今天早上八点交班以后，", 8) + "护士站靠窗那台打印机一直打不出腕带，换了纸也不行，麻烦尽快看一下", "printing"},
	{"夜班一直很忙，" + strings.Repeat("刚才给3床做完护理，", 10) + "发现患者的监护数据一直没有传到系统里", fastPath},
	{"非常感谢张工昨晚及时过来处理，真的辛苦了，科室的同事都说谢谢，" + strings.Repeat("下次有事再找你们，", 6), noReport},
}

// TestCorpus runs each message as a first message in a mapped ward group
// and prints, with -v, the confusion table (expected rows, got columns).
func TestCorpus(t *testing.T) {
	cfg, err := configs.Load("", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	env := Env{}
	for _, c := range cfg.Categories {
		env.Categories = append(env.Categories, bot.Category{Code: c.Code, Name: c.Name, Type: bot.FaultType(c.Type),
			Difficulty: bot.Difficulty(c.Difficulty), Keywords: c.Keywords})
	}
	if len(corpus) < 150 {
		t.Errorf("corpus has %d messages, want at least 150", len(corpus))
	}
	outcome := func(text string) string {
		text = command.Normalize(text)
		if Classify(env.Categories, text) != IntentFault {
			return noReport
		}
		st, out := Start(env, text, "med-icu", nil)
		switch {
		case out.Create:
			return fastPath
		case st.Guess != "":
			return st.Guess
		}
		return asked
	}
	table := map[[2]string]int{}
	var labels []string
	for _, c := range corpus {
		got := outcome(c.text)
		table[[2]string{c.want, got}]++
		for _, l := range []string{c.want, got} {
			if !slices.Contains(labels, l) {
				labels = append(labels, l)
			}
		}
		if got != c.want {
			t.Errorf("%q: got %s, want %s", c.text, got, c.want)
		}
	}
	slices.Sort(labels)
	var b strings.Builder
	fmt.Fprintf(&b, "confusion (rows expected, columns got; - no report, ! fast path, ? category asked), %d messages:\n%-12s", len(corpus), "")
	for _, l := range labels {
		fmt.Fprintf(&b, "%12s", l)
	}
	for _, w := range labels {
		fmt.Fprintf(&b, "\n%-12s", w)
		for _, g := range labels {
			fmt.Fprintf(&b, "%12d", table[[2]string{w, g}])
		}
	}
	t.Log(b.String())
}
