package conversation

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/catalog"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

func TestGuidedReport(t *testing.T) {
	h := newHarness(t)
	h.expect(h.say("nurse1", medChat, "内科ICU护士站电脑登不上重症系统"), "收到，正在为您登记", "是「无法登录」吗？", "@nurse1")
	h.expect(h.say("nurse1", medChat, "是"), "影响范围？")
	h.expect(h.say("nurse1", medChat, "2"), "对临床有什么影响？")
	if n := len(h.tickets()); n != 0 {
		t.Fatalf("%d tickets before the last answer", n)
	}
	got := h.say("nurse1", medChat, "2")
	h.expect(got, "已登记工单 F20261126-0001：内科ICU · 无法登录", "P2（本科室·影响诊疗流程）", "值班工程师 张工 已收到通知",
		"等待期间可先试试：清除浏览器缓存", "[to=eng1 @] <card 【P2】内科ICU · 无法登录", "[接单|ack:F20261126-0001]",
		"[到场|arrive:F20261126-0001]", "[已解决|resolve:F20261126-0001]", "[to=chat-med @eng1] P2 工单 F20261126-0001")
	tk := h.onlyTicket()
	want := bot.Classification{Scope: bot.ScopeDepartment, Type: bot.TypeSoftware, Severity: bot.SeverityClinical,
		Difficulty: bot.DifficultySimple, Priority: bot.P2, SLAClass: "simple", Urgent: true}
	if diff := cmp.Diff(want, tk.Classification); diff != "" {
		t.Errorf("classification (-want +got):\n%s", diff)
	}
	if tk.WardCode != "med-icu" || tk.Category != "login" || tk.ChatID != medChat || tk.ReporterID != "nurse1" || tk.Due.Ack.IsZero() {
		t.Errorf("ticket %+v", tk)
	}
	if diff := cmp.Diff([]bot.EventKind{bot.EventReported, bot.EventPaged}, h.kinds(tk.No)); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if len(h.watch.nos) != 1 {
		t.Errorf("watcher heard %v", h.watch.nos)
	}
}

func TestSafetyFastPathPagesBeforeAnyQuestion(t *testing.T) {
	h := newHarness(t)
	got := h.say("nurse3", edChat, "抢救床监护仪数据不显示，患者在抢救！")
	tk := h.onlyTicket()
	if tk.Priority != bot.P1 || !tk.Urgent || tk.Severity != bot.SeverityPatientSafety || tk.Category != "device_data" {
		t.Fatalf("fast-path ticket %+v", tk.Classification)
	}
	s := render(got)
	page, question := strings.Index(s, "<card 【P1】"), strings.Index(s, "影响范围？")
	if page < 0 || question < 0 || page > question {
		t.Fatalf("the page must be queued before the next question:\n%s", s)
	}
	// Scope is not answered yet: 未确认, not the 仅本人 the classifier assumed.
	h.expect(got, "已登记工单 F20261126-0001", "P1（范围未确认·影响患者安全）")
	got = h.say("nurse3", edChat, "3")
	h.expect(got, "谢谢，工单 F20261126-0001 已按您的补充更新：急诊ICU · 监护设备数据未采集，分级 P1（全院")
	if n := len(h.tickets()); n != 1 {
		t.Fatalf("%d tickets", n)
	}
	if k := h.kinds(tk.No); k[len(k)-1] != bot.EventReclassified {
		t.Errorf("the answer did not reclassify: %v", k)
	}
	if after := h.ticket(tk.No); after.Scope != bot.ScopeHospital || after.Priority != bot.P1 {
		t.Errorf("amended ticket %+v", after.Classification)
	}
}

