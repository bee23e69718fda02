package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/warroom"
	"weibao/wecom/wecomtest"
)

// TestKnowledgeEndToEnd drives the knowledge base through the robot's
// callback on the test database and Redis: a resolved ticket proposes an
// entry to its engineer, who approves it, marks it for nurses and edits
// it; engineers and nurses search it (nurses see FAQ entries only); a
// nurse whose report matches the FAQ is offered it with her first
// question; bad commands get their usage or a clear refusal and change
// nothing.
func TestKnowledgeEndToEnd(t *testing.T) {
	r := startRobot(t, bot.SystemClock{})
	m, say := r.m, r.say
	ctx := context.Background()
	const group = "demo-med-icu"
	say("nurse1", group, "内科ICU护士站电脑登不上重症系统", reply("无法登录"))
	say("nurse1", group, "1", reply("影响范围"))
	say("nurse1", group, "2", reply("对临床有什么影响"))
	say("nurse1", group, "2", reply("已登记工单"))
	say("eng1", "", "接单", reply("已接单"))
	say("eng1", "", "已解决 原因:浏览器缓存损坏 方案:清除缓存", reply("已解决"), toUser("eng1", "建议收入知识库"))

	es, err := m.DB.Entries(ctx, bot.KBFilter{})
	if err != nil || len(es) != 1 {
		t.Fatalf("entries %v %v, want the one proposed", es, err)
	}
	e := es[0]
	if e.Status != bot.KBProposed || e.Symptom != "内科ICU护士站电脑登不上重症系统" || e.Cause != "浏览器缓存损坏" || e.Fix != "清除缓存" {
		t.Errorf("proposed %+v", e)
	}
	id := fmt.Sprint(e.ID)
	// Not yet approved: nobody finds it.
	say("eng1", "", "知识库 缓存", reply("没有找到「缓存」"))
	say("eng1", "", "知识库 待审核", reply("#"+id+" 【"))
	say("eng1", "", "知识库 通过 "+id, reply("#"+id+" 已审核收录"))
	say("eng1", "", "知识库 缓存", reply("知识库「缓存」找到 1 条"), reply("原因：浏览器缓存损坏"))
	// A nurse sees FAQ entries only.
	say("nurse2", "", "知识库 缓存", reply("没有找到"))
	say("eng1", "", "知识库 FAQ "+id, reply("已设为常见问题"))
	say("nurse2", "", "知识库 缓存", reply("找到 1 条"))
	say("eng1", "", "知识库 修改 "+id+" 方案:清除浏览器缓存后重新登录", reply("已修改并收录"), reply("方案：清除浏览器缓存后重新登录"))

	// Bad input: usage, unknown entry, not an engineer; nothing changes.
	say("eng1", "", "知识库 通过 abc", reply("用法：知识库"))
	say("eng1", "", "知识库 通过 99999", reply("未找到知识库条目 #99999"))
	say("nurse2", "", "知识库 通过 "+id, reply("工程师"))
	say("eng1", "", "知识库 修改 "+id+" 分类:nosuch", reply("没有故障分类「nosuch」"))
	got, err := m.DB.Entry(ctx, e.ID)
	if err != nil || got.Status != bot.KBApproved || !got.FAQ || got.Fix != "清除浏览器缓存后重新登录" || got.ReviewedBy != "eng1" || got.Category != e.Category {
		t.Errorf("entry after the commands %+v %v", got, err)
	}

	// A nurse reporting the same fault is offered the FAQ with her first question.
	say("nurse3", "demo-js-icu", "护士站电脑登不上重症系统了", reply("常见问题：内科ICU护士站电脑登不上重症系统"),
		reply("可先试：清除浏览器缓存后重新登录"))
}

