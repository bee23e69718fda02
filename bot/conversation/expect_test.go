package conversation

import (
	"context"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/command"
	"weibao/storage/storagetest"
)

// report walks nurse through a complete, non-urgent report and returns its
// ticket number.
func (h *harness) report(from, chat, text string, answers ...string) string {
	h.t.Helper()
	before := len(h.tickets())
	h.say(from, chat, text)
	for _, a := range answers {
		h.say(from, chat, a)
	}
	ts := h.tickets()
	if len(ts) != before+1 {
		h.t.Fatalf("%d tickets after the report, want %d", len(ts), before+1)
	}
	for _, t := range ts {
		if t.ReporterID == from && t.Description == text {
			return t.No
		}
	}
	h.t.Fatalf("no ticket for %q", text)
	return ""
}

func TestReporterWithdrawsUnacknowledgedTicket(t *testing.T) {
	for _, word := range []string{"撤销", "取消"} {
		t.Run(word, func(t *testing.T) {
			h := newHarness(t)
			no := h.report("nurse1", medChat, "系统很卡", "1", "1", "3")
			h.expect(h.say("nurse1", medChat, "取消"), "如要撤销已登记的工单，请回复「撤销 "+no+"」")
			h.expect(h.say("nurse2", medChat, word+" "+no), "只有工单 "+no+" 的报修人")
			got := h.say("nurse1", medChat, word+" "+no)
			h.expect(got, "[to=chat-med @nurse1] 工单 "+no+" 已撤销", "<update weibao-"+no, "报修人已撤销，无需处理")
			tk := h.ticket(no)
			if tk.Status != bot.StatusCancelled || tk.ClosedAt.IsZero() {
				t.Errorf("withdrawn ticket: %s", tk.Status)
			}
			if k := h.kinds(no); k[len(k)-1] != bot.EventCancelled {
				t.Errorf("timeline %v", k)
			}
		})
	}
}

func TestWithdrawAfterAcknowledgeAsksTheEngineer(t *testing.T) {
	h := newHarness(t)
	no := h.report("nurse1", medChat, "系统很卡", "1", "1", "3")
	h.say("eng1", "", "接单 "+no)
	got := h.say("nurse1", medChat, "撤销")
	h.expect(got, "工单 "+no+" 已由 张工 接手处理，已请他确认是否撤销", "[to=eng1 @] 报修人 王护士 请求撤销工单 "+no)
	if tk := h.ticket(no); tk.Status != bot.StatusAcknowledged {
		t.Fatalf("the reporter cancelled an accepted ticket: %s", tk.Status)
	}
	h.expect(h.say("eng1", "", "撤销 "+no), "已撤销工单 "+no, "[to=chat-med @nurse1] 工单 "+no+" 已撤销")
	if tk := h.ticket(no); tk.Status != bot.StatusCancelled {
		t.Errorf("engineer's withdraw: %s", tk.Status)
	}
	h.expect(h.say("nurse1", medChat, "撤销 "+no), "不能")
}

func TestTransferWaitsForTheNewEngineer(t *testing.T) {
	h := newHarness(t)
	no := h.report("nurse1", medChat, "系统很卡", "1", "1", "3")
	h.say("eng1", "", "接单 "+no)
	got := h.say("eng1", "", "转派 "+no+" @刘工 他更熟悉")
	h.expect(got, "已转派 "+no, "[to=eng2 @] <card", "[接单|ack:"+no+"]", "[to=chat-med @eng2] 工单 "+no+" 已由 张工 转派给您")
	tk := h.ticket(no)
	if tk.Status != bot.StatusNew || tk.AssigneeID != "eng2" {
		t.Fatalf("transferred ticket: %s, assignee %s", tk.Status, tk.AssigneeID)
	}
	h.expect(h.say("nurse1", medChat, "进度"), "状态：待接单", "处理人：刘工")
	h.expect(h.say("eng2", "", "接单 "+no), "已接单 "+no, "[to=chat-med @nurse1] 刘工 已接单")
	if tk := h.ticket(no); tk.Status != bot.StatusAcknowledged || tk.AssigneeID != "eng2" {
		t.Errorf("accepted ticket: %s, assignee %s", tk.Status, tk.AssigneeID)
	}
}