// TestFastPathAnswersUpdateTicket: the questions asked after a fast-path
// ticket update it through the state machine (reclassified events), never
// lower its priority, and never page again.
func TestFastPathAnswersUpdateTicket(t *testing.T) {
	h := newHarness(t)
	h.expect(h.say("nurse1", medChat, "紧急！护士站电脑登不上重症系统"), "已登记工单 F20261126-0001", "<card 【P1】", "影响范围？")
	tk := h.onlyTicket()
	if tk.Priority != bot.P1 || tk.Category != "login" || !tk.Emergency {
		t.Fatalf("fast-path ticket %+v %s", tk.Classification, tk.Category)
	}
	pagedBefore := h.count(tk.No, bot.EventPaged)
	h.expect(h.say("nurse1", medChat, "1"), "对临床有什么影响")
	got := h.say("nurse1", medChat, "4") // 仅使用不便: the fast path's assumed patient safety goes
	h.expect(got, "已按您的补充更新：内科ICU · 无法登录，分级 P1（仅本人·仅使用不便）")
	for _, m := range got {
		if m.Card != nil || len(m.ToUsers) > 0 || (m.ToChat != "" && !contains(m.Mentions, "nurse1")) {
			t.Errorf("answers must not page anyone: %s", render([]bot.Outgoing{m}))
		}
	}
	after := h.ticket(tk.No)
	want := tk.Classification
	want.Severity = bot.SeverityExperience
	if after.Classification != want || after.Due != tk.Due {
		t.Errorf("amended class %+v due %+v; want %+v due %+v", after.Classification, after.Due, want, tk.Due)
	}
	tl, err := h.db.Timeline(context.Background(), tk.No)
	if err != nil {
		t.Fatal(err)
	}
	last := tl[len(tl)-1]
	if last.Kind != bot.EventReclassified || last.Actor != "nurse1" || last.Detail != "优先级保持 P1：报修人补充回答" {
		t.Errorf("last event %+v", last)
	}
	if n := h.count(tk.No, bot.EventPaged); n != pagedBefore {
		t.Errorf("paged %d times after the answers, want %d", n, pagedBefore)
	}
}

// TestFastPathAnswersBeforeTimeout: what the nurse answered before falling
// silent still corrects the ticket when the dialogue times out.
func TestFastPathAnswersBeforeTimeout(t *testing.T) {
	h := newHarness(t)
	h.say("nurse1", medChat, "患者数据不显示")
	tk := h.onlyTicket()
	h.expect(h.say("nurse1", medChat, "2"), "影响范围？")
	h.clock.Advance(4 * time.Minute)
	if n, err := h.eng.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v", n, err)
	}
	h.expect(h.drain(), "[to=chat-med @nurse1] 谢谢，工单 "+tk.No+" 已按您的补充更新", "系统卡顿", "P1（")
	if after := h.ticket(tk.No); after.Category != "slow" || after.Priority != bot.P1 {
		t.Errorf("timed-out amendment %+v", after.Classification)
	}
}

func TestInterleavedNursesInOneGroup(t *testing.T) {
	h := newHarness(t)
	h.expect(h.say("nurse1", medChat, "系统很卡"), "是「系统卡顿」吗？", "@nurse1")
	h.expect(h.say("nurse2", medChat, "打印机打不出医嘱单"), "是「打印问题」吗？", "@nurse2")
	h.expect(h.say("nurse1", medChat, "1"), "影响范围？", "@nurse1")
	h.expect(h.say("nurse2", medChat, "1"), "影响范围？", "@nurse2")
	h.say("nurse2", medChat, "1")
	h.say("nurse1", medChat, "1")
	h.expect(h.say("nurse2", medChat, "4"), "已登记工单 F20261126-0001", "打印问题")
	h.expect(h.say("nurse1", medChat, "3"), "已登记工单 F20261126-0002", "系统卡顿")
	for _, tk := range h.tickets() {
		switch tk.ReporterID {
		case "nurse1":
			if tk.Category != "slow" || tk.Severity != bot.SeverityDaily || tk.Priority != bot.P3 {
				t.Errorf("nurse1's ticket %+v", tk)
			}
		case "nurse2":
			if tk.Category != "printing" || tk.Severity != bot.SeverityExperience || tk.Priority != bot.P4 {
				t.Errorf("nurse2's ticket %+v", tk)
			}
		}
	}
}

