package report_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"weibao/bot"
	"weibao/storage"
	"weibao/storage/storagetest"
)

var sh = storagetest.Shanghai

// directory is the hospital the generated month happens in.
var directory = storage.DirectoryData{
	Campuses: []bot.Campus{{Code: "dongjie", Name: "东街院区"}, {Code: "jinshan", Name: "金山院区"}},
	Wards: []bot.Ward{{Code: "ed-icu", Name: "急诊ICU", CampusCode: "dongjie"}, {Code: "med-icu", Name: "内科ICU", CampusCode: "dongjie"},
		{Code: "picu", Name: "小儿ICU", CampusCode: "dongjie"}, {Code: "js-icu", Name: "综合ICU", CampusCode: "jinshan"}},
	People: []bot.Person{{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer}, {UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer},
		{UserID: "lead1", Name: "赵经理", Role: bot.RoleLead}, {UserID: "nurse1", Name: "王芳", Role: bot.RoleNurse, WardCode: "med-icu"},
		{UserID: "nurse2", Name: "陈静", Role: bot.RoleNurse, WardCode: "ed-icu"}},
	Categories: []bot.Category{
		{Code: "login", Name: "无法登录", Type: bot.TypeSoftware, Difficulty: bot.DifficultySimple},
		{Code: "slow", Name: "系统卡顿", Type: bot.TypeSoftware, Difficulty: bot.DifficultyRoutine},
		{Code: "device_data", Name: "监护设备数据未采集", Type: bot.TypeTerminal, Difficulty: bot.DifficultyOther},
		{Code: "printing", Name: "打印问题", Type: bot.TypeTerminal, Difficulty: bot.DifficultySimple},
		{Code: "network", Name: "网络或服务器中断", Type: bot.TypeServer, Difficulty: bot.DifficultyOther},
	},
}

var fixes = map[string][]string{
	"login":       {"重置密码", "清除浏览器缓存", "解锁账号"},
	"slow":        {"重启应用服务", "清理数据库会话"},
	"device_data": {"重启采集网关", "重新绑定床位设备"},
	"printing":    {"更换默认打印机", "重装打印驱动"},
	"network":     {"切换备用链路", "重启核心交换机"},
}

var wardCodes = []string{"ed-icu", "med-icu", "picu", "js-icu"}
var catCodes = []string{"login", "slow", "device_data", "printing", "network"}

// budgets are the generated tickets' SLA deadlines by priority (ack, resolve).
var budgets = map[bot.Priority][2]time.Duration{
	bot.P1: {5 * time.Minute, time.Hour}, bot.P2: {10 * time.Minute, 2 * time.Hour},
	bot.P3: {15 * time.Minute, 4 * time.Hour}, bot.P4: {30 * time.Minute, 8 * time.Hour},
}

// generated tickets named by what the tests do with them.
type generated struct {
	all      []string
	outage   string // hospital-wide P1 network outage, resolved
	dept     string // department-level server fault, resolved
	byMonth  map[time.Month]int
	reopened string
}

type gen struct {
	t   testing.TB
	db  *storage.DB
	rnd *rand.Rand
	out generated
}

// generate fills db with tickets reported from `from` to `to` (local days),
// driven through bot.NewTicket, CreateTicket and UpdateTicket with the state
// machine, as the dialogue and escalation would.
func generate(t testing.TB, db *storage.DB, from, to time.Time) generated {
	t.Helper()
	if err := db.SyncDirectory(context.Background(), directory); err != nil {
		t.Fatal(err)
	}
	g := &gen{t: t, db: db, rnd: rand.New(rand.NewPCG(6, 2026)), out: generated{byMonth: map[time.Month]int{}}}
	for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
		n := g.rnd.IntN(4)
		for i := range n {
			at := day.Add(time.Duration(7+g.rnd.IntN(14))*time.Hour + time.Duration(g.rnd.IntN(60))*time.Minute)
			// Department-wide and P1 faults need analysis reports: the
			// month's two are generated below, on fixed days.
			scope := bot.ScopePersonal
			pr := []bot.Priority{bot.P2, bot.P3, bot.P3, bot.P4}[g.rnd.IntN(4)]
			open := !day.Before(to.AddDate(0, 0, -2)) && i == 0
			g.ticket(at, wardCodes[g.rnd.IntN(4)], catCodes[g.rnd.IntN(4)], scope, pr, open)
		}
	}
	// The two faults that need analysis reports, on fixed days.
	g.out.outage = g.ticket(time.Date(2026, 11, 12, 9, 40, 0, 0, sh), "js-icu", "network", bot.ScopeHospital, bot.P1, false)
	g.out.dept = g.ticket(time.Date(2026, 11, 25, 14, 5, 0, 0, sh), "med-icu", "device_data", bot.ScopeDepartment, bot.P2, false)
	return g.out
}

