// Command reports is the load tool for weibao's reports: it seeds a MariaDB
// database with tickets and their timelines (200,000 by default, over 24
// months, written by bulk INSERTs so that seeding takes a minute, not the
// hours a million state-machine transactions would), then times the monthly
// summary (the aggregates plus the workbook), the quarterly package (zip with
// the streamed fault list, three monthly workbooks and the quarter's fault
// analysis reports) and the daily digest, with their peak memory, and prints
// a markdown table.
//
//	go run ./bench/reports -mysql 'root@tcp(127.0.0.1:3306)/'
//
// It (re)creates the database weibao_bench_reports; -reuse keeps a seeded one.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"

	"weibao/bot"
	"weibao/bot/report"
	"weibao/catalog"
	"weibao/storage"
	"weibao/xlsx"
)

const dbName = "weibao_bench_reports"

func main() {
	dsn := flag.String("mysql", "root@tcp(127.0.0.1:3306)/", "MariaDB server DSN (loopback)")
	n := flag.Int("n", 200_000, "tickets to seed")
	months := flag.Int("months", 24, "months the tickets spread over, ending with -month")
	monthFlag := flag.String("month", "2026-11", "the month to summarise (its quarter is packaged)")
	reuse := flag.Bool("reuse", false, "keep an already seeded database")
	repeat := flag.Int("repeat", 3, "timed runs of each report")
	flag.Parse()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		log.Fatal(err)
	}
	month, err := time.ParseInLocation("2006-01", *monthFlag, loc)
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := mysqldrv.ParseDSN(*dsn)
	if err != nil {
		log.Fatal(err)
	}
	if h := strings.Split(cfg.Addr, ":")[0]; h != "127.0.0.1" && h != "localhost" && h != "::1" {
		log.Fatalf("refusing non-loopback server %s", cfg.Addr)
	}
	ctx := context.Background()
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		log.Fatal(err)
	}
	if !*reuse {
		if _, err := admin.Exec("DROP DATABASE IF EXISTS " + dbName); err != nil {
			log.Fatal(err)
		}
	}
	if _, err := admin.Exec("CREATE DATABASE IF NOT EXISTS " + dbName + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		log.Fatal(err)
	}
	admin.Close()
	cfg.DBName = dbName
	db, err := storage.Open(ctx, "mysql", cfg.FormatDSN(), storage.Options{Location: loc})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := db.SyncDirectory(ctx, directory); err != nil {
		log.Fatal(err)
	}
	cfg.MultiStatements, cfg.ParseTime = false, true
	raw, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		log.Fatal(err)
	}
	defer raw.Close()
	var have int
	raw.QueryRow("SELECT COUNT(*) FROM tickets").Scan(&have)
	start := month.AddDate(0, -*months+1, 0)
	if have == 0 {
		t0 := time.Now()
		events, analyses, err := seed(ctx, raw, *n, start, month.AddDate(0, 1, 0), loc)
		if err != nil {
			log.Fatal(err)
		}
		raw.Exec("ANALYZE TABLE tickets, ticket_events, fault_analyses")
		fmt.Fprintf(os.Stderr, "seeded %d tickets, %d events, %d analyses in %s\n", *n, events, analyses, time.Since(t0).Round(time.Second))
	} else {
		fmt.Fprintf(os.Stderr, "reusing %d tickets\n", have)
	}

	tx := catalog.Default()
	clock := fixedClock(month.AddDate(0, 3, 5))
	svc := report.NewService(report.Options{Builder: &report.Builder{Source: db, Dir: db, Location: loc, Clock: clock},
		Texts: tx, Files: db, Encoder: xlsx.Encoder{Texts: tx}, Analyses: db})
	var version string
	raw.QueryRow("SELECT VERSION()").Scan(&version)
	fmt.Printf("MariaDB %s · %d tickets over %d months · Go %s · %d CPU\n\n", version, max(have, *n), *months, runtime.Version(), runtime.NumCPU())
	fmt.Println("| report | runs | min | median | max | peak heap | peak RSS | output |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	measure("monthly summary "+month.Format("2006-01")+" (aggregates + xlsx)", *repeat, func() (string, error) {
		m, b, err := svc.MonthlyWorkbook(ctx, month)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d tickets, %d KB xlsx", m.Total.Count, len(b)/1024), nil
	})
	measure("quarterly package "+report.QuarterSpan(month, loc).From.Format("2006-01")+" (zip)", *repeat, func() (string, error) {
		q, b, err := svc.QuarterlyZip(ctx, month)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%d analyses, %d KB zip", len(q.Analyses), len(b)/1024), nil
	})
	day := month.AddDate(0, 0, 14)
	measure("daily digest "+day.Format("2006-01-02"), *repeat, func() (string, error) {
		text, err := svc.Digest(ctx, day)
		return fmt.Sprintf("%d bytes markdown", len(text)), err
	})
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