func TestRestartMidDialogueResumes(t *testing.T) {
	h := newHarness(t)
	h.say("nurse1", "", "电脑登不上")
	h.say("nurse1", "", "1")
	h.build(t) // another replica, same Redis and database
	h.expect(h.say("nurse1", "", "1"), "对临床有什么影响？")
	h.expect(h.say("nurse1", "", "4"), "已登记工单", "内科ICU")
	if tk := h.onlyTicket(); tk.WardCode != "med-icu" || tk.ChatID != "" || tk.Priority != bot.P4 {
		t.Errorf("ticket %+v", tk)
	}
}

func TestRedeliveredMessageIsHandledOnce(t *testing.T) {
	h := newHarness(t)
	h.send(bot.Message{ID: "dup-1", From: "nurse1", ChatID: medChat, Text: "系统很卡"})
	if got := h.send(bot.Message{ID: "dup-1", From: "nurse1", ChatID: medChat, Text: "系统很卡"}); len(got) != 0 {
		t.Errorf("redelivery queued %s", render(got))
	}
	h.expect(h.say("nurse1", medChat, "1"), "影响范围？")
}

func TestTimeoutTicketsWhatWasSaid(t *testing.T) {
	h := newHarness(t)
	h.say("nurse1", medChat, "打印机打不出")
	h.say("nurse1", medChat, "1") // it is the printer
	h.say("nurse1", medChat, "1") // scope: only her
	h.clock.Advance(2 * time.Minute)
	h.eng.Tick(context.Background(), nil)
	if n := len(h.tickets()); n != 0 {
		t.Fatalf("ticket before the timeout")
	}
	h.build(t) // survives a restart: the dialogue and its due time are in the database
	h.clock.Advance(2 * time.Minute)
	h.eng.Tick(context.Background(), nil)
	got := h.drain()
	tk := h.onlyTicket()
	// Issue 13: an abandoned printer report was P1 with a phone call. What she
	// said (her printer, only her) supports P3, and the guess waits for an engineer.
	if tk.Scope != bot.ScopePersonal || tk.Severity != bot.SeverityDaily || tk.Priority != bot.P3 || tk.Category != "printing" || !tk.Triage {
		t.Errorf("expired ticket %+v triage %v", tk.Classification, tk.Triage)
	}
	h.expect(got, "已按您描述的内容登记工单 "+tk.No, "3 分钟", "待分诊", "影响患者安全", "<card 【P3】")
	// The dialogue is over: her next "1" is not an answer to it.
	h.expect(h.say("nurse1", medChat, "1"), "当前没有需要您回复数字的问题")
	// An engineer's 接单 confirms the guess.
	h.say("eng1", "", "接单 "+tk.No)
	if tk := h.ticket(tk.No); tk.Triage {
		t.Errorf("acknowledged ticket still 待分诊")
	}
}

