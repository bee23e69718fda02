package report_test

import (
	"archive/zip"
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"

	"weibao/bot"
	"weibao/bot/report"
	"weibao/catalog"
	"weibao/scheduler"
	"weibao/storage"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
	"weibao/xlsx"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(strings.TrimSuffix(string(want), "\n"), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

// roster hands over at 08:00 (day: 张工, backed by 刘工) and 20:00 (night:
// 刘工 alone).
type roster struct{}

func (roster) OnCall(ctx context.Context, at time.Time) (bot.OnCall, error) {
	if h := at.In(sh).Hour(); h >= 8 && h < 20 {
		return bot.OnCall{Primary: &bot.Person{UserID: "eng1", Name: "张工"}, Backup: &bot.Person{UserID: "eng2", Name: "刘工"}}, nil
	}
	return bot.OnCall{Primary: &bot.Person{UserID: "eng2", Name: "刘工"}}, nil
}

func (r roster) Next(ctx context.Context, at time.Time) (time.Time, bot.OnCall, bool, error) {
	l := at.In(sh)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, sh)
	for _, next := range []time.Time{day.Add(8 * time.Hour), day.Add(20 * time.Hour), day.Add(32 * time.Hour)} {
		if next.After(at) {
			oc, err := r.OnCall(ctx, next)
			return next, oc, true, err
		}
	}
	panic("unreachable")
}

// surveys records the surveys started.
type surveys struct {
	mu      sync.Mutex
	started []string
	ch      chan string
}

func (s *surveys) StartSurvey(ctx context.Context, name, userID, chatID, subject, intro string) error {
	s.mu.Lock()
	s.started = append(s.started, name+"/"+userID+"/"+subject)
	s.mu.Unlock()
	s.ch <- subject
	return nil
}

type fixture struct {
	db    *storage.DB
	clock *clock
	svc   *report.Service
	sch   *scheduler.Scheduler
	sv    *surveys
	gen   generated
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := storagetest.Open(t)
	st, _ := redistest.Open(t)
	c := &clock{t: time.Date(2026, 11, 26, 8, 30, 0, 0, sh)}
	sv := &surveys{ch: make(chan string, 16)}
	tx := catalog.Default()
	svc := report.NewService(report.Options{
		Builder: &report.Builder{Source: db, Dir: db, Roster: roster{}, Location: sh, Clock: c},
		Texts:   tx, Files: db, Outbox: db, Encoder: xlsx.Encoder{Texts: tx}, Analyses: db, Surveys: sv,
	})
	prefix := redistest.Prefix()
	sch := scheduler.New(scheduler.Options{Locker: st.JobLock(prefix + "r1"), History: db, Clock: c,
		Location: sh, KeyPrefix: prefix + "job:"})
	for _, j := range []scheduler.Job{
		{Name: "digest", Spec: "30 8 * * *", Run: func(ctx context.Context, at time.Time) error { return svc.SendDigest(ctx, at.AddDate(0, 0, -1)) }},
		{Name: "monthly", Spec: "0 9 1 * *", Run: func(ctx context.Context, at time.Time) error { return svc.SendMonthly(ctx, at.AddDate(0, -1, 0)) }},
		{Name: "quarterly", Spec: "0 9 1-10 1,4,7,10 *", Run: func(ctx context.Context, at time.Time) error {
			return svc.SendQuarterly(ctx, at.AddDate(0, -3, 0))
		}},
		{Name: "analysis", Spec: "0 10 * * *", Run: func(ctx context.Context, _ time.Time) error { return svc.SweepAnalyses(ctx) }},
	} {
		if err := sch.Register(j); err != nil {
			t.Fatal(err)
		}
	}
	g := generate(t, db, time.Date(2026, 10, 20, 0, 0, 0, 0, sh), time.Date(2026, 11, 27, 0, 0, 0, 0, sh))
	return &fixture{db: db, clock: c, svc: svc, sch: sch, sv: sv, gen: g}
}

func (f *fixture) fire(t *testing.T, job string, at time.Time) {
	t.Helper()
	f.clock.Set(at)
	ran, err := f.sch.Fire(context.Background(), job, at)
	if err != nil || !ran {
		t.Fatalf("fire %s at %v: ran %v, err %v", job, at, ran, err)
	}
}

// outbox drains the outbox: every message queued so far, by key.
func (f *fixture) outbox(t *testing.T) map[string]bot.Outgoing {
	t.Helper()
	ds, err := f.db.ClaimDeliveries(context.Background(), time.Now().Add(24*365*time.Hour), time.Now().Add(24*366*time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bot.Outgoing{}
	for _, d := range ds {
		out[d.Message.Key] = d.Message
	}
	return out
}

func (f *fixture) file(t *testing.T, m bot.Outgoing) []byte {
	t.Helper()
	if m.File == nil {
		t.Fatalf("message %s carries no file", m.Key)
	}
	sf, err := f.db.File(context.Background(), m.File.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sf.Name != m.File.Name || int64(len(sf.Data)) != m.File.Size {
		t.Errorf("file %d: stored %q (%d bytes), message says %q (%d)", m.File.ID, sf.Name, len(sf.Data), m.File.Name, m.File.Size)
	}
	return sf.Data
}

func need(t *testing.T, msgs map[string]bot.Outgoing, key string) bot.Outgoing {
	t.Helper()
	m, ok := msgs[key]
	if !ok {
		keys := make([]string, 0, len(msgs))
		for k := range msgs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Fatalf("no outbox message %q; have %v", key, keys)
	}
	return m
}

func cell(t *testing.T, x *excelize.File, sheet, axis string) string {
	t.Helper()
	v, err := x.GetCellValue(sheet, axis)
	if err != nil {
		t.Fatalf("%s!%s: %v", sheet, axis, err)
	}
	return v
}

func openXLSX(t *testing.T, b []byte) *excelize.File {
	t.Helper()
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// charts counts the native charts in a workbook.
func charts(t *testing.T, b []byte) int {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "xl/charts/chart") {
			n++
		}
	}
	return n
}

// TestReportsFromAGeneratedMonth is the "done when": on the test
// database and Redis (MariaDB and Redis in CI), a month of tickets yields a
// digest, a monthly summary workbook, two analysis reports and a quarterly
// zip, each opened and checked.
func TestReportsFromAGeneratedMonth(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()

	// The 08:30 digest covers yesterday.
	f.fire(t, "digest", time.Date(2026, 11, 26, 8, 30, 0, 0, sh))
	msgs := f.outbox(t)
	digest := need(t, msgs, "digest/2026-11-25/lead1")
	if digest.Format != bot.FormatMarkdown || digest.ToUsers[0] != "lead1" {
		t.Errorf("digest to %v as %s, want markdown to lead1", digest.ToUsers, digest.Format)
	}
	golden(t, "digest.md", digest.Text)
	// On demand (日报) gives the same text for the same day.
	if text, err := f.svc.Digest(ctx, time.Date(2026, 11, 25, 12, 0, 0, 0, sh)); err != nil || text != digest.Text {
		t.Errorf("Digest on demand differs from the sent one (err %v)", err)
	}

	// Resolved department-level, hospital-wide and P1 faults get their
	// analysis opened by the daily sweep and the engineer is asked.
	f.fire(t, "analysis", time.Date(2026, 11, 26, 10, 0, 0, 0, sh))
	for range 2 {
		select {
		case <-f.sv.ch:
		case <-time.After(10 * time.Second):
			t.Fatal("surveys not started")
		}
	}
	f.sv.mu.Lock()
	started := slices.Clone(f.sv.started)
	f.sv.mu.Unlock()
	for _, no := range []string{f.gen.outage, f.gen.dept} {
		if !slices.ContainsFunc(started, func(s string) bool { return strings.HasSuffix(s, "/"+no) }) {
			t.Fatalf("no survey started for %s; started %v", no, started)
		}
	}
	answers := map[string]string{
		report.AnswerCause:      "核心交换机电源模块故障，备用链路未自动切换。",
		report.AnswerImpact:     "全院 ICU 约 40 分钟无法调阅监护数据，护理记录改为纸质。",
		report.AnswerConclusion: "更换电源模块；每月巡检增加链路切换演练。",
	}
	for _, no := range []string{f.gen.outage, f.gen.dept} {
		if err := f.svc.SurveyDone(ctx, no, answers); err != nil {
			t.Fatal(err)
		}
	}
	msgs = f.outbox(t)
	for _, no := range []string{f.gen.outage, f.gen.dept} {
		md := need(t, msgs, "analysis/"+no+"/report/lead1")
		for _, sec := range []string{"事件描述", "处理步骤", "原因分析", "故障影响范围", "表现形式及解决方法", "总结"} {
			if !strings.Contains(md.Text, sec) {
				t.Errorf("analysis %s lacks section %s", no, sec)
			}
		}
		if no == f.gen.outage {
			golden(t, "analysis.md", md.Text)
		}
		page := f.file(t, need(t, msgs, "analysis/"+no+"/file/故障分析报告-"+no+".html/lead1"))
		if !bytes.Contains(page, []byte("<h2>三、原因分析</h2>")) || !bytes.Contains(page, []byte("核心交换机电源模块故障")) {
			t.Errorf("analysis page of %s lacks the cause section", no)
		}
		book := openXLSX(t, f.file(t, need(t, msgs, "analysis/"+no+"/file/故障分析报告-"+no+".xlsx/lead1")))
		if got := cell(t, book, "故障分析报告", "B2"); got != no {
			t.Errorf("analysis workbook ticket = %q, want %s", got, no)
		}
		if got := cell(t, book, "故障分析报告", "A7"); got != "三、原因分析" {
			t.Errorf("analysis workbook A7 = %q", got)
		}
		mustAnalysis(t, f.db, no)
	}

	// The monthly summary on the 1st: markdown plus the workbook.
	f.fire(t, "monthly", time.Date(2026, 12, 1, 9, 0, 0, 0, sh))
	msgs = f.outbox(t)
	monthly := need(t, msgs, "monthly/2026-11/lead1")
	golden(t, "monthly.md", monthly.Text)
	file := need(t, msgs, "monthly/2026-11/file/lead1")
	if file.File.Name != "运维月报-2026-11.xlsx" {
		t.Errorf("monthly file name %q", file.File.Name)
	}
	b := f.file(t, file)
	checkMonthly(t, b, f.gen.byMonth[time.November])

	// The quarterly package on the first working day of January.
	f.fire(t, "quarterly", time.Date(2027, 1, 4, 9, 0, 0, 0, sh))
	msgs = f.outbox(t)
	need(t, msgs, "quarterly/2026-10/lead1")
	zf := need(t, msgs, "quarterly/2026-10/file/lead1")
	if zf.File.Name != "季度运维资料-2026Q4.zip" {
		t.Errorf("quarterly file name %q", zf.File.Name)
	}
	checkQuarterly(t, f.file(t, zf), f.gen, f.gen.byMonth[time.October]+f.gen.byMonth[time.November])

	// Every run is in the history.
	runs, err := f.db.Runs(ctx, "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 4 || slices.ContainsFunc(runs, func(r bot.JobRun) bool { return r.Result != "ok" }) {
		t.Errorf("runs = %+v, want 4 ok", runs)
	}
}

func mustAnalysis(t *testing.T, db *storage.DB, no string) *bot.FaultAnalysis {
	t.Helper()
	a, err := db.Analysis(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != bot.AnalysisComplete {
		t.Errorf("analysis %s is %s", no, a.Status)
	}
	return a
}

func checkMonthly(t *testing.T, b []byte, tickets int) {
	t.Helper()
	x := openXLSX(t, b)
	want := []string{"汇总", "按类别", "按类型", "按影响范围", "按科室", "按优先级", "解决方法"}
	if diff := cmp.Diff(want, x.GetSheetList()); diff != "" {
		t.Errorf("sheets (-want +got):\n%s", diff)
	}
	for sheet, header := range map[string]string{"汇总": "月份", "按类别": "故障类别", "按科室": "科室", "解决方法": "故障类别"} {
		if got := cell(t, x, sheet, "A1"); got != header {
			t.Errorf("%s!A1 = %q, want %q", sheet, got, header)
		}
		panes, err := x.GetPanes(sheet)
		if err != nil || !panes.Freeze || panes.YSplit != 1 {
			t.Errorf("%s: header row not frozen (%+v, %v)", sheet, panes, err)
		}
	}
	// The trend's last row is November, a real date.
	if got := cell(t, x, "汇总", "A13"); got != "2026-11" {
		t.Errorf("汇总!A13 = %q, want 2026-11", got)
	}
	if typ, _ := x.GetCellType("汇总", "A13"); typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString {
		t.Errorf("month cell is text, want a date")
	}
	if got := cell(t, x, "汇总", "B13"); got != itoa(tickets) {
		t.Errorf("November count = %s, want %d", got, tickets)
	}
	rows, err := x.GetRows("按科室")
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, r := range rows[1:] {
		sum += atoi(r[1])
	}
	if sum != tickets {
		t.Errorf("wards add up to %d, want %d", sum, tickets)
	}
	prio, err := x.GetRows("按优先级")
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range prio[1:] {
		order = append(order, r[0])
	}
	if diff := cmp.Diff([]string{"P1", "P2", "P3", "P4"}, order); diff != "" {
		t.Errorf("按优先级 rows (-want +got):\n%s", diff)
	}
	if w, _ := x.GetColWidth("按类别", "A"); w < 20 {
		t.Errorf("按类别 column A width %v", w)
	}
	if n := charts(t, b); n != 3 {
		t.Errorf("%d charts, want 3 (trend, category, ward)", n)
	}
}

func checkQuarterly(t *testing.T, b []byte, g generated, tickets int) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	var names []string
	for _, zf := range zr.File {
		r, err := zf.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(r)
		r.Close()
		files[zf.Name] = data
		names = append(names, zf.Name)
	}
	sort.Strings(names)
	want := []string{"00-目录.xlsx", "01-故障清单-2026Q4.xlsx",
		"02-月度汇总/运维月报-2026-10.xlsx", "02-月度汇总/运维月报-2026-11.xlsx", "02-月度汇总/运维月报-2026-12.xlsx"}
	for _, no := range []string{g.outage, g.dept} {
		for _, ext := range []string{".html", ".md", ".xlsx"} {
			want = append(want, "03-故障分析报告/"+no+ext)
		}
	}
	sort.Strings(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Fatalf("zip entries (-want +got):\n%s", diff)
	}
	list := openXLSX(t, files["01-故障清单-2026Q4.xlsx"])
	rows, err := list.GetRows("故障清单")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != tickets+1 || rows[0][0] != "工单号" || rows[0][1] != "报修时间" {
		t.Errorf("fault list: %d rows, header %v; want %d tickets", len(rows), rows[0], tickets)
	}
	if !slices.ContainsFunc(rows, func(r []string) bool { return r[0] == g.outage }) {
		t.Errorf("fault list lacks %s", g.outage)
	}
	idx := openXLSX(t, files["00-目录.xlsx"])
	ir, _ := idx.GetRows("目录")
	if len(ir) < len(want) || ir[0][1] != "文件" || ir[1][1] != "01-故障清单-2026Q4.xlsx" {
		t.Errorf("index sheet rows: %v", ir)
	}
	if !slices.ContainsFunc(ir, func(r []string) bool { return len(r) > 1 && r[0] == "维护记录" }) {
		t.Errorf("index does not say maintenance records are absent")
	}
	if !bytes.Contains(files["03-故障分析报告/"+g.outage+".md"], []byte("## 故障分析报告 "+g.outage)) {
		t.Errorf("analysis markdown in the zip lacks its title")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// TestQuietDigest: a day with nothing to report still gets a short digest.
func TestQuietDigest(t *testing.T) {
	db := storagetest.Open(t)
	if err := db.SyncDirectory(context.Background(), directory); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 11, 26, 8, 30, 0, 0, sh)}
	svc := report.NewService(report.Options{Builder: &report.Builder{Source: db, Dir: db, Roster: roster{}, Location: sh, Clock: c},
		Texts: catalog.Default()})
	text, err := svc.Digest(context.Background(), time.Date(2026, 11, 25, 0, 0, 0, 0, sh))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "digest_quiet.md", text)
}
