package command

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		want   Command
		errKey string // catalogue key of the error; "" for success
		notCmd bool
	}{
		{in: "接单", want: Command{Name: Ack}},
		{in: "  ack  ", want: Command{Name: Ack}},
		{in: "ACK F20261126-0007", want: Command{Name: Ack, TicketNo: "F20261126-0007"}},
		{in: "接单F20261126-0007", want: Command{Name: Ack, TicketNo: "F20261126-0007"}},
		{in: "@维保 接单 #f20261126-0007", want: Command{Name: Ack, TicketNo: "F20261126-0007"}},
		{in: "／接单　Ｆ２０２６１１２６－０００７", want: Command{Name: Ack, TicketNo: "F20261126-0007"}},
		{in: "到场", want: Command{Name: Arrive}},
		{in: "arrive F20261126-0001", want: Command{Name: Arrive, TicketNo: "F20261126-0001"}},
		{in: "远程无法解决", want: Command{Name: OnSite}},
		{in: "onsite", want: Command{Name: OnSite}},
		{in: "备用方案 先用纸质记录，半小时后补录", want: Command{Name: Workaround, Text: "先用纸质记录，半小时后补录"}},
		{in: "备用方案：先用纸质记录", want: Command{Name: Workaround, Text: "先用纸质记录"}},
		{in: "备用方案", errKey: "cmd.usage.workaround"},
		{in: "已解决 原因:缓存损坏 方案:清除缓存", want: Command{Name: Resolve, Cause: "缓存损坏", Solution: "清除缓存"}},
		{in: "已解决 F20261126-0002 原因：网线松动，方案：重新插紧", want: Command{Name: Resolve, TicketNo: "F20261126-0002", Cause: "网线松动", Solution: "重新插紧"}},
		{in: "已解决 解决方案: 重启服务 原因: 服务挂起", want: Command{Name: Resolve, Cause: "服务挂起", Solution: "重启服务"}},
		{in: "resolve cause: disk full solution: cleaned logs", want: Command{Name: Resolve, Cause: "disk full", Solution: "cleaned logs"}},
		{in: "已解决", errKey: "cmd.usage.resolve"},
		{in: "已解决 方案:重启", errKey: "cmd.usage.resolve"},
		{in: "已解决 原因:不明", errKey: "cmd.usage.resolve"},
		{in: "转派 @eng2", want: Command{Name: Transfer, Assignee: "eng2"}},
		{in: "转派 F20261126-0003 @刘工 他在现场", want: Command{Name: Transfer, TicketNo: "F20261126-0003", Assignee: "刘工", Text: "他在现场"}},
		{in: "转派", errKey: "cmd.usage.transfer"},
		{in: "升级", want: Command{Name: Escalate}},
		{in: "escalate 需要厂家支持", want: Command{Name: Escalate, Text: "需要厂家支持"}},
		{in: "改级 p2 实际只影响一台电脑", want: Command{Name: Reclass, Priority: bot.P2, Text: "实际只影响一台电脑"}},
		{in: "改级 P1 原因:全科室无法登录", want: Command{Name: Reclass, Priority: bot.P1, Text: "全科室无法登录"}},
		{in: "改级 P2", errKey: "cmd.usage.reclass"},
		{in: "改级 P7 理由", errKey: "cmd.usage.reclass"},
		{in: "备注 已联系厂家", want: Command{Name: Note, Text: "已联系厂家"}},
		{in: "note", errKey: "cmd.usage.note"},
		{in: "我的", want: Command{Name: Mine}},
		{in: "mine", want: Command{Name: Mine}},
		{in: "值班", want: Command{Name: OnCall}},
		{in: "帮助", want: Command{Name: Help}},
		{in: "help", want: Command{Name: Help}},
		{in: "进度", want: Command{Name: Progress}},
		{in: "进度 F20261126-0004", want: Command{Name: Progress, TicketNo: "F20261126-0004"}},
		{in: "日报 2026-11-25", want: Command{Name: Digest, Date: "2026-11-25"}},
		{in: "报修 电脑坏了", want: Command{Name: Report, Text: "电脑坏了"}},
		{in: "撤销 F20261126-0005", want: Command{Name: Withdraw, TicketNo: "F20261126-0005"}},
		{in: "取消 #F20261126-0005", want: Command{Name: Withdraw, TicketNo: "F20261126-0005"}},
		{in: "撤销", want: Command{Name: Withdraw}},
		{in: "取消 医嘱后系统报错", notCmd: true},
		{in: "取消了医嘱就卡住", notCmd: true},
		{in: "电话报修 内科ICU 监护仪数据不显示", want: Command{Name: Phone, Ward: "内科ICU", Text: "监护仪数据不显示"}},
		{in: "电话报修 内科ICU", errKey: "cmd.usage.phone"},
		{in: "电话报修", errKey: "cmd.usage.phone"},
		// Free text that merely starts like a command is a report.
		{in: "我的电脑登不上重症系统", notCmd: true},
		{in: "升级后系统打不开", notCmd: true},
		{in: "帮助我看看打印机", notCmd: true},
		{in: "acknowledge", notCmd: true},
		{in: "内科ICU护士站电脑登不上", notCmd: true},
		{in: "1", notCmd: true},
		{in: "", notCmd: true},
		{in: "😀😀", notCmd: true},
		{in: "@维保", notCmd: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			switch {
			case tt.notCmd:
				if !errors.Is(err, ErrNotCommand) {
					t.Fatalf("Parse(%q) = %+v, %v; want ErrNotCommand", tt.in, got, err)
				}
				return
			case tt.errKey != "":
				key, _ := bot.UserText(err)
				if key != tt.errKey || !errors.Is(err, bot.ErrInvalid) {
					t.Fatalf("Parse(%q) err = %v (key %q), want key %q", tt.in, err, key, tt.errKey)
				}
				return
			case err != nil:
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"＠维保　１":      "1",
		"@维保 @张工 接单": "接单",
		"\u200b 2 ":  "2",
		"/help":      "help",
		"ＡＢｃ：，":      "ABc:，",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"接单 F20261126-0007", "已解决 原因:a 方案:b", "改级 P2 x", "转派 @a", "＠维保　１",
		"已解决 解决方案:方案:原因:", "备用方案", "\xff\xfe", strings.Repeat("接单", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrNotCommand) {
				if key, _ := bot.UserText(err); !strings.HasPrefix(key, "cmd.usage.") {
					t.Fatalf("Parse(%q): error without usage key: %v", s, err)
				}
			}
			return
		}
		if c.Name == "" {
			t.Fatalf("Parse(%q): command without name", s)
		}
		if c.TicketNo != "" && !bot.ValidTicketNo(c.TicketNo) {
			t.Fatalf("Parse(%q): bad ticket number %q", s, c.TicketNo)
		}
		if c.Name == Resolve && (c.Cause == "" || c.Solution == "") {
			t.Fatalf("Parse(%q): resolve without cause or solution", s)
		}
		if utf8.ValidString(s) && (!utf8.ValidString(c.Text) || !utf8.ValidString(c.Cause) || !utf8.ValidString(c.Solution)) {
			t.Fatalf("Parse(%q): invalid UTF-8 out of valid input", s)
		}
	})
}