// TestWarRoomEndToEnd: a P1 report pages the emergency team in one message,
// opens a war-room group (the lead, the team, the ward's head nurse) named
// after the ticket with its card and timeline; actions show up there, a
// member's first action is recorded as joining, and the fallback plan is
// recorded as sent to the affected wards.
func TestWarRoomEndToEnd(t *testing.T) {
	r := startRobot(t, bot.SystemClock{})
	m, fake, say := r.m, r.fake, r.say
	ctx := context.Background()
	const group = "demo-med-icu"
	var chat string
	say("nurse1", group, "内科ICU监护仪数据不显示，影响抢救", reply("已登记工单"),
		want{"appchat/create of the war room", func(q wecomtest.Request) bool {
			if q.API != "appchat/create" {
				return false
			}
			chat, _ = q.Body["chatid"].(string)
			users, _ := q.Body["userlist"].([]any)
			name, _ := q.Body["name"].(string)
			return q.Body["owner"] == "lead1" && slices.Equal(users, []any{"lead1", "eng1", "eng2", "nurse4"}) &&
				strings.HasPrefix(name, "【P1】F") && strings.Contains(name, "应急处置 内科ICU")
		}},
		want{"the card and timeline in the war room", func(q wecomtest.Request) bool {
			md, _ := q.Body["markdown"].(map[string]any)
			content, _ := md["content"].(string)
			return q.API == "appchat/send" && strings.Contains(content, "应急处置**") && strings.Contains(content, "王护士 报修") &&
				strings.Contains(content, "成员：赵经理、张工、刘工、周护士长")
		}},
		want{"one page to the whole team", func(q wecomtest.Request) bool {
			return q.API == "message/send" && q.Body["touser"] == "eng1|eng2|lead1" && strings.Contains(string(q.Raw), "应急响应")
		}})
	ts, err := m.DB.Tickets(ctx, bot.TicketFilter{})
	if err != nil || len(ts) != 1 || ts[0].Priority != bot.P1 {
		t.Fatalf("tickets %v %v, want one P1", ts, err)
	}
	no := ts[0].No
	if chat != warroom.ChatID(no) {
		t.Errorf("war room chat id %q, want %q", chat, warroom.ChatID(no))
	}
	inRoom := func(s string) want {
		return want{"a war-room post containing " + s, func(q wecomtest.Request) bool {
			return q.API == "appchat/send" && q.Body["chatid"] == chat && strings.Contains(string(q.Raw), s)
		}}
	}
	say("eng1", "", "接单 "+no, reply("已接单"), inRoom("张工 接单"), inRoom("参与处置：张工"))
	say("eng2", "", "备注 "+no+" 我去机房查交换机", reply(no), inRoom("刘工 备注：我去机房查交换机"), inRoom("参与处置：刘工"))
	say("eng1", "", "备用方案 "+no+" 请暂时手工记录生命体征", inRoom("备用方案已通知科室：内科ICU"))

	tl, err := m.DB.Timeline(ctx, no)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range tl {
		switch e.Kind {
		case bot.EventWarRoom, bot.EventJoined, bot.EventFallbackSent:
			kinds = append(kinds, string(e.Kind)+":"+e.Detail)
		}
	}
	want := []string{"war_room:赵经理、张工、刘工、周护士长", "joined:eng1", "joined:eng2", "fallback_sent:内科ICU"}
	if !slices.Equal(kinds, want) {
		t.Errorf("war-room events %q, want %q", kinds, want)
	}
	// The chat is WeCom's, as the fake keeps it.
	if c, ok := fake.Chat(chat); !ok || len(c.Members) != 4 {
		t.Errorf("fake chat %+v %v", c, ok)
	}
}

// toUser matches an app message to user containing s.
func toUser(user, s string) want {
	return want{"an app message to " + user + " containing " + s, func(q wecomtest.Request) bool {
		return q.API == "message/send" && q.Body["touser"] == user && strings.Contains(string(q.Raw), s)
	}}
}