func TestFastPathShowsUnansweredAsUnconfirmed(t *testing.T) {
	h := newHarness(t)
	got := h.say("nurse3", edChat, "抢救中，系统打不开了，患者安全受影响")
	tk := h.onlyTicket()
	if tk.Priority != bot.P1 {
		t.Fatalf("not a fast path: %+v", tk.Classification)
	}
	h.expect(got, "急诊ICU · 未确认", "P1（范围未确认·影响患者安全）", "<card 【P1】急诊ICU · 未确认")
	// The category question that follows lists 其他 as an option; the
	// ticket's own lines must not show it.
	if s := render(got[:len(got)-1]); strings.Contains(s, "其他") || strings.Contains(s, "仅本人·") {
		t.Errorf("an assumption is shown as an answer:\n%s", s)
	}
}

// officeHours is 08:00–18:00 Shanghai every day.
type officeHours struct{}

func (officeHours) Next(t time.Time) time.Time {
	l := t.In(storagetest.Shanghai)
	start := time.Date(l.Year(), l.Month(), l.Day(), 8, 0, 0, 0, storagetest.Shanghai)
	end := start.Add(10 * time.Hour)
	switch {
	case l.Before(start):
		return start
	case !l.Before(end):
		return start.AddDate(0, 0, 1)
	}
	return t
}

func TestNightP3WaitsForTheMorning(t *testing.T) {
	h := newHarness(t)
	h.hours = officeHours{}
	h.build(t)
	h.clock.Advance(17 * time.Hour) // 03:00 in Shanghai
	h.say("nurse1", medChat, "系统很卡")
	h.say("nurse1", medChat, "1")
	h.say("nurse1", medChat, "1")
	got := h.say("nurse1", medChat, "4")
	tk := h.onlyTicket()
	if tk.Priority != bot.P3 && tk.Priority != bot.P4 || tk.Urgent {
		t.Fatalf("want a non-urgent P3/P4, got %+v", tk.Classification)
	}
	h.expect(got, "已登记工单 "+tk.No, "当前为非工作时间", "08:00 上班后处理")
	if s := render(got); strings.Contains(s, "[to=chat-med @eng1]") {
		t.Errorf("the engineer is @-mentioned in the ward group at night:\n%s", s)
	}

	// An urgent (7×24) fault at the same hour still @-mentions him.
	h.clock.Advance(time.Minute)
	got = h.say("nurse3", edChat, "抢救中，系统打不开了，患者安全受影响")
	h.expect(got, "[to=chat-ed @eng1] P1 工单")

	// In working hours a P3 is paged in the group as before.
	h.clock.Advance(6 * time.Hour) // 09:01
	h.say("nurse2", medChat, "打印机打不出来")
	h.say("nurse2", medChat, "1")
	h.say("nurse2", medChat, "1")
	got = h.say("nurse2", medChat, "4")
	h.expect(got, "[to=chat-med @eng1]")
}

func TestEngineerLogsAPhonedInFault(t *testing.T) {
	h := newHarness(t)
	h.expect(h.say("nurse1", "", "电话报修 内科ICU 电脑登不上"), "该命令仅供运维工程师使用")
	h.expect(h.say("eng1", "", "电话报修 外科 电脑登不上"), "没有找到科室「外科」", "内科ICU")
	h.expect(h.say("eng1", "", "电话报修 内科ICU 护士站电脑登不上"), "收到，正在为您登记报修", "是「无法登录」吗？")
	h.say("eng1", "", "1")
	h.say("eng1", "", "1")
	got := h.say("eng1", "", "3")
	tk := h.onlyTicket()
	if tk.ReporterID != "eng1" || tk.WardCode != "med-icu" || tk.Category != "login" {
		t.Fatalf("phoned-in ticket %+v", tk)
	}
	h.expect(got, "已登记工单 "+tk.No+"：内科ICU · 无法登录")
	var reporter string
	for _, m := range got {
		if m.Card != nil {
			for _, f := range m.Card.Fields {
				if f.Label == "报修人" {
					reporter = f.Value
				}
			}
		}
	}
	if reporter != "张工（电话报修代登记）" {
		t.Errorf("card reporter %q", reporter)
	}
	tl, _ := h.db.Timeline(context.Background(), tk.No)
	if !strings.Contains(tl[0].Detail, "电话报修，由工程师代内科ICU登记") {
		t.Errorf("reported event %q", tl[0].Detail)
	}
}