func TestTimeoutIsConfigurable(t *testing.T) {
	h := newHarness(t)
	var err error
	h.eng, err = New(Options{Tickets: h.svc, Directory: h.db, Outbox: h.db, Sessions: h.sessions, Dialogues: h.db, Catalog: catalog.Default(),
		Clock: h.clock, Location: storagetest.Shanghai, DialogTimeout: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	h.say("nurse1", medChat, "系统很卡")
	h.clock.Advance(5 * time.Minute)
	h.eng.Tick(context.Background(), nil)
	if n := len(h.tickets()); n != 0 {
		t.Fatalf("ticketed after 5 of 10 minutes")
	}
	h.clock.Advance(6 * time.Minute)
	h.eng.Tick(context.Background(), nil)
	h.expect(h.drain(), "您 10 分钟内未继续回答")
	if tk := h.onlyTicket(); !tk.Triage || tk.Priority == bot.P1 {
		t.Errorf("expired ticket %s triage %v", tk.Priority, tk.Triage)
	}
}

// Issue 13: 谢谢 and silence made a P1 phone call. Courtesy outside a
// dialogue opens nothing and is not answered; a bare digit is told there is
// no question; a greeting gets how to report.
func TestChitChatOpensNoReport(t *testing.T) {
	h := newHarness(t)
	for _, tt := range []struct{ text, want string }{
		{"谢谢", ""}, {"好的", ""}, {"收到", ""}, {"辛苦了！", ""}, {"👍", ""}, {"😭😭😭", ""}, {"打印机好了，谢谢", ""},
		{"3", "当前没有需要您回复数字的问题"}, {"２", "当前没有需要您回复数字的问题"},
		{"你好", "直接描述"}, {"在吗？", "直接描述"},
	} {
		got := h.say("nurse1", medChat, tt.text)
		switch {
		case tt.want == "" && len(got) != 0:
			t.Errorf("%q answered:\n%s", tt.text, render(got))
		case tt.want != "":
			h.expect(got, tt.want)
		}
	}
	h.clock.Advance(time.Hour)
	h.eng.Tick(context.Background(), nil)
	if got := h.drain(); len(got) != 0 || len(h.tickets()) != 0 {
		t.Errorf("chit-chat made %d tickets and said:\n%s", len(h.tickets()), render(got))
	}
}

func TestCancelAndRestart(t *testing.T) {
	h := newHarness(t)
	h.say("nurse1", medChat, "系统很卡")
	h.expect(h.say("nurse1", medChat, "取消"), "已取消本次报修，未创建工单")
	h.expect(h.say("nurse1", medChat, "取消"), "当前没有进行中的报修")
	h.say("nurse1", medChat, "系统很卡")
	h.expect(h.say("nurse1", medChat, "重新开始"), "请重新描述")
	h.expect(h.say("nurse1", medChat, "打印机打不出"), "是「打印问题」吗？")
	h.clock.Advance(time.Hour)
	h.eng.Tick(context.Background(), nil)
	if tk := h.onlyTicket(); tk.Category != "printing" {
		t.Errorf("restart kept the old description: %+v", tk)
	}
}

// TestDuplicateLinksReporter: issue 13 saw the duplicate question only after
// every other question. It comes once ward and category are known: her
// fault already reported, she is linked after two answers.
func TestDuplicateLinksReporter(t *testing.T) {
	h := newHarness(t)
	for _, a := range []string{"系统很卡", "1", "2", "3"} {
		h.say("nurse1", medChat, a)
	}
	first := h.onlyTicket().No
	h.expect(h.say("nurse2", medChat, "系统好卡"), "是「系统卡顿」吗？")
	h.expect(h.say("nurse2", medChat, "1"), "是否与 "+first+" 为同一故障？")
	h.expect(h.say("nurse2", medChat, "1"), "已将您加入工单 "+first)
	if n := len(h.tickets()); n != 1 {
		t.Fatalf("%d tickets after linking", n)
	}
	h.say("eng1", medChat, "接单")
	got := h.say("eng1", medChat, "已解决 原因:服务器负载高 方案:重启应用服务")
	h.expect(got, "[to=chat-med @nurse1,nurse2] 工单 "+first+" 已处理完毕", "1 已解决")
	// Both may answer; the first answer closes it.
	h.expect(h.say("nurse2", medChat, "1"), "感谢确认")
	if tk := h.ticket(first); tk.Status != bot.StatusClosed {
		t.Errorf("status %s", tk.Status)
	}
}

// TestNotADuplicateGoesOn: "no" to the duplicate question goes on with
// scope and impact, and her own ticket is created.
func TestNotADuplicateGoesOn(t *testing.T) {
	h := newHarness(t)
	for _, a := range []string{"系统很卡", "1", "2", "3"} {
		h.say("nurse1", medChat, a)
	}
	first := h.onlyTicket().No
	h.say("nurse2", medChat, "系统好卡")
	h.expect(h.say("nurse2", medChat, "1"), "是否与 "+first+" 为同一故障？")
	h.expect(h.say("nurse2", medChat, "2"), "影响范围？")
	h.expect(h.say("nurse2", medChat, "1"), "对临床有什么影响？")
	h.expect(h.say("nurse2", medChat, "4"), "已登记工单 F20261126-0002")
	if tk := h.ticket("F20261126-0002"); tk.ReporterID != "nurse2" || tk.Scope != bot.ScopePersonal || tk.Category != "slow" {
		t.Errorf("second ticket %+v", tk)
	}
}

func TestBadInputsChangeNothing(t *testing.T) {
	h := newHarness(t)
	for _, a := range []string{"系统很卡", "1", "1", "3"} {
		h.say("nurse1", medChat, a)
	}
	open := h.onlyTicket().No
	// A closed ticket to act on.
	closed := func() string {
		h.say("nurse3", edChat, "急诊ICU系统很卡")
		for _, a := range []string{"1", "1", "4"} {
			h.say("nurse3", edChat, a)
		}
		var no string
		for _, tk := range h.tickets() {
			if tk.ReporterID == "nurse3" {
				no = tk.No
			}
		}
		h.say("eng2", "", "已解决 "+no+" 原因:缓存 方案:清除")
		h.say("nurse3", edChat, "1")
		return no
	}()
	before := h.tickets()
	tests := []struct {
		name, from, chat, text string
		want                   string
	}{
		{"unknown command", "eng1", "", "foo", "没有这个命令"},
		{"wrong ticket number", "eng1", "", "接单 F20990101-0001", "未找到工单 F20990101-0001"},
		{"nurse types 接单", "nurse1", medChat, "接单", "该命令仅供运维工程师使用"},
		{"nurse types 已解决 with a cause", "nurse1", medChat, "已解决 " + open + " 原因:a 方案:b", "该命令仅供运维工程师使用"},
		{"resolve without cause", "eng1", "", "已解决 " + open, "请写明原因和方案"},
		{"resolve without solution", "eng1", "", "已解决 " + open + " 原因:网络", "请写明原因和方案"},
		{"closed ticket", "eng1", "", "接单 " + closed, "当前为「已关闭」，不能接单"},
		{"10 KB message", "nurse1", medChat, strings.Repeat("电", 3400), "内容过长"},
		{"no fault named", "nurse1", medChat, "麻烦来一下", "请用中文简单描述故障"},
		{"English", "nurse1", medChat, "please call me", "请用中文简单描述故障"},
		{"English to an engineer", "eng1", "", "please fix it", "没有这个命令"},
		{"empty", "nurse1", medChat, "   ", "没有收到内容"},
		{"only a mention", "nurse1", medChat, "@维保", "没有收到内容"},
		{"stranger 1:1", "nobody", "", "电脑坏了", "您还不在维保名单中"},
		{"reclass without reason", "eng1", "", "改级 " + open + " P1", "用法：改级"},
		{"transfer to a stranger", "eng1", "", "转派 " + open + " @王五", "名单中没有「王五」"},
		{"other ward's progress", "nurse3", edChat, "进度 " + open, "不属于您的科室"},
		{"invalid UTF-8", "nurse1", medChat, "\xff\xfe登不上", "无法识别的字符"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := h.say(tt.from, tt.chat, tt.text)
			if len(got) != 1 || strings.Contains(got[0].Text, "\n") {
				t.Fatalf("want one one-line reply, got:\n%s", render(got))
			}
			h.expect(got, tt.want)
		})
	}
	after := h.tickets()
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("bad inputs changed tickets (-before +after):\n%s", diff)
	}
}