// TestUpgradeEndToEnd: 升级申请 walks the engineer through the checklist,
// re-asking a choice, a ward or a window it cannot take; the lead is asked
// with a card, only the lead approves, only before the window, and the
// approval tells the affected ward; 升级完成 records the outcome, and 版本
// lists the system's history.
func TestUpgradeEndToEnd(t *testing.T) {
	r := startRobot(t, bot.SystemClock{})
	m, say := r.m, r.say
	ctx := context.Background()
	say("eng1", "", "升级申请 重症系统", reply("升级前检查"), reply("升级到哪个版本"))
	say("eng1", "", "v5.2.1", reply("升级内容"))
	say("eng1", "", "修复医嘱模块打印问题", reply("测试是否已完成"))
	say("eng1", "", "还没测", reply("测试是否已完成"))
	say("eng1", "", "已完成 测试环境验证通过", reply("风险评估"))
	say("eng1", "", "升级失败时医嘱无法打印，立即回退", reply("备份是否已完成"))
	say("eng1", "", "已完成 数据库全量备份到NAS", reply("回退方案"))
	say("eng1", "", "恢复旧版安装包和数据库备份", reply("影响哪些功能模块"))
	say("eng1", "", "医嘱打印", reply("影响哪些科室"))
	say("eng1", "", "内科ICU、火星科", reply("有科室名认不出"))
	say("eng1", "", "内科ICU", reply("计划窗口"))
	say("eng1", "", "明天晚上", reply("看不懂这个时间段"))
	say("eng1", "", "2020-01-01 22:00-23:00", reply("已经开始或已过"))
	day := time.Now().In(m.Config.Location).AddDate(0, 0, 2).Format("2006-01-02")
	say("eng1", "", day+" 22:00-23:30", reply("已提交"), want{"the approval card to the lead", func(q wecomtest.Request) bool {
		card, _ := q.Body["template_card"].(map[string]any)
		return q.API == "message/send" && q.Body["touser"] == "lead1" && card != nil && strings.Contains(string(q.Raw), "upgrade_approve:R")
	}})
	rs, err := m.DB.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindUpgrade}})
	if err != nil || len(rs) != 1 {
		t.Fatalf("upgrade records %v %v", rs, err)
	}
	no := rs[0].No
	if f := rs[0].Fields; rs[0].Subject != "重症系统" || f["test"] != "已完成：测试环境验证通过" || f["wards"] != "内科ICU" || f["approval"] != "pending" {
		t.Errorf("record %+v", rs[0])
	}
	say("eng1", "", "升级批准 "+no, reply("只有项目负责人"))
	say("eng1", "", "升级完成 "+no+" 结果:成功 版本:v5.2.1 影响:无", reply("尚未批准"))
	say("lead1", "", "升级批准 "+no, reply("已批准升级 "+no), toUser("eng1", "已批准"),
		want{"the downtime notice in 内科ICU's group", func(q wecomtest.Request) bool {
			return q.API == "webhook/send" && strings.Contains(string(q.Raw), "停机通知") && strings.Contains(string(q.Raw), day+" 22:00-23:30")
		}})
	say("lead1", "", "升级批准 "+no, reply("已经批准过了"))
	say("eng1", "", "升级完成 "+no+" 结果:成功", reply("用法：升级完成"))
	say("eng1", "", "升级完成 "+no+" 结果:成功 版本:v5.2.1 影响:打印中断20分钟", reply("已记录"), toUser("lead1", "升级完成 "+no))
	say("eng1", "", "版本 重症系统", reply("重症系统 版本记录（1）"), reply("v5.2.1 · 成功"))
	got, err := m.DB.Record(ctx, no)
	if err != nil || got.Status != bot.RecordDone || got.Fields["approved_by"] != "lead1" || got.Fields["impact"] != "打印中断20分钟" {
		t.Errorf("record after 升级完成 %+v %v", got, err)
	}
}

// TestRegisterEndToEnd: an urgent bug is a P1 ticket at once, linked both
// ways; a normal bug needs a deadline within three months; a requirement
// of up to five person-days is included, a bigger one is extra and waits
// for the hospital contact's 需求确认, which nobody else may give.
func TestRegisterEndToEnd(t *testing.T) {
	r := startRobot(t, bot.SystemClock{})
	m, say := r.m, r.say
	ctx := context.Background()
	say("eng1", "", "登记缺陷 紧急 医嘱保存后数据丢失", reply("紧急缺陷 R"), reply("P1 故障建单 F"))
	bugs, err := m.DB.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindBug}})
	if err != nil || len(bugs) != 1 || len(bugs[0].Tickets) != 1 {
		t.Fatalf("bugs %+v %v", bugs, err)
	}
	tk, err := m.DB.Ticket(ctx, bugs[0].Tickets[0])
	if err != nil || tk.Priority != bot.P1 {
		t.Fatalf("bug's ticket %+v %v", tk, err)
	}
	linked, err := m.DB.TicketRecords(ctx, tk.No)
	if err != nil || len(linked) != 1 || linked[0].No != bugs[0].No {
		t.Errorf("ticket's records %v %v", linked, err)
	}
	tl, _ := m.DB.Timeline(ctx, tk.No)
	if !slices.ContainsFunc(tl, func(e bot.Event) bool { return e.Kind == bot.EventNoted && strings.Contains(e.Detail, bugs[0].No) }) {
		t.Errorf("ticket timeline does not name the bug: %+v", tl)
	}
	now := time.Now().In(m.Config.Location)
	soon, far := now.AddDate(0, 1, 0).Format("2006-01-02"), now.AddDate(0, 4, 0).Format("2006-01-02")
	say("eng1", "", "登记缺陷 报表导出列错位", reply("用法：登记缺陷"))
	say("eng1", "", "登记缺陷 报表导出列错位 期限:"+far, reply("不晚于"))
	say("eng1", "", "登记缺陷 报表导出列错位 期限:"+soon, reply("约定期限 "+soon))
	say("eng1", "", "登记需求 3 增加护理评估单打印 期限:"+soon, reply("在合同包含范围内"))
	say("eng1", "", "登记需求 8 对接新检验系统 期限:"+soon, reply("标记为额外需求"), toUser("it1", "超出合同包含的 5 人天"))
	reqs, err := m.DB.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindRequirement}})
	if err != nil || len(reqs) != 2 {
		t.Fatalf("requirements %v %v", reqs, err)
	}
	extra := reqs[1]
	say("eng1", "", "需求确认 "+extra.No, reply("只有医院联系人"))
	say("it1", "", "需求确认 "+reqs[0].No, reply("无需确认"))
	say("it1", "", "需求确认 "+extra.No, reply("已确认需求 "+extra.No), toUser("eng1", "医院已确认需求"))
	got, _ := m.DB.Record(ctx, extra.No)
	if got.Fields["included"] != "no" || got.Fields["confirmation"] != "confirmed" || got.Fields["confirmed_by"] != "it1" {
		t.Errorf("extra requirement %+v", got.Fields)
	}
}

