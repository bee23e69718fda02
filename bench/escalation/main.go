// Command escalation is the load tool for bot/escalation with its real fire
// handler: SLA reminder timers in sla/timerwheel on a real Redis, handled by
// the escalation engine on a real MariaDB (reload the ticket and timeline,
// ask the roster, record the reminder on the timeline and queue the WeCom
// message in the outbox in one transaction, re-arm the ticket's timers).
//
//	go run ./bench/escalation -mysql 'root@tcp(127.0.0.1:3306)/test' -redis redis://127.0.0.1:6379/14
//
// It creates the database weibao_bench_esc (dropped at the end) and flushes
// only its Redis DB. It seeds rate×duration acknowledged tickets reported
// so that their resolution clock's 50 % reminder points come due rate per
// second over duration, arms them as the ticketing service does (Changed
// after the commit), runs the engine as serve wires it, and measures fire lag
// (due time → handler start, and → the handler's commit) and, from each
// ticket's timeline, reminders recorded twice or never. A final reconcile
// checks that re-armed past timers change nothing.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"weibao/bot"
	"weibao/bot/escalation"
	"weibao/bot/roster"
	"weibao/catalog"
	"weibao/sla"
	"weibao/sla/pager"
	"weibao/sla/timerwheel"
	"weibao/storage"
	"weibao/storage/redisstore"
)

const dbName = "weibao_bench_esc"

type config struct {
	mysql, redis string
	rate         int           // reminder points due per second
	duration     time.Duration // over how long
	lead         time.Duration // from start-up to the first due point: seeding and arming
	replicas     int           // engines (Run loops, each its own Wheel) in this process
	reconcile    time.Duration // the engine's periodic reconcile
	keep         bool
	cpuprofile   string
}

func main() {
	var c config
	flag.StringVar(&c.mysql, "mysql", "root@tcp(127.0.0.1:3306)/test", "MariaDB DSN, loopback; the tool uses its own database "+dbName)
	flag.StringVar(&c.redis, "redis", "redis://127.0.0.1:6379/14", "Redis URL, loopback, DB other than 0 (it is flushed)")
	flag.IntVar(&c.rate, "rate", 100, "reminder points due per second")
	flag.DurationVar(&c.duration, "duration", 30*time.Second, "how long points come due")
	flag.DurationVar(&c.lead, "lead", 40*time.Second, "time for seeding and arming before the first point is due")
	flag.IntVar(&c.replicas, "replicas", 1, "engines in this process, sharing Redis and the database")
	flag.DurationVar(&c.reconcile, "reconcile", time.Minute, "engine reconcile period (serve's default 1m)")
	flag.BoolVar(&c.keep, "keep", false, "keep the database after the run")
	flag.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the measured window to this file")
	flag.Parse()
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if c.rate <= 0 || c.duration <= 0 || c.replicas <= 0 || c.rate*int(c.duration/time.Second) > 100_000 {
		log.Fatal("need rate, duration and replicas > 0 and at most 100,000 tickets")
	}
	if err := run(context.Background(), c); err != nil {
		log.Fatal(err)
	}
}

func loopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