func TestEngineerAndConfirmationLoop(t *testing.T) {
	h := newHarness(t)
	for _, a := range []string{"系统很卡", "1", "2"} {
		h.say("nurse1", medChat, a)
	}
	h.say("nurse1", medChat, "3")
	no := h.onlyTicket().No
	h.expect(h.send(bot.Message{From: "eng1", Button: &bot.ButtonClick{Key: "ack:" + no, TaskID: "weibao-" + no}}),
		"已接单 "+no, "[to=chat-med @nurse1] 张工 已接单", "<update weibao-"+no+" 已由 张工 接单>")
	h.expect(h.say("eng1", "", "备用方案 先用纸质记录"), "[to=chat-med @nurse1] 工单 "+no+" 的备用方案：先用纸质记录")
	h.expect(h.say("nurse1", medChat, "进度"), "状态：已接单", "处理人：张工", "解决时限")
	h.expect(h.say("nurse2", medChat, no), "工单 "+no)
	h.expect(h.say("eng1", "", "我的"), "进行中的工单（1 张）", no)
	h.expect(h.say("eng1", "", "值班"), "张工（主），刘工（备），项目负责人 赵经理")
	h.expect(h.say("eng1", "", "已解决 原因:数据库锁等待 方案:结束长事务"), "已解决 "+no, "@nurse1] 工单 "+no+" 已处理完毕", "原因：数据库锁等待")
	if len(h.resolved) != 1 {
		t.Errorf("OnResolved calls: %v", h.resolved)
	}
	h.clock.Advance(10 * time.Minute)
	h.expect(h.say("nurse1", medChat, "2"), "已重新打开工单 "+no, "<card 【P2·重开】", "[to=chat-med @eng1] "+no+" 报修人反馈仍有问题")
	if tk := h.ticket(no); tk.Status != bot.StatusInProgress || tk.ReopenCount != 1 || !tk.Due.Resolve.Equal(h.clock.Now().Add(time.Hour).Truncate(time.Millisecond)) {
		t.Errorf("reopened ticket: status %s reopen %d due %v", tk.Status, tk.ReopenCount, tk.Due.Resolve)
	}
	h.say("eng1", "", "已解决 原因:索引缺失 方案:补建索引")
	h.build(t) // the confirmation question survives a restart
	h.expect(h.say("nurse1", medChat, "1"), "感谢确认，工单 "+no+" 已关闭", "[to=eng1 @] 报修人已确认")
	h.expect(h.say("nurse1", medChat, "5"), "谢谢您的评价（5 分）")
	tk := h.ticket(no)
	if tk.Status != bot.StatusClosed || tk.Rating != 5 || tk.ReopenCount != 1 {
		t.Errorf("final ticket: %+v", tk)
	}
	want := []bot.EventKind{bot.EventReported, bot.EventPaged, bot.EventAcknowledged, bot.EventWorkaround, bot.EventResolved,
		bot.EventReopened, bot.EventResolved, bot.EventConfirmed, bot.EventClosed, bot.EventRated}
	if diff := cmp.Diff(want, h.kinds(no)); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	// A rating is asked once: another "5" is not a rating now.
	h.expect(h.say("nurse1", medChat, "5"), "当前没有需要您回复数字的问题")
}