// TestKnowledgeAPI: the knowledge base and the record actions for the
// signed-in person (the demo lead's token): list, search, approve, and bad
// input answered 400 with nothing changed; a lead is no hospital contact.
func TestKnowledgeAPI(t *testing.T) {
	m, _ := openTestMain(t, nil)
	ctx := context.Background()
	e := bot.KBEntry{TicketNo: "F20261204-0001", Category: "other", Symptom: "护士站电脑登不上重症系统", Cause: "浏览器缓存损坏",
		Fix: "清除缓存", Status: bot.KBProposed, ProposedAt: time.Now()}
	if _, err := m.DB.ProposeEntry(ctx, &e, func(*bot.KBEntry) []bot.Outgoing { return nil }); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, m.URL()+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	tok := m.DemoToken
	id := fmt.Sprint(e.ID)
	for _, tt := range []struct {
		method, path, body, token string
		code                      int
		has                       string
	}{
		{"GET", "/api/v1/knowledge", "", "", 401, ""},
		{"GET", "/api/v1/knowledge?status=proposed", "", tok, 200, `"status":"proposed"`},
		{"GET", "/api/v1/knowledge?status=maybe", "", tok, 400, "status"},
		{"GET", "/api/v1/knowledge?q=缓存", "", tok, 200, `"entries":[]`},
		{"POST", "/api/v1/knowledge/" + id + "/approve", `{"extra":1}`, tok, 400, "extra"},
		{"POST", "/api/v1/knowledge/abc/approve", "", tok, 400, "id"},
		{"POST", "/api/v1/knowledge/99999/approve", "", tok, 404, "99999"},
		{"POST", "/api/v1/knowledge/" + id + "/approve", "", tok, 200, `"status":"approved"`},
		{"GET", "/api/v1/knowledge?q=缓存", "", tok, 200, `"symptom":"护士站电脑登不上重症系统"`},
		{"POST", "/api/v1/knowledge/" + id + "/faq", `{}`, tok, 400, "faq"},
		{"POST", "/api/v1/knowledge/" + id + "/faq", `{"faq":true}`, tok, 200, `"faq":true`},
		{"GET", "/api/v1/knowledge/" + id, "", tok, 200, `"reviewed_by":"lead1"`},
		{"POST", "/api/v1/upgrades/R20990101-0001/approve", "", tok, 404, "R20990101-0001"},
		{"POST", "/api/v1/upgrades/nope/approve", "", tok, 400, "no"},
		{"POST", "/api/v1/requirements/R20990101-0001/confirm", "", tok, 403, "医院联系人"},
		{"GET", "/api/v1/upgrades/history?system=重症系统", "", tok, 200, `"records":[]`},
	} {
		code, body := call(tt.method, tt.path, tt.body, tt.token)
		if code != tt.code || !strings.Contains(body, tt.has) {
			t.Errorf("%s %s %s = %d %s, want %d with %s", tt.method, tt.path, tt.body, code, body, tt.code, tt.has)
		}
	}
}