func run(ctx context.Context, c config) error {
	// MariaDB: a database of our own, dropped at the end.
	mcfg, err := mysqldrv.ParseDSN(c.mysql)
	if err != nil {
		return fmt.Errorf("-mysql: %w", err)
	}
	if host, _, err := net.SplitHostPort(mcfg.Addr); err != nil || !loopback(host) {
		return fmt.Errorf("-mysql: %s is not a loopback address", mcfg.Addr)
	}
	admin, err := sql.Open("mysql", mcfg.FormatDSN())
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+dbName); err != nil {
		return fmt.Errorf("mariadb: %w", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+dbName+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("mariadb: %w", err)
	}
	if !c.keep {
		defer admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+dbName)
	}
	mcfg.DBName = dbName
	db, err := storage.Open(ctx, "mysql", mcfg.FormatDSN(), storage.Options{Location: shanghai})
	if err != nil {
		return err
	}
	defer db.Close()

	// Redis: only our DB, flushed before and after.
	u, err := url.Parse(c.redis)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	if !loopback(u.Hostname()) {
		return fmt.Errorf("-redis: %s is not a loopback address", u.Host)
	}
	st, err := redisstore.Open(ctx, c.redis)
	if err != nil {
		return err
	}
	defer st.Close()
	rdb, ok := st.Client().(*redis.Client)
	if !ok {
		return fmt.Errorf("-redis: one server, not Sentinel or Cluster: the tool flushes its DB")
	}
	if rdb.Options().DB == 0 {
		return fmt.Errorf("-redis: DB 0 is not ours to flush; use another index, e.g. /14")
	}
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	defer rdb.FlushDB(context.WithoutCancel(ctx))

	var version string
	admin.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version)
	redisInfo, _ := rdb.Info(ctx, "server").Result()
	log.Printf("MariaDB %s, Redis %s, Go engines %d", version, infoField(redisInfo, "redis_version"), c.replicas)

	if err := directory(ctx, db); err != nil {
		return err
	}
	b := &bench{c: c, db: db, rec: newRecorder(db)}
	if err := b.engines(st); err != nil {
		return err
	}
	return b.run(ctx)
}

func infoField(info, key string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), key+":"); ok {
			return v
		}
	}
	return "?"
}

// directory is a small hospital: one ward, two engineers on a weekly
// roster, a lead and a nurse.
func directory(ctx context.Context, db *storage.DB) error {
	err := db.SyncDirectory(ctx, storage.DirectoryData{
		Campuses: []bot.Campus{{Code: "dongjie", Name: "东街院区"}},
		Wards:    []bot.Ward{{Code: "med-icu", Name: "内科ICU", CampusCode: "dongjie", ChatID: "wr-med"}},
		People: []bot.Person{
			{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer, Mobile: "13800000001"},
			{UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer, Mobile: "13800000002"},
			{UserID: "lead1", Name: "赵经理", Role: bot.RoleLead, Mobile: "13800000003"},
			{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"},
		},
		Categories: []bot.Category{{Code: "slow", Name: "系统卡顿", Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther}},
	})
	if err != nil {
		return err
	}
	_, err = roster.New(db, db, shanghai).Seed(ctx, roster.Doc{Lead: "lead1", Start: "2026-01-05 09:00",
		Shift: roster.Duration(168 * time.Hour), Primary: []string{"eng1"}, Backup: []string{"eng2"}})
	return err
}

// recorder is the engine's ticket store: storage.DB, noting when the fire
// handler first reads a ticket (it starts) and when its update commits.
type recorder struct {
	*storage.DB
	mu      sync.Mutex
	started map[string]time.Time
	commits map[string][]time.Time
	tx      []time.Duration // each UpdateTicket's duration: the transaction
}

func newRecorder(db *storage.DB) *recorder {
	return &recorder{DB: db, started: map[string]time.Time{}, commits: map[string][]time.Time{}}
}

func (r *recorder) Ticket(ctx context.Context, no string) (*bot.Ticket, error) {
	now := time.Now()
	r.mu.Lock()
	if _, ok := r.started[no]; !ok {
		r.started[no] = now
	}
	r.mu.Unlock()
	return r.DB.Ticket(ctx, no)
}

func (r *recorder) UpdateTicket(ctx context.Context, no string, fn func(*bot.Ticket, []bot.Event) (bot.Effects, error)) (*bot.Ticket, error) {
	begin := time.Now()
	t, err := r.DB.UpdateTicket(ctx, no, fn)
	if err == nil {
		now := time.Now()
		r.mu.Lock()
		r.commits[no] = append(r.commits[no], now)
		r.tx = append(r.tx, now.Sub(begin))
		r.mu.Unlock()
	}
	return t, err
}

func (r *recorder) committed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.commits)
}

type bench struct {
	c       config
	db      *storage.DB
	rec     *recorder
	policy  sla.Policy
	engs    []*escalation.Engine
	regs    []*prometheus.Registry // one per engine: their metrics share names
	tickets []*bot.Ticket
	due     map[string]time.Time // each ticket's resolution 50 % point
}