func TestStrangerInWardGroupReports(t *testing.T) {
	h := newHarness(t)
	got := h.say("newnurse", medChat, "系统很卡")
	h.expect(got, "[to=lead1 @] newnurse 在「内科ICU」群里使用了报修，但不在维保名单中", "是「系统卡顿」吗？")
	h.say("newnurse", medChat, "1")
	h.say("newnurse", medChat, "1")
	got = h.say("newnurse", medChat, "3")
	tk := h.onlyTicket()
	if tk.ReporterID != "newnurse" || tk.WardCode != "med-icu" || tk.ChatID != medChat {
		t.Fatalf("stranger's ticket %+v", tk)
	}
	h.expect(got, "[to=chat-med @newnurse] 已登记工单 "+tk.No, "[to=eng1 @] <card")
	if s := render(got); strings.Contains(s, "[to=lead1") {
		t.Errorf("the lead is asked twice:\n%s", s)
	}
	h.expect(h.say("newnurse", medChat, "接单 "+tk.No), "该命令仅供运维工程师使用")
	h.expect(h.say("newnurse", "", "系统很卡"), "您还不在维保名单中")
}

// TestFormerNurseInWardGroupReports: someone the roster no longer has
// (taken out of the file, or gone from her WeCom department) still reports
// in her ward's group, under the name the roster knew; 1:1 she is unknown.
func TestFormerNurseInWardGroupReports(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	dir := demoDirectory()
	dir.People = append(dir.People, bot.Person{UserID: "oldnurse", Name: "陈护士", Role: bot.RoleNurse, WardCode: "med-icu"})
	if err := h.db.SyncDirectory(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := h.db.SyncDirectory(ctx, demoDirectory()); err != nil { // she is taken out: inactive
		t.Fatal(err)
	}
	h.expect(h.say("oldnurse", medChat, "患者监护仪数据不显示，正在抢救"), "已登记工单", "[to=lead1 @] oldnurse")
	if tk := h.onlyTicket(); tk.ReporterID != "oldnurse" || tk.Priority != bot.P1 {
		t.Errorf("former nurse's safety report: %+v", tk)
	}
	h.expect(h.say("oldnurse", "", "系统很卡"), "您还不在维保名单中")
}

// TestHelpNamesWithdrawAndPhoneReport: the help of each role shows how to
// withdraw (and, for an engineer, how to log a phoned-in fault) in the form
// bot/command parses.
func TestHelpNamesWithdrawAndPhoneReport(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		user, help string
		examples   map[string]command.Name // typed as the help shows, with its placeholders filled in
	}{
		{"nurse1", "「撤销 工单号」撤销报修（例如「撤销 F20261126-0001」", map[string]command.Name{"撤销 F20261126-0001": command.Withdraw}},
		{"eng1", "/ 撤销 工单号 / 电话报修 科室 故障描述 /", map[string]command.Name{
			"撤销 F20261126-0001": command.Withdraw, "电话报修 内科ICU 护士站电脑登不上": command.Phone}},
	}
	for _, tt := range tests {
		h.expect(h.say(tt.user, "", "帮助"), tt.help)
		for text, want := range tt.examples {
			if c, err := command.Parse(text); err != nil || c.Name != want {
				t.Errorf("%s's help shows %q, parsed as %+v %v, want %s", tt.user, text, c, err, want)
			}
		}
	}
}
