package records_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"weibao/bot"
	"weibao/bot/records"
	"weibao/catalog"
	"weibao/storage"
	"weibao/storage/storagetest"
	"weibao/xlsx"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func at(y int, m time.Month, d, h int) time.Time {
	return time.Date(y, m, d, h, 30, 0, 0, storagetest.Shanghai)
}

// weekdays: Monday to Friday are working days.
type weekdays struct{}

func (weekdays) IsWorkday(t time.Time) bool {
	return t.Weekday() != time.Saturday && t.Weekday() != time.Sunday
}

type env struct {
	db     *storage.DB
	svc    *records.Service
	clock  *clock
	filed  []records.Anomaly
	failOn string // an anomaly key whose ticket fails to file
	// metrics answers for monitoring; nil: no figures.
	metrics *metrics
}

func (e *env) Usage(ctx context.Context, instance string, windows bool) (records.Usage, error) {
	if e.metrics == nil {
		return records.Usage{}, nil
	}
	return e.metrics.Usage(ctx, instance, windows)
}

// newEnv is the service on the test database, with monitoring answering
// whatever e.metrics says (nil: no figures).
func newEnv(t *testing.T) *env {
	t.Helper()
	db := storagetest.Open(t)
	ctx := context.Background()
	err := db.SyncDirectory(ctx, storage.DirectoryData{
		Wards: []bot.Ward{{Code: "med-icu", Name: "内科ICU"}},
		People: []bot.Person{{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer}, {UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer},
			{UserID: "lead1", Name: "赵经理", Role: bot.RoleLead, Mobile: "13800000003"}, {UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"}},
		Categories: []bot.Category{{Code: "other", Name: "其他", Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, clock: &clock{t: at(2026, 12, 4, 10)}}
	seq := 0
	e.svc, err = records.New(records.Options{Store: db, Directory: db, Outbox: db, Catalog: catalog.Default(), Clock: e.clock,
		Encoder: xlsx.Encoder{Texts: catalog.Default()}, Location: storagetest.Shanghai, Workdays: weekdays{},
		Systems: []records.System{{Code: "db", Name: "数据库服务器", Type: bot.TypeServer, Items: []string{"cpu", "disk"}, Instance: "db:9100"},
			{Code: "app", Name: "应用服务", Type: bot.TypeSoftware, Items: []string{"server_log"}}},
		ContractStart: at(2026, 7, 1, 0).Truncate(24 * time.Hour), ContractEnd: time.Date(2027, 1, 1, 0, 0, 0, 0, storagetest.Shanghai),
		EmergencyTeam: []string{"eng1", "lead1"}, Metrics: e,
		FileTicket: func(ctx context.Context, a records.Anomaly) (string, error) {
			if a.Key == e.failOn {
				return "", errors.New("ticketing down")
			}
			e.filed = append(e.filed, a)
			seq++
			return fmt.Sprintf("F20261204-%04d", seq), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// finish runs a flow's Done as the dialogue does.
func (e *env) finish(t *testing.T, kind bot.RecordKind, subject, msg string, answers map[string]string) (string, error) {
	t.Helper()
	return e.svc.Flows()[records.FlowName(kind)].Done(context.Background(), bot.FlowResult{UserID: "eng1", Subject: subject, MsgID: msg, Answers: answers})
}

func (e *env) outbox(t *testing.T) string {
	t.Helper()
	ds, err := e.db.ClaimDeliveries(context.Background(), time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "[%s%s] %s\n", strings.Join(d.Message.ToUsers, ","), d.Message.ToChat, d.Message.Text)
		e.db.DeliverySent(context.Background(), d.ID, time.Now(), "test")
	}
	return b.String()
}

func TestInspectionAnomalyTicketsLinkedAndRetried(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	answers := map[string]string{"item.cpu": "正常", "item.cpu.note": "监控读数：CPU 使用率 12.0%", "item.disk": "异常",
		"item.disk.note": "/data 92%", "feedback": "已告知信息科", "solution": "清理归档日志"}
	// The ticket for the anomaly fails: nothing is lost, the retry files it once.
	e.failOn = "item.disk"
	if _, err := e.finish(t, bot.KindInspection, "db", "m1", answers); err == nil {
		t.Fatal("a failed ticket was not an error")
	}
	e.failOn = ""
	reply, err := e.finish(t, bot.KindInspection, "db", "m1", answers)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := e.finish(t, bot.KindInspection, "db", "m1", answers); err != nil || again != reply {
		t.Errorf("a redelivered finish: %q, %v; want the same reply", again, err)
	}
	if len(e.filed) != 1 || e.filed[0].Type != bot.TypeServer || !strings.Contains(e.filed[0].Description, "磁盘空间：/data 92%") {
		t.Fatalf("filed %+v", e.filed)
	}
	for _, w := range []string{"已保存月度巡检记录 R20261204-0001（数据库服务器）", "已建工单：F20261204-0001", "本月还需巡检：应用服务"} {
		if !strings.Contains(reply, w) {
			t.Errorf("reply lacks %q:\n%s", w, reply)
		}
	}
	r, err := e.db.Record(ctx, "R20261204-0001")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"content": "CPU、磁盘空间", "result": "正常 1 项，异常 1 项", "anomalies": "磁盘空间：/data 92%",
		"feedback": "已告知信息科", "solution": "清理归档日志", "item.cpu": "正常：监控读数：CPU 使用率 12.0%", "item.disk": "异常：/data 92%",
		"item.disk.ticket": "F20261204-0001"}
	for k, v := range want {
		if r.Fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, r.Fields[k], v)
		}
	}
	if r.Status != bot.RecordDone || len(r.Tickets) != 1 {
		t.Errorf("record %+v", r)
	}
	if out := e.outbox(t); !strings.Contains(out, "[lead1] 【月度巡检异常】记录 R20261204-0001（数据库服务器）：磁盘空间：/data 92%") {
		t.Errorf("lead not told:\n%s", out)
	}
}

func TestBackupCheckFailureEscalatesAtOnce(t *testing.T) {
	e := newEnv(t)
	reply, err := e.finish(t, bot.KindBackupCheck, "", "m1", map[string]string{"logs": "异常", "logs.note": "昨晚全备失败", "maintenance": ""})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(reply, "已建工单") || len(e.filed) != 1 {
		t.Errorf("reply %q, filed %v", reply, e.filed)
	}
	if out := e.outbox(t); !strings.Contains(out, "[lead1] 【备份检查失败·请立即关注】") {
		t.Errorf("lead not told at once:\n%s", out)
	}
	// A good check files nothing and tells nobody.
	if _, err := e.finish(t, bot.KindBackupCheck, "", "m2", map[string]string{"logs": "正常", "maintenance": "已重建索引"}); err != nil {
		t.Fatal(err)
	}
	if len(e.filed) != 1 || e.outbox(t) != "" {
		t.Errorf("a good check filed %v", e.filed)
	}
}

// TestReminders moves the clock through December 2026: the inspection from
// day 20 (engineers, working days), the lead on the month's last working
// day, the performance review in the quarter's last month, the backups by
// interval, the contract 30 and 7 days before it ends.
func TestReminders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	remind := func(day time.Time) string {
		t.Helper()
		e.clock.Set(day)
		if err := e.svc.Remind(ctx, day); err != nil {
			t.Fatal(err)
		}
		return e.outbox(t)
	}
	// Nothing recorded yet: on 2 December the quarter's review, the backup
	// check and the restore drill are due, and the contract has 30 days left.
	out := remind(at(2026, 12, 2, 9))
	for _, w := range []string{"【性能分析提醒】2026Q4", "【备份检查提醒】尚无备份检查记录", "【恢复演练提醒】", "[lead1] 【服务期提醒】本期运维服务至 2026-12-31 结束，还剩 30 天，"} {
		if !strings.Contains(out, w) {
			t.Errorf("1 Dec lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "巡检") {
		t.Errorf("inspection reminded before day 20:\n%s", out)
	}
	// The same day again queues nothing new.
	if out := remind(at(2026, 12, 2, 11)); out != "" {
		t.Errorf("second run the same day:\n%s", out)
	}
	// Records stop their reminders.
	for _, k := range []bot.RecordKind{bot.KindPerformance, bot.KindBackupCheck, bot.KindRestoreDrill} {
		fs := map[string]string{}
		if k == bot.KindPerformance {
			fs = map[string]string{"findings": "慢查询 3 条", "actions": "加索引", "restart": "无需定期重启"}
		}
		if _, err := e.svc.Create(ctx, "eng1", bot.Record{Kind: k, Fields: fs}); err != nil {
			t.Fatal(err)
		}
	}
	if out := remind(at(2026, 12, 3, 9)); out != "" {
		t.Errorf("reminded although recorded:\n%s", out)
	}
	// The backup check (of 2 Dec) is due again on the 9th, then once in
	// every 3 days, on the window's first working day (12–13 are a weekend).
	for _, d := range []struct {
		day  int
		want bool
	}{{9, true}, {10, false}, {11, false}, {14, true}} {
		if out := remind(at(2026, 12, d.day, 9)); strings.Contains(out, "【备份检查提醒】上次备份检查是 2026-12-02，已超过 7 天") != d.want {
			t.Errorf("%d Dec: backup reminder %v, want %v:\n%s", d.day, !d.want, d.want, out)
		}
	}
	// Day 20 is a Sunday: nothing; Monday 21 the engineers, for both systems.
	if out := remind(at(2026, 12, 20, 9)); out != "" {
		t.Errorf("a Sunday reminder:\n%s", out)
	}
	// (A new backup check keeps its reminder away from the rest.)
	if _, err := e.svc.Create(ctx, "eng1", bot.Record{Kind: bot.KindBackupCheck}); err != nil {
		t.Fatal(err)
	}
	out = remind(at(2026, 12, 21, 9))
	if !strings.Contains(out, "[eng1,eng2] 【巡检提醒】2026-12 尚有系统未完成月度巡检：数据库服务器、应用服务") || strings.Contains(out, "lead1") {
		t.Errorf("21 Dec:\n%s", out)
	}
	// One system done: the other is still missing; the contract's 7 days.
	if _, err := e.svc.Create(ctx, "eng1", bot.Record{Kind: bot.KindInspection, Subject: "db", Fields: map[string]string{"result": "正常"}}); err != nil {
		t.Fatal(err)
	}
	out = remind(at(2026, 12, 28, 9))
	if !strings.Contains(out, "未完成月度巡检：应用服务。") || !strings.Contains(out, "还剩 4 天") {
		t.Errorf("28 Dec:\n%s", out)
	}
	// Thursday 31 is the last working day: the lead hears of it too.
	out = remind(at(2026, 12, 31, 9))
	if !strings.Contains(out, "[lead1] 【巡检未完成】2026-12 月底仍有系统未巡检：应用服务") {
		t.Errorf("31 Dec:\n%s", out)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		actor string
		in    bot.Record
		want  error
	}{
		{"nurse", "nurse1", bot.Record{Kind: bot.KindBackupCheck}, bot.ErrForbidden},
		{"unknown person", "nobody", bot.Record{Kind: bot.KindBackupCheck}, bot.ErrForbidden},
		{"kind", "eng1", bot.Record{Kind: "upgrade_x"}, bot.ErrInvalid},
		{"field", "eng1", bot.Record{Kind: bot.KindBackupCheck, Fields: map[string]string{"colour": "红"}}, bot.ErrInvalid},
		{"system", "eng1", bot.Record{Kind: bot.KindInspection, Subject: "nope"}, bot.ErrInvalid},
		{"future", "eng1", bot.Record{Kind: bot.KindBackupCheck, At: at(2027, 1, 1, 0)}, bot.ErrInvalid},
		{"too long", "eng1", bot.Record{Kind: bot.KindBackupCheck, Fields: map[string]string{"logs": strings.Repeat("长", 1001)}}, bot.ErrInvalid},
	} {
		if _, err := e.svc.Create(ctx, tt.actor, tt.in); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if rs, _ := e.db.Records(ctx, bot.RecordFilter{}); len(rs) != 0 {
		t.Errorf("refused input stored %d records", len(rs))
	}
}

func TestExportAndQuarterFiles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.finish(t, bot.KindInspection, "db", "m1", map[string]string{"item.cpu": "正常", "item.disk": "异常", "item.disk.note": "92%"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Create(ctx, "eng2", bot.Record{Kind: bot.KindEmergencyDrill, At: at(2026, 11, 5, 14),
		Fields: map[string]string{"scenario": "数据库宕机切换备机", "participants": "张工、刘工", "duration": "25分钟", "result": "成功"}}); err != nil {
		t.Fatal(err)
	}
	name, data, err := e.svc.ExportFile(ctx, bot.KindInspection, "2026-12")
	if err != nil {
		t.Fatal(err)
	}
	if name != "月度巡检记录-2026-12.xlsx" {
		t.Errorf("name %q", name)
	}
	rows := sheetRows(t, data, "月度巡检")
	if got := strings.Join(rows[0], "|"); got != "编号|时间|对象|记录人|状态|巡检内容|巡检结果|异常情况|反馈|解决方案|CPU|内存|磁盘空间|服务器日志|系统日志|数据库|备份状态|与院内其他系统的接口|关联工单" {
		t.Errorf("headers %s", got)
	}
	if len(rows) != 2 || rows[1][0] != "R20261204-0001" || rows[1][2] != "数据库服务器" || rows[1][3] != "张工" || rows[1][7] != "磁盘空间：92%" ||
		rows[1][len(rows[1])-1] != "F20261204-0001" {
		t.Errorf("rows %q", rows)
	}
	if _, _, err := e.svc.ExportFile(ctx, bot.KindInspection, "2026-13"); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("bad month: %v", err)
	}
	span, _ := e.svc.Period("2026q4")
	fs, err := e.svc.QuarterFiles(ctx, span)
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, f := range fs {
		notes = append(notes, f.Name+" "+f.Note)
	}
	want := []string{"04-维护记录/月度巡检记录-2026Q4.xlsx 月度巡检记录 1 条（2026Q4）", "04-维护记录/性能分析记录-2026Q4.xlsx 性能分析记录 0 条（2026Q4）",
		"04-维护记录/备份检查记录-2026Q4.xlsx 备份检查记录 0 条（2026Q4）", "04-维护记录/恢复演练记录-2026Q4.xlsx 恢复演练记录 0 条（2026Q4）",
		"04-维护记录/应急演练记录-2026Q4.xlsx 应急演练记录 1 条（2026Q4）", "04-维护记录/升级记录-2026Q4.xlsx 升级记录 0 条（2026Q4）",
		"04-维护记录/缺陷记录-2026Q4.xlsx 缺陷记录 0 条（2026Q4）", "04-维护记录/需求记录-2026Q4.xlsx 需求记录 0 条（2026Q4）",
		"04-维护记录/应急响应团队.xlsx 应急响应团队联系人 2 人"}
	for _, w := range want {
		if !slices.Contains(notes, w) {
			t.Errorf("quarter files lack %q:\n%s", w, strings.Join(notes, "\n"))
		}
	}
	team := sheetRows(t, fs[len(fs)-1].Data, "应急响应团队")
	if len(team) != 3 || team[2][0] != "赵经理" || team[2][1] != "项目负责人" || team[2][2] != "13800000003" {
		t.Errorf("team %q", team)
	}
}

func sheetRows(t *testing.T, data []byte, sheet string) [][]string {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(sheet)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

type metrics struct {
	u   records.Usage
	err error
}

func (m *metrics) Usage(context.Context, string, bool) (records.Usage, error) { return m.u, m.err }

// TestInspectionBegin: the system named or the first not inspected this
// month; monitoring's figures as notes to confirm, or a plain checklist
// when monitoring fails.
func TestInspectionBegin(t *testing.T) {
	ctx := context.Background()
	eng := &bot.Person{UserID: "eng1", Role: bot.RoleEngineer, Active: true}
	cpu, disk := 12.34, 91.0
	e := newEnv(t)
	for _, tt := range []struct {
		name      string
		m         *metrics
		arg       string
		wantErr   string
		subject   string
		intro     string
		firstNote string
	}{
		{"figures", &metrics{u: records.Usage{CPU: &cpu, Disk: &disk}}, "", "", "db", "已从监控读取", "监控读数：CPU 使用率 12.3%"},
		{"monitoring down", &metrics{err: errors.New("connection refused")}, "数据库服务器", "", "db", "监控数据读取失败", ""},
		{"by number", nil, "2", "", "app", "开始巡检「应用服务」", ""},
		{"unknown", nil, "邮件服务器", "rec.insp.unknown_system", "", "", ""},
	} {
		e.metrics = tt.m
		st, err := e.svc.Flows()[records.FlowName(bot.KindInspection)].Begin(ctx, eng, tt.arg)
		if key, _ := bot.UserText(err); key != tt.wantErr {
			t.Errorf("%s: err %v, want %s", tt.name, err, tt.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if st.Subject != tt.subject || !strings.Contains(st.Intro, tt.intro) || st.Questions[0].Note != tt.firstNote {
			t.Errorf("%s: start %+v", tt.name, st)
		}
	}
	// Both systems inspected: 巡检 says so and how to inspect again.
	e.metrics = nil
	for _, sys := range []string{"db", "app"} {
		if _, err := e.svc.Create(ctx, "eng1", bot.Record{Kind: bot.KindInspection, Subject: sys}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Flows()[records.FlowName(bot.KindInspection)].Begin(ctx, eng, ""); !errors.Is(err, bot.ErrConflict) {
		t.Errorf("month done: err %v", err)
	}
	if _, err := e.svc.Flows()[records.FlowName(bot.KindBackupCheck)].Begin(ctx, &bot.Person{UserID: "nurse1", Role: bot.RoleNurse}, ""); !errors.Is(err, bot.ErrForbidden) {
		t.Errorf("a nurse began a record: %v", err)
	}
}

// TestExportForeignKind: a kind another use case keeps (here a stand-in
// for the upgrades) is exported with the fields its records have.
func TestExportForeignKind(t *testing.T) {
	kinds := bot.RecordKinds
	bot.RecordKinds = append(slices.Clone(kinds), "x_upgrade")
	t.Cleanup(func() { bot.RecordKinds = kinds })
	e := newEnv(t)
	ctx := context.Background()
	r, ev, err := bot.NewRecord(bot.Record{Kind: "x_upgrade", Subject: "cis", Fields: map[string]string{"version": "5.2.1", "result": "成功"}}, "eng1", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateRecord(ctx, r, bot.RecordEffects{Events: []bot.RecordEvent{ev}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.svc.Flows()[records.FlowName("x_upgrade")]; ok {
		t.Error("a flow for a kind records does not keep")
	}
	if _, err := e.svc.Create(ctx, "eng1", bot.Record{Kind: "x_upgrade"}); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("records created a kind it does not keep: %v", err)
	}
	name, data, err := e.svc.ExportFile(ctx, "x_upgrade", "2026Q4")
	if err != nil {
		t.Fatal(err)
	}
	rows := sheetRows(t, data, "x_upgrade")
	if name != "x_upgrade记录-2026Q4.xlsx" || len(rows) != 2 || strings.Join(rows[0][5:7], ",") != "result,version" || rows[1][6] != "5.2.1" {
		t.Errorf("%s rows %q", name, rows)
	}
}