func TestParseKnowledge(t *testing.T) {
	tests := []struct {
		in   string
		want Command
		err  string // catalogue key of the error, "" for none
	}{
		{"知识库 监护仪 黑屏", Command{Name: Knowledge, Verb: KBSearch, Text: "监护仪 黑屏"}, ""},
		{"kb printer", Command{Name: Knowledge, Verb: KBSearch, Text: "printer"}, ""},
		{"知识库 通过 12", Command{Name: Knowledge, Verb: KBApprove, EntryID: 12}, ""},
		{"知识库 通过 #7", Command{Name: Knowledge, Verb: KBApprove, EntryID: 7}, ""},
		{"知识库 FAQ 3", Command{Name: Knowledge, Verb: KBFAQ, EntryID: 3}, ""},
		{"知识库 取消FAQ 3", Command{Name: Knowledge, Verb: KBUnFAQ, EntryID: 3}, ""},
		{"知识库 待审核", Command{Name: Knowledge, Verb: KBPending}, ""},
		{"知识库 修改 5 现象:登录后白屏 方案：清除缓存后重启", Command{Name: Knowledge, Verb: KBEdit, EntryID: 5,
			Edit: bot.KBEdit{Symptom: "登录后白屏", Fix: "清除缓存后重启"}}, ""},
		{"知识库 修改 5 原因: 证书过期, 分类:software", Command{Name: Knowledge, Verb: KBEdit, EntryID: 5,
			Edit: bot.KBEdit{Cause: "证书过期", Category: "software"}}, ""},
		{"知识库", Command{}, "cmd.usage.kb"},
		{"知识库 通过", Command{}, "cmd.usage.kb"},
		{"知识库 通过 abc", Command{}, "cmd.usage.kb"},
		{"知识库 修改 5 随便改改", Command{}, "cmd.usage.kb"},
		{"知识库 修改 0 现象:x", Command{}, "cmd.usage.kb"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.err != "" {
				if key, _ := bot.UserText(err); key != tt.err {
					t.Fatalf("Parse(%q) error %v, want key %s", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
	// A report that starts with the word is no command.
	if _, err := Parse("知识库里找不到"); err != ErrNotCommand {
		t.Errorf("知识库里找不到: %v, want ErrNotCommand", err)
	}
}