// engines builds c.replicas engines as serve wires them (timerwheel
// defaults, log-only pager), on one registry for their metrics.
func (b *bench) engines(st *redisstore.Store) error {
	// The tender's clocks without the working-hours calendar (every clock
	// 7×24), so due times do not depend on when the tool runs.
	b.policy = sla.DefaultPolicy()
	quiet := slog.New(slog.DiscardHandler)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	clock := bot.SystemClock{}
	ros := roster.New(b.db, b.db, shanghai)
	for i := range b.c.replicas {
		once := &escalation.Once{Clock: clock, DB: b.db.ClaimKey, Fast: st.Values("weibao:once:").Claim}
		n := pager.NewLogNotifier(quiet)
		pg, err := pager.NewRegistry(pager.Config{Routes: []pager.Route{{Provider: n.Provider(), Channel: pager.Voice},
			{Provider: n.Provider(), Channel: pager.SMS}}}, pager.Options{Once: once, Now: clock.Now}, n)
		if err != nil {
			return err
		}
		wheel, err := timerwheel.New(st.Client(), timerwheel.Options{Prefix: "weibao:{sla}:", Now: clock.Now, Logger: logger})
		if err != nil {
			return err
		}
		eng, err := escalation.New(escalation.Options{Tickets: b.rec, Acknowledger: noAck{}, Pages: b.db, Directory: b.db, Roster: ros, Wheel: wheel,
			Pager: pg, Texts: catalog.Default(), SLA: b.policy, Policy: escalation.DefaultPolicy(), Reconcile: b.c.reconcile,
			Clock: clock, Location: shanghai, Logger: logger.With("engine", i)})
		if err != nil {
			return err
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(wheel.Collectors()...)
		reg.MustRegister(eng.Collectors()...)
		b.engs, b.regs = append(b.engs, eng), append(b.regs, reg)
	}
	// One replica hears the shared database's feed, as the replica that
	// commits a change does in production.
	b.db.Subscribe(b.engs[0].Committed)
	return nil
}

// noAck refuses key presses: the log-only pager places no call to press 1 in.
type noAck struct{}

func (noAck) Acknowledge(ctx context.Context, actor, no string) (*bot.Ticket, error) {
	return nil, bot.ErrForbidden
}

func (b *bench) run(ctx context.Context) error {
	c := b.c
	n := c.rate * int(c.duration/time.Second)
	step := time.Second / time.Duration(c.rate)
	t0 := time.Now().Add(c.lead).Truncate(time.Millisecond)
	// A class-"other" fault is to be resolved within 1 h; its 50 % reminder
	// comes 30 min after the report. Ticket i is reported so that it comes
	// due at t0 + i·step; its 80 % and breach points fall long after the run.
	half := b.policy.Classes[sla.Other].Resolve / 2
	log.Printf("seeding %d acknowledged tickets; reminders due %d/s from %s for %s", n, c.rate, t0.Format("15:04:05.000"), c.duration)
	seedStart := time.Now()
	if err := b.seed(ctx, n, func(i int) time.Time { return t0.Add(-half + time.Duration(i)*step) }); err != nil {
		return err
	}
	seeded := time.Since(seedStart)
	log.Printf("seeded and armed in %s", seeded.Round(time.Millisecond))

	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, len(b.engs))
	for _, e := range b.engs {
		wg.Go(func() { errs <- e.Run(runCtx) })
	}
	// Run reconciles at once (reads every open ticket and its timeline);
	// note when that is done: it must be before t0 for a clean window.
	armed := time.Now()
	for time.Now().Before(t0) && gauge(b.regs, "weibao_escalation_armed_timers") < float64(3*n) {
		time.Sleep(10 * time.Millisecond)
	}
	reconciled := time.Since(armed)
	if time.Now().After(t0) {
		log.Printf("WARNING: the start-up reconcile was not done by the first due point; raise -lead")
	}
	log.Printf("start-up reconcile took %s; %s to the first due point", reconciled.Round(time.Millisecond), time.Until(t0).Round(time.Millisecond))

	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			stop()
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			stop()
			return err
		}
	}
	loadBefore := loadavg()
	// Wait for every reminder, at most 60 s after the last is due.
	last := t0.Add(time.Duration(n-1) * step)
	for b.rec.committed() < n && time.Now().Before(last.Add(60*time.Second)) {
		time.Sleep(50 * time.Millisecond)
	}
	if c.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	load := loadBefore + " → " + loadavg()
	time.Sleep(2 * time.Second) // let late duplicates show
	fires := counters(b.regs, "weibao_escalation_timers_total")
	log.Printf("window done; checking timelines")
	res, err := b.check(ctx)
	if err != nil {
		stop()
		return err
	}

	// Re-arm from the database as the periodic reconcile does, and let the
	// past points fire again: nothing may change.
	before := fires
	rs := time.Now()
	if err := b.engs[0].Reconcile(ctx); err != nil {
		stop()
		return err
	}
	reDur := time.Since(rs)
	time.Sleep(3 * time.Second)
	for counters(b.regs, "weibao_escalation_timers_total")["stale"] < before["stale"]+float64(n) && time.Since(rs) < 60*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	after := counters(b.regs, "weibao_escalation_timers_total")
	res2, err := b.check(ctx)
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	if err != nil {
		return err
	}
	b.print(n, seeded, reconciled, load, fires, res, reDur, after, before, res2)
	return nil
}