func TestConfirmationWithoutRedisStateUsesDatabase(t *testing.T) {
	h := newHarness(t)
	for _, a := range []string{"系统很卡", "1", "1", "3"} {
		h.say("nurse1", medChat, a)
	}
	no := h.onlyTicket().No
	h.say("eng1", "", "已解决 "+no+" 原因:a 方案:b")
	h.sessions.Delete(context.Background(), pendingKey(medChat, "nurse1"))
	h.expect(h.say("nurse1", "", "已解决"), "感谢确认")
}

func TestAutoConfirmAfterWindow(t *testing.T) {
	h := newHarness(t)
	for _, a := range []string{"系统很卡", "1", "1", "3"} {
		h.say("nurse1", medChat, a)
	}
	no := h.onlyTicket().No
	h.say("eng1", "", "已解决 "+no+" 原因:a 方案:b")
	h.clock.Advance(23 * time.Hour)
	h.eng.Tick(context.Background(), nil)
	if tk := h.ticket(no); tk.Status != bot.StatusResolved {
		t.Fatalf("confirmed early: %s", tk.Status)
	}
	h.clock.Advance(2 * time.Hour)
	h.eng.Tick(context.Background(), nil)
	h.expect(h.drain(), "系统已自动确认并关闭")
	tk := h.ticket(no)
	tl, _ := h.db.Timeline(context.Background(), no)
	if tk.Status != bot.StatusClosed || tl[len(tl)-2].Actor != bot.ActorSystem || tl[len(tl)-2].Detail != "报修人解决后未反馈，系统自动确认" {
		t.Errorf("auto-confirm: %s %+v", tk.Status, tl[len(tl)-2])
	}
}