// measure runs fn repeat times after a GC, sampling the Go heap every
// millisecond and reading the process's peak RSS (reset before each run).
func measure(name string, repeat int, fn func() (string, error)) {
	var times []time.Duration
	var peakHeap, peakRSS uint64
	var out string
	for range repeat {
		runtime.GC()
		resetPeakRSS()
		base := heap()
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				if h := heap(); h > peak.Load() {
					peak.Store(h)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		t0 := time.Now()
		o, err := fn()
		d := time.Since(t0)
		close(stop)
		<-done
		if err != nil {
			log.Fatalf("%s: %v", name, err)
		}
		out = o
		times = append(times, d)
		peakHeap = max(peakHeap, peak.Load()-min(base, peak.Load()))
		peakRSS = max(peakRSS, rss())
	}
	slices.Sort(times)
	fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s |\n", name, len(times), ms(times[0]), ms(times[len(times)/2]),
		ms(times[len(times)-1]), mb(peakHeap), mb(peakRSS), out)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
func mb(b uint64) string        { return fmt.Sprintf("%.1f MB", float64(b)/(1<<20)) }

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func heap() uint64 {
	metrics.Read(heapSample)
	return heapSample[0].Value.Uint64()
}

// resetPeakRSS clears VmHWM so rss reports the peak of the next run alone.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

var directory = storage.DirectoryData{
	Campuses: []bot.Campus{{Code: "dongjie", Name: "东街院区"}, {Code: "jinshan", Name: "金山院区"}},
	Wards: []bot.Ward{{Code: "ed-icu", Name: "急诊ICU", CampusCode: "dongjie"}, {Code: "med-icu", Name: "内科ICU", CampusCode: "dongjie"},
		{Code: "picu", Name: "小儿ICU", CampusCode: "dongjie"}, {Code: "js-icu", Name: "综合ICU", CampusCode: "jinshan"}},
	People: []bot.Person{{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer}, {UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer},
		{UserID: "eng3", Name: "陈工", Role: bot.RoleEngineer}, {UserID: "lead1", Name: "赵经理", Role: bot.RoleLead},
		{UserID: "nurse1", Name: "王芳", Role: bot.RoleNurse}},
	Categories: []bot.Category{
		{Code: "login", Name: "无法登录", Type: bot.TypeSoftware, Difficulty: bot.DifficultySimple},
		{Code: "slow", Name: "系统卡顿", Type: bot.TypeSoftware, Difficulty: bot.DifficultyRoutine},
		{Code: "data_sync", Name: "数据不显示或不同步", Type: bot.TypeSoftware, Difficulty: bot.DifficultyRoutine},
		{Code: "device_data", Name: "监护设备数据未采集", Type: bot.TypeTerminal, Difficulty: bot.DifficultyOther},
		{Code: "save_failed", Name: "医嘱/护理记录无法保存", Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther},
		{Code: "printing", Name: "打印问题", Type: bot.TypeTerminal, Difficulty: bot.DifficultySimple},
		{Code: "network", Name: "网络或服务器中断", Type: bot.TypeServer, Difficulty: bot.DifficultyOther},
	},
}

var solutions = []string{"重置密码", "清除浏览器缓存", "重启应用服务", "清理数据库会话", "重启采集网关", "重新绑定床位设备",
	"重装打印驱动", "更换默认打印机", "切换备用链路", "修复索引后重新同步", "升级补丁", "更换网线"}

// seed bulk-inserts n tickets reported uniformly in [from, to), each with a
// timeline (reported, acknowledged, resolved, usually confirmed; some
// breaches, notes and reopenings), and fault analyses for department-level,
// hospital-wide and P1 tickets.
func seed(ctx context.Context, db *sql.DB, n int, from, to time.Time, loc *time.Location) (events, analyses int, err error) {
	rnd := rand.New(rand.NewPCG(1, 2))
	span := to.Sub(from)
	reported := make([]time.Time, n)
	for i := range reported {
		reported[i] = from.Add(time.Duration(rnd.Int64N(int64(span)))).Truncate(time.Second)
	}
	slices.SortFunc(reported, func(a, b time.Time) int { return a.Compare(b) })
	const tcols = "no, version, status, reporter_id, ward_code, chat_id, category, description, scope, type, severity, difficulty, " +
		"emergency, priority, sla_class, urgent, assignee_id, reported_at, acknowledged_at, on_site_at, resolved_at, confirmed_at, " +
		"closed_at, ack_due_at, resolve_due_at, on_site_due_at, ack_late_ms, resolve_late_ms, on_site_late_ms, escalation_level, " +
		"workaround, cause, solution, merged_into, reopen_count, rating, updated_at"
	const ecols = "ticket_id, ticket_no, kind, actor, at, from_status, to_status, detail"
	var tb, eb, ab batch
	tb.init(db, "INSERT INTO tickets ("+tcols+") VALUES ", 37)
	eb.init(db, "INSERT INTO ticket_events ("+ecols+") VALUES ", 8)
	ab.init(db, "INSERT INTO fault_analyses (ticket_no, engineer_id, status, cause, impact, conclusion, opened_at, due_at, reminders, done_at) VALUES ", 10)
	seq := map[string]int{}
	cats := directory.Categories
	utc := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC()
	}
	for i, at := range reported {
		id := int64(i + 1)
		day := at.In(loc).Format("20060102")
		seq[day]++
		no := bot.FormatTicketNo(at.In(loc), int64(seq[day]))
		cat := cats[rnd.IntN(len(cats))]
		pr := []bot.Priority{bot.P1, bot.P2, bot.P2, bot.P3, bot.P3, bot.P3, bot.P4, bot.P4}[rnd.IntN(8)]
		if pr == bot.P1 && rnd.IntN(10) > 0 {
			pr = bot.P2 // P1 is rare: ~1.5%
		}
		scope := bot.ScopePersonal
		if r := rnd.IntN(100); r < 2 {
			scope = bot.ScopeDepartment
		} else if r < 3 {
			scope = bot.ScopeHospital
		}
		ackB := map[bot.Priority]time.Duration{bot.P1: 5 * time.Minute, bot.P2: 10 * time.Minute, bot.P3: 15 * time.Minute, bot.P4: 30 * time.Minute}[pr]
		resB := map[bot.Priority]time.Duration{bot.P1: time.Hour, bot.P2: 2 * time.Hour, bot.P3: 4 * time.Hour, bot.P4: 8 * time.Hour}[pr]
		eng := []string{"eng1", "eng2", "eng3"}[rnd.IntN(3)]
		ack := at.Add(time.Duration(30+rnd.IntN(25*60)) * time.Second)
		res := ack.Add(time.Duration(5+rnd.IntN(360)) * time.Minute)
		var onsite, onsiteDue, confirmed, closed time.Time
		if pr == bot.P1 {
			onsiteDue, onsite = ack.Add(2*time.Hour), ack.Add(time.Duration(20+rnd.IntN(140))*time.Minute)
		}
		status := bot.StatusClosed
		open := to.Sub(at) < 36*time.Hour && rnd.IntN(3) == 0
		if open {
			status, res, onsite = bot.StatusAcknowledged, time.Time{}, time.Time{}
		} else if rnd.IntN(8) == 0 {
			status = bot.StatusResolved
		} else {
			confirmed, closed = res.Add(time.Duration(5+rnd.IntN(120))*time.Minute), res.Add(3*time.Hour)
		}
		var resLate int64
		if !res.IsZero() && res.After(at.Add(resB)) {
			resLate = 1
		}
		sol, cause := "", ""
		if !res.IsZero() {
			sol, cause = solutions[rnd.IntN(len(solutions))], "配置异常"
		}
		ward := directory.Wards[rnd.IntN(len(directory.Wards))].Code
		sev := map[bot.Priority]bot.Severity{bot.P1: bot.SeverityPatientSafety, bot.P2: bot.SeverityClinical, bot.P3: bot.SeverityDaily, bot.P4: bot.SeverityExperience}[pr]
		if err := tb.add(ctx, no, 4, string(status), "nurse1", ward, "", cat.Code, "护士站电脑提示系统报错，无法继续操作",
			string(scope), string(cat.Type), string(sev), string(cat.Difficulty), false, string(pr), string(cat.Difficulty), pr == bot.P1,
			eng, at.UTC(), ack.UTC(), utc(onsite), utc(res), utc(confirmed), utc(closed), at.Add(ackB).UTC(), at.Add(resB).UTC(), utc(onsiteDue),
			0, resLate, 0, 0, "", cause, sol, "", 0, 0, time.Now().UTC()); err != nil {
			return 0, 0, err
		}
		ev := func(kind bot.EventKind, actor string, t time.Time, f, s bot.Status, detail string) error {
			events++
			return eb.add(ctx, id, no, string(kind), actor, t.UTC(), string(f), string(s), detail)
		}
		errs := []error{ev(bot.EventReported, "nurse1", at, "", bot.StatusNew, "护士站电脑提示系统报错，无法继续操作"),
			ev(bot.EventPaged, bot.ActorSystem, at, bot.StatusNew, bot.StatusNew, "wecom eng"),
			ev(bot.EventAcknowledged, eng, ack, bot.StatusNew, bot.StatusAcknowledged, "")}
		if resLate > 0 {
			errs = append(errs, ev(bot.EventBreached, bot.ActorSystem, at.Add(resB), bot.StatusAcknowledged, bot.StatusAcknowledged, "resolve +0s"))
		}
		if !res.IsZero() {
			errs = append(errs, ev(bot.EventResolved, eng, res, bot.StatusAcknowledged, bot.StatusResolved, cause+" / "+sol))
		}
		if !confirmed.IsZero() {
			errs = append(errs, ev(bot.EventConfirmed, "nurse1", confirmed, bot.StatusResolved, bot.StatusConfirmed, ""),
				ev(bot.EventClosed, bot.ActorSystem, closed, bot.StatusConfirmed, bot.StatusClosed, ""))
		}
		for _, err := range errs {
			if err != nil {
				return 0, 0, err
			}
		}
		if !res.IsZero() && (scope != bot.ScopePersonal || pr == bot.P1) {
			analyses++
			if err := ab.add(ctx, no, eng, bot.AnalysisComplete, "电源模块故障", "全科室 30 分钟", "加强巡检", res.UTC(), res.Add(72*time.Hour).UTC(), 0, res.Add(24*time.Hour).UTC()); err != nil {
				return 0, 0, err
			}
		}
	}
	for _, b := range []*batch{&tb, &eb, &ab} {
		if err := b.flush(ctx); err != nil {
			return 0, 0, err
		}
	}
	return events, analyses, nil
}

// batch is a multi-row INSERT flushed every 500 rows.
type batch struct {
	db     *sql.DB
	prefix string
	row    string
	rows   int
	args   []any
}

func (b *batch) init(db *sql.DB, prefix string, cols int) {
	b.db, b.prefix = db, prefix
	b.row = "(" + strings.TrimSuffix(strings.Repeat("?,", cols), ",") + ")"
}

func (b *batch) add(ctx context.Context, args ...any) error {
	b.args = append(b.args, args...)
	b.rows++
	if b.rows == 500 {
		return b.flush(ctx)
	}
	return nil
}

func (b *batch) flush(ctx context.Context) error {
	if b.rows == 0 {
		return nil
	}
	q := b.prefix + strings.TrimSuffix(strings.Repeat(b.row+",", b.rows), ",")
	if _, err := b.db.ExecContext(ctx, q, b.args...); err != nil {
		return fmt.Errorf("%.40s…: %w", b.prefix, err)
	}
	b.rows, b.args = 0, b.args[:0]
	return nil
}