// seed creates n tickets as the dialogue does, acknowledged by the on-call
// engineer a minute after the report; the feed arms each after its commit.
// Eight writers.
func (b *bench) seed(ctx context.Context, n int, reported func(i int) time.Time) error {
	b.tickets = make([]*bot.Ticket, n)
	b.due = make(map[string]time.Time, n)
	svc := escalation.SLA{Policy: b.policy}
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				tk, err := b.create(ctx, svc, reported(i))
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					b.tickets[i] = tk
					d := b.policy.Deadlines(escalation.Input(tk, nil))
					for _, p := range d.Points {
						if p.Clock == sla.ClockResolve && p.Percent == 50 {
							b.due[tk.No] = p.At
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}

func (b *bench) create(ctx context.Context, svc escalation.SLA, at time.Time) (*bot.Ticket, error) {
	tk, ev, err := bot.NewTicket(bot.Ticket{ReporterID: "nurse1", WardCode: "med-icu", ChatID: "wr-med", Category: "slow",
		Description: "护士站电脑打开重症系统很慢",
		Classification: bot.Classification{Scope: bot.ScopeDepartment, Type: bot.TypeSoftware, Severity: bot.SeverityDaily,
			Difficulty: bot.DifficultyOther, Priority: bot.P3, SLAClass: "other"}}, "nurse1", at)
	if err != nil {
		return nil, err
	}
	ack, err := tk.Apply(bot.Change{Kind: bot.EventAcknowledged, Actor: "eng1", At: at.Add(time.Minute)})
	if err != nil {
		return nil, err
	}
	events := []bot.Event{ev, ack}
	tk.Due = svc.Deadlines(tk, events)
	if err := b.db.CreateTicket(ctx, tk, bot.Effects{Events: events}); err != nil {
		return nil, err
	}
	return tk, nil
}

// result is what the timelines and the recorder show.
type result struct {
	reminded, missed, twice, otherEvents int
	commitsTwice, early                  int
	startLag, doneLag, work, tx          []time.Duration
	outbox                               int64
	firstDone, lastDone                  time.Time
}

func (b *bench) check(ctx context.Context) (result, error) {
	var r result
	b.rec.mu.Lock()
	started, commits := maps.Clone(b.rec.started), maps.Clone(b.rec.commits)
	r.tx = slices.Clone(b.rec.tx)
	b.rec.mu.Unlock()
	for _, tk := range b.tickets {
		evs, err := b.db.Timeline(ctx, tk.No)
		if err != nil {
			return r, err
		}
		rem := 0
		for _, e := range evs {
			switch e.Kind {
			case bot.EventReported, bot.EventAcknowledged:
			case bot.EventReminded:
				rem++
			default:
				r.otherEvents++
			}
		}
		r.reminded += rem
		switch {
		case rem == 0:
			r.missed++
		case rem > 1:
			r.twice++
		}
		due := b.due[tk.No]
		cs := commits[tk.No]
		if len(cs) > 1 {
			r.commitsTwice++
		}
		start, ok := started[tk.No]
		if !ok || len(cs) == 0 {
			continue
		}
		if start.Before(due) {
			r.early++
		}
		r.startLag = append(r.startLag, start.Sub(due))
		r.doneLag = append(r.doneLag, cs[0].Sub(due))
		r.work = append(r.work, cs[0].Sub(start))
		if r.firstDone.IsZero() || cs[0].Before(r.firstDone) {
			r.firstDone = cs[0]
		}
		if cs[0].After(r.lastDone) {
			r.lastDone = cs[0]
		}
	}
	var err error
	r.outbox, err = b.db.PendingOutbox(ctx)
	return r, err
}

func (b *bench) print(n int, seeded, reconciled time.Duration, load string, fires map[string]float64, r result,
	reDur time.Duration, after, before map[string]float64, r2 result) {
	c := b.c
	fmt.Printf("\n%d tickets, reminders due %d/s over %s, %d engine(s), MariaDB + Redis on loopback; seeding %s, start-up reconcile %s\n",
		n, c.rate, c.duration, c.replicas, seeded.Round(time.Millisecond), reconciled.Round(time.Millisecond))
	fmt.Printf("%d CPUs; 1-minute load average at the window's start → end: %s\n\n", runtime.NumCPU(), load)
	fmt.Println("| fired | reminded | missed | twice | commits twice | other events | outbox | early | handled/s |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	rate := float64(len(r.doneLag)) / r.lastDone.Sub(r.firstDone).Seconds()
	fmt.Printf("| %.0f acted, %.0f stale, %.0f error | %d | %d | %d | %d | %d | %d | %d | %.1f |\n\n",
		fires["acted"], fires["stale"], fires["error"], r.reminded, r.missed, r.twice, r.commitsTwice, r.otherEvents, r.outbox, r.early, rate)
	fmt.Println("| lag | min | p50 | p95 | p99 | max |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{
		{"due → handler start", r.startLag},
		{"**due → committed (fire lag)**", r.doneLag},
		{"handler start → committed", r.work},
		{"of which UpdateTicket (transaction)", r.tx},
	} {
		slices.Sort(row.d)
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", row.name, ms(pct(row.d, 0)), ms(pct(row.d, 50)), ms(pct(row.d, 95)),
			ms(pct(row.d, 99)), ms(pct(row.d, 100)))
	}
	fmt.Printf("\nReconcile after the run (%s) re-armed the past reminder points: %.0f more fires, all stale (%.0f acted, %.0f error); "+
		"timelines after: %d reminded, %d missed, %d twice, %d other events, outbox %d\n",
		reDur.Round(time.Millisecond), after["stale"]-before["stale"], after["acted"]-before["acted"], after["error"]-before["error"],
		r2.reminded, r2.missed, r2.twice, r2.otherEvents, r2.outbox)
}

// pct is the nearest-rank percentile of sorted d (0 = min, 100 = max).
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	if p <= 0 {
		return d[0]
	}
	i := (p*len(d)+99)/100 - 1
	return d[min(max(i, 0), len(d)-1)]
}

// loadavg is the 1-minute load average (Linux), or "?".
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// gauge is the smallest value of a gauge across the engines' registries.
func gauge(regs []*prometheus.Registry, name string) float64 {
	v := -1.0
	for _, reg := range regs {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) > 0 {
				if g := mf.GetMetric()[0].GetGauge().GetValue(); v < 0 || g < v {
					v = g
				}
			}
		}
	}
	return max(v, 0)
}

// counters sums a counter vector across the engines' registries, by its
// first label's value.
func counters(regs []*prometheus.Registry, name string) map[string]float64 {
	out := map[string]float64{}
	for _, reg := range regs {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				if len(m.GetLabel()) > 0 {
					out[m.GetLabel()[0].GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}