func TestArriveWithLocationAndTransfer(t *testing.T) {
	h := newHarness(t)
	h.say("nurse1", medChat, "患者监护仪数据不显示")
	no := h.onlyTicket().No
	h.say("eng1", "", "接单")
	h.expect(h.send(bot.Message{From: "eng1", Location: &bot.Location{Lat: 26.0795, Lng: 119.3}}), "已记录到场 "+no)
	tl, _ := h.db.Timeline(context.Background(), no)
	if d := tl[len(tl)-1].Detail; !strings.HasPrefix(d, "距东街院区 ") {
		t.Errorf("arrival detail %q", d)
	}
	h.expect(h.say("eng1", "", "转派 @刘工 他更熟悉设备接口"), "已转派 "+no, "[to=eng2 @] <card")
	if tk := h.ticket(no); tk.AssigneeID != "eng2" {
		t.Errorf("assignee %s", tk.AssigneeID)
	}
	h.expect(h.say("eng2", "", "改级 P2 实际只影响一台床旁机"), "已改为 P2")
	h.expect(h.say("eng2", "", "升级 需要厂家支持"), "已升级", "[to=lead1 @]")
}

func TestSurvey(t *testing.T) {
	h := newHarness(t)
	var got map[string]string
	questions := []SurveyQuestion{{Key: "cause", Label: "原因", Prompt: "根本原因是什么？"}, {Key: "lesson", Label: "改进", Prompt: "有什么改进？"}}
	h.surveys = map[string]Survey{"analysis": {Questions: questions,
		Done: func(ctx context.Context, res SurveyResult) (string, error) {
			subject, answers := res.Subject, res.Answers
			if subject != "F20261126-0001" {
				t.Errorf("subject %q", subject)
			}
			got = answers
			return "", nil
		}}}
	h.build(t)
	if err := h.eng.StartSurvey(context.Background(), "analysis", "eng1", "", "F20261126-0001", ""); err != nil {
		t.Fatal(err)
	}
	h.expect(h.drain(), "（1/2）根本原因是什么？")
	h.build(t) // survives a restart (the surveys are the wiring's)
	h.expect(h.say("eng1", "", "交换机端口故障"), "（2/2）有什么改进？")
	h.expect(h.say("eng1", "", "增加端口监控"), "谢谢，已全部记录")
	if diff := cmp.Diff(map[string]string{"cause": "交换机端口故障", "lesson": "增加端口监控"}, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if err := h.eng.StartSurvey(context.Background(), "nope", "eng1", "", "x", ""); err == nil {
		t.Error("unknown survey started")
	}
}

// TestSurveyRequests: a requested survey starts on the next sweep; one asked
// while the person is reporting a fault waits for a later sweep.
func TestSurveyRequests(t *testing.T) {
	h := newHarness(t)
	h.surveys = map[string]Survey{"analysis": {Questions: []SurveyQuestion{{Key: "cause", Prompt: "根本原因是什么？"}},
		Done: func(context.Context, SurveyResult) (string, error) { return "", nil }}}
	h.build(t)
	ctx := context.Background()
	req := SurveyRequests{Sessions: h.sessions}
	h.say("nurse1", "", "网络打印机打不出来")
	if err := req.StartSurvey(ctx, "analysis", "nurse1", "", "F20261126-0009", ""); err != nil {
		t.Fatal(err)
	}
	h.drain()
	h.eng.Tick(ctx, nil)
	if out := render(h.drain()); strings.Contains(out, "根本原因") {
		t.Fatalf("survey interrupted a fault report:\n%s", out)
	}
	h.say("nurse1", "", "取消")
	h.drain()
	h.eng.Tick(ctx, nil)
	h.expect(h.drain(), "（1/1）根本原因是什么？")
	h.eng.Tick(ctx, nil)
	if out := h.drain(); len(out) != 0 {
		t.Errorf("a started survey was asked again:\n%s", render(out))
	}
}

// TestRepliesCarryTheirMessagesRoute: every answer to a message, from the
// dialogue, from ticketing or as a card update, carries that message's
// reply route for the channel.
func TestRepliesCarryTheirMessagesRoute(t *testing.T) {
	h := newHarness(t)
	route := func(id string) string { return "route-of-" + id }
	send := func(m bot.Message) []bot.Outgoing {
		m.Route = route(m.ID)
		return h.send(m)
	}
	var out []bot.Outgoing
	for i, a := range []string{"系统很卡", "1", "2", "3"} {
		out = append(out, send(bot.Message{ID: fmt.Sprintf("r%d", i), From: "nurse1", ChatID: medChat, Text: a})...)
	}
	no := h.onlyTicket().No
	out = append(out, send(bot.Message{ID: "click", From: "eng1", Button: &bot.ButtonClick{Key: "ack:" + no, TaskID: "weibao-" + no}})...)
	replies := 0
	for _, m := range out {
		if m.ReplyTo == "" {
			continue
		}
		replies++
		if m.Route != route(m.ReplyTo) {
			t.Errorf("reply %s to %s carries route %q, want %q", m.Key, m.ReplyTo, m.Route, route(m.ReplyTo))
		}
	}
	if replies < 5 {
		t.Errorf("%d replies, want one at least to each message", replies)
	}
}

// Issue 18 item 6: Redis flushed (or restarted empty) mid-dialogue loses no
// report: the next answer goes on from the question she was asked, and a
// dialogue nobody finishes is still ticketed by the sweep.
func TestFlushedRedisKeepsDialogues(t *testing.T) {
	h := newHarness(t)
	h.expect(h.say("nurse1", medChat, "内科ICU护士站电脑登不上重症系统"), "是「无法登录」吗？")
	h.expect(h.say("nurse3", edChat, "打印机打不出"), "是「打印问题」吗？")
	redistest.Flush(t, h.redis, h.prefix)
	h.build(t) // and a replica restarted with it

	h.expect(h.say("nurse1", medChat, "是"), "影响范围？")
	h.expect(h.say("nurse1", medChat, "2"), "对临床有什么影响？")
	h.expect(h.say("nurse1", medChat, "2"), "已登记工单 F20261126-0001：内科ICU · 无法登录")

	redistest.Flush(t, h.redis, h.prefix)
	h.clock.Advance(4 * time.Minute)
	if n, err := h.eng.Sweep(context.Background()); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want the silent nurse's dialogue", n, err)
	}
	h.expect(h.drain(), "已按您描述的内容登记工单 F20261126-0002")
	if n := len(h.tickets()); n != 2 {
		t.Errorf("%d tickets, want 2", n)
	}
	if n, err := h.eng.Sweep(context.Background()); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want nothing left", n, err)
	}
}