func (g *gen) update(no string, c bot.Change, fn func(t *bot.Ticket)) {
	g.t.Helper()
	_, err := g.db.UpdateTicket(context.Background(), no, func(t *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
		ev, err := t.Apply(c)
		if err != nil {
			return bot.Effects{}, err
		}
		if fn != nil {
			fn(t)
		}
		return bot.Effects{Events: []bot.Event{ev}}, nil
	})
	if err != nil {
		g.t.Fatalf("%s %s: %v", no, c.Kind, err)
	}
}

func (g *gen) ticket(at time.Time, ward, cat string, scope bot.Scope, pr bot.Priority, open bool) string {
	g.t.Helper()
	ctx := context.Background()
	typ := bot.TypeSoftware
	for _, c := range directory.Categories {
		if c.Code == cat {
			typ = c.Type
		}
	}
	sev := map[bot.Priority]bot.Severity{bot.P1: bot.SeverityPatientSafety, bot.P2: bot.SeverityClinical, bot.P3: bot.SeverityDaily, bot.P4: bot.SeverityExperience}[pr]
	reporter := "nurse" + fmt.Sprint(1+g.rnd.IntN(2))
	t, ev, err := bot.NewTicket(bot.Ticket{ReporterID: reporter, WardCode: ward, Category: cat,
		Description: "护士站电脑提示系统报错，无法继续操作",
		Classification: bot.Classification{Scope: scope, Type: typ, Severity: sev, Difficulty: bot.DifficultyRoutine,
			Priority: pr, SLAClass: "routine", Urgent: pr == bot.P1}}, reporter, at)
	if err != nil {
		g.t.Fatal(err)
	}
	b := budgets[pr]
	t.Due = bot.Deadlines{Ack: at.Add(b[0]), Resolve: at.Add(b[1])}
	if err := g.db.CreateTicket(ctx, t, bot.Effects{Events: []bot.Event{ev}}); err != nil {
		g.t.Fatal(err)
	}
	no := t.No
	g.out.all = append(g.out.all, no)
	g.out.byMonth[at.In(sh).Month()]++
	eng := []string{"eng1", "eng2"}[g.rnd.IntN(2)]
	ack := at.Add(time.Duration(1+g.rnd.IntN(20)) * time.Minute)
	g.update(no, bot.Change{Kind: bot.EventAcknowledged, Actor: eng, At: ack}, func(t *bot.Ticket) {
		if pr == bot.P1 {
			t.Due.OnSite = ack.Add(2 * time.Hour)
		}
	})
	if ack.After(at.Add(b[0])) {
		g.update(no, bot.Change{Kind: bot.EventNoted, Actor: bot.ActorSystem, At: ack, Text: "响应超时"}, nil)
	}
	if open {
		return no
	}
	if pr == bot.P1 {
		g.update(no, bot.Change{Kind: bot.EventRemoteFailed, Actor: eng, At: ack.Add(10 * time.Minute)}, nil)
		g.update(no, bot.Change{Kind: bot.EventWorkaround, Actor: eng, At: ack.Add(15 * time.Minute), Text: "启用纸质护理记录单"}, nil)
		g.update(no, bot.Change{Kind: bot.EventArrived, Actor: eng, At: ack.Add(40 * time.Minute)}, nil)
	}
	took := time.Duration(10+g.rnd.IntN(300)) * time.Minute
	fix := fixes[cat][g.rnd.IntN(len(fixes[cat]))]
	res := ack.Add(took)
	if res.After(at.Add(b[1])) {
		g.update(no, bot.Change{Kind: bot.EventBreached, Actor: bot.ActorSystem, At: at.Add(b[1]), Clock: bot.ClockResolve, Late: time.Millisecond}, nil)
	}
	g.update(no, bot.Change{Kind: bot.EventResolved, Actor: eng, At: res, Cause: "配置异常", Solution: fix}, nil)
	if g.out.reopened == "" && pr == bot.P3 && at.Day() == 25 {
		g.out.reopened = no
		g.update(no, bot.Change{Kind: bot.EventReopened, Actor: reporter, At: res.Add(30 * time.Minute), Text: "仍无法使用"}, nil)
		g.update(no, bot.Change{Kind: bot.EventResolved, Actor: eng, At: res.Add(50 * time.Minute), Cause: "配置异常", Solution: fix}, nil)
		return no
	}
	if g.rnd.IntN(5) > 0 {
		g.update(no, bot.Change{Kind: bot.EventConfirmed, Actor: reporter, At: res.Add(20 * time.Minute)}, nil)
	}
	return no
}
