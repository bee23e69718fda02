package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// options is one harness run.
type options struct {
	Root      string        // the module's root, to build weibao from
	MySQL     string        // the shared MariaDB, "root@tcp(127.0.0.1:3306)"
	Replicas  int           // weibao serve processes
	Scenarios []string      // fault scenarios in order (scenarios' names)
	Warmup    time.Duration // load before the first fault
	Gap       time.Duration // load between a fault's end and the next fault
	Every     time.Duration // a new report every
	Noise     float64       // background 1:1 callbacks per second
	Drain     time.Duration // at most this long for everything to settle at the end
	Keep      bool          // keep the work directory and database
	Out       io.Writer     // the tables
}

// soak is a running harness: the processes, the proxies, the fakes, the
// users and the record of the faults.
type soak struct {
	opt      options
	dir      string
	dbName   string
	db       *sql.DB // direct to MariaDB, for the checks
	redis    *redisServer
	dbProxy  *tcpProxy
	wecom    *weCom
	phone    *phone
	replicas []*replica
	lb       *http.Server
	lbURL    string
	users    *users
	faults   []fault
	logf     func(format string, args ...any)
}

// fault is one injected fault as it happened.
type fault struct {
	Name       string
	Start, End time.Time
	Recovered  time.Duration // fault end → every queue drained; -1 if not within the limit
	Invariants []invariant   // checked after recovery
}

func start(ctx context.Context, opt options) (_ *soak, err error) {
	run := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	dir, err := os.MkdirTemp("", "weibao-soak-")
	if err != nil {
		return nil, err
	}
	s := &soak{opt: opt, dir: dir, dbName: "weibao_soak_" + run}
	s.logf = func(format string, args ...any) { log.Printf(format, args...) }
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.logf("soak: work dir %s, database %s", dir, s.dbName)
	bin, err := buildWeibao(ctx, opt.Root, dir)
	if err != nil {
		return nil, err
	}
	if err := createDatabase(opt.MySQL, s.dbName); err != nil {
		return nil, fmt.Errorf("MariaDB at %s: %w", opt.MySQL, err)
	}
	if s.db, err = sql.Open("mysql", opt.MySQL+"/"+s.dbName+"?parseTime=true&loc=UTC"); err != nil {
		return nil, err
	}
	if s.redis, err = startRedis(dir); err != nil {
		return nil, err
	}
	if s.dbProxy, err = startTCPProxy(mysqlAddr(opt.MySQL)); err != nil {
		return nil, err
	}
	if s.wecom, err = startWeCom(); err != nil {
		return nil, err
	}
	if s.phone, err = startPhone(); err != nil {
		return nil, err
	}
	lbPort, err := freePort()
	if err != nil {
		return nil, err
	}
	s.lbURL = fmt.Sprintf("http://127.0.0.1:%d", lbPort)
	cfg, env, err := writeConfig(dir, s.lbURL, s.dbProxy.addr, s.dbName, s.redis.URL(), s.wecom.gate.URL(), s.phone.gate.URL())
	if err != nil {
		return nil, err
	}
	for i := range opt.Replicas {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &replica{n: i + 1, addr: fmt.Sprintf("127.0.0.1:%d", port), bin: bin, cfg: cfg,
			log: filepath.Join(dir, fmt.Sprintf("replica%d.log", i+1))}
		r.env = append(slices.Clip(env), "WEIBAO_SERVER_ADDR="+r.addr, "WEIBAO_WECOM_INBOX_JOURNAL="+filepath.Join(dir, fmt.Sprintf("replica%d.journal", i+1)))
		s.replicas = append(s.replicas, r)
	}
	// The first replica migrates the schema alone; the others start beside it.
	if err := s.replicas[0].start(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(s.replicas))
	for i, r := range s.replicas[1:] {
		wg.Go(func() { errs[i] = r.start() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lbPort))
	if err != nil {
		return nil, err
	}
	s.lb = &http.Server{Handler: &balancer{replicas: s.replicas, client: &http.Client{Timeout: 10 * time.Second}}}
	go s.lb.Serve(l)
	s.users = newUsers(s.lbURL, s.wecom, s.db, run)
	return s, nil
}

func mysqlAddr(base string) string {
	// root@tcp(host:port)
	if i, j := indexByte(base, '('), indexByte(base, ')'); i >= 0 && j > i {
		return base[i+1 : j]
	}
	return "127.0.0.1:3306"
}

func indexByte(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func (s *soak) close() {
	if s.lb != nil {
		s.lb.Close()
	}
	for _, r := range s.replicas {
		r.stop()
	}
	if s.wecom != nil {
		s.wecom.close()
	}
	if s.phone != nil {
		s.phone.gate.down()
	}
	if s.dbProxy != nil {
		s.dbProxy.down()
	}
	if s.redis != nil && s.redis.cmd != nil {
		s.redis.stop()
	}
	if s.db != nil {
		if !s.opt.Keep {
			s.db.Exec("DROP DATABASE " + s.dbName)
		}
		s.db.Close()
	}
	if !s.opt.Keep {
		os.RemoveAll(s.dir)
	}
}

// result is what a run found.
type result struct {
	Faults  []fault
	Final   []invariant
	Users   []observation
	Reports int
	Fakes   []string // complaints of the fake WeCom about malformed calls
	Elapsed time.Duration
}

// Failed counts the invariant violations of the final check and of every
// fault's check.
func (r *result) Failed() int {
	n := 0
	for _, inv := range r.Final {
		n += inv.Bad
	}
	for _, f := range r.Faults {
		for _, inv := range f.Invariants {
			n += inv.Bad
		}
		if f.Recovered < 0 {
			n++
		}
	}
	return n + len(r.Fakes)
}

// run drives the load, injects the faults in turn, and checks the
// invariants after each fault's recovery and at the end.
func (s *soak) run(ctx context.Context) (*result, error) {
	began := time.Now()
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	storyCtx, stopStories := context.WithCancel(context.Background())
	defer stopStories()
	var stories sync.WaitGroup
	go func() {
		for i := 0; ; i++ {
			stories.Go(func() { s.users.story(storyCtx, i) })
			select {
			case <-loadCtx.Done():
				return
			case <-time.After(s.opt.Every/2 + rand.N(s.opt.Every)):
			}
		}
	}()
	if s.opt.Noise > 0 {
		// Background callbacks: people asking the robot for help 1:1, each
		// answered through the outbox. One message per visitor: the answer to
		// an unknown person is always the same text, so two of them to one
		// visitor would read as a message delivered twice.
		go func() {
			for i := 0; loadCtx.Err() == nil; i++ {
				stories.Go(func() { s.users.say(fmt.Sprintf("visitor%d", i), "", "帮助") })
				sleep(loadCtx, time.Duration(float64(time.Second)/s.opt.Noise))
			}
		}()
	}
	if !sleep(ctx, s.opt.Warmup) {
		return nil, ctx.Err()
	}
	res := &result{}
	for _, name := range s.opt.Scenarios {
		sc, ok := scenarios[name]
		if !ok {
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
		if sc.await != nil {
			sc.await(ctx, s)
		}
		f := fault{Name: name, Start: time.Now()}
		s.logf("soak: scenario %s: %s", name, sc.desc)
		if err := sc.inject(ctx, s); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", name, err)
		}
		f.End = time.Now()
		f.Recovered = s.recover(ctx, f.End, 3*time.Minute)
		s.logf("soak: scenario %s: fault %s, recovered after its end: %s", name, f.End.Sub(f.Start).Round(time.Second), recovered(f.Recovered))
		f.Invariants = s.check(ctx, false)
		for _, inv := range f.Invariants {
			if inv.Bad > 0 {
				s.logf("soak: after %s: %s: %d of %d: %v", name, inv.Name, inv.Bad, inv.Checked, inv.Examples)
			}
		}
		s.faults = append(s.faults, f)
		res.Faults = append(res.Faults, f)
		if !sleep(ctx, s.opt.Gap) {
			return nil, ctx.Err()
		}
	}
	// No new reports; let the stories finish within the drain limit (the
	// dialogue timeout tickets the abandoned ones), then check everything.
	stopLoad()
	done := make(chan struct{})
	go func() { stories.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.opt.Drain):
		s.logf("soak: stories still running after %s; stopping them", s.opt.Drain)
		stopStories()
		<-done
	}
	if s.recover(ctx, time.Now(), time.Minute) < 0 {
		s.logf("soak: queues not drained at the end")
	}
	res.Final = s.check(ctx, true)
	res.Elapsed = time.Since(began)
	s.users.mu.Lock()
	res.Users = append([]observation(nil), s.users.obs...)
	res.Reports = len(s.users.reports)
	s.users.mu.Unlock()
	s.wecom.t.mu.Lock()
	res.Fakes = append([]string(nil), s.wecom.t.errs...)
	s.wecom.t.mu.Unlock()
	return res, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// recover waits until everything that arrived before since is done: no
// callback WeCom would still retry, no pending inbox row, no pending outbox
// row from before since. It returns how long that took after since, or -1.
func (s *soak) recover(ctx context.Context, since time.Time, limit time.Duration) time.Duration {
	deadline := since.Add(limit)
	for time.Now().Before(deadline) {
		var inbox, outbox int
		err1 := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM inbox WHERE status <> 'done' AND received_at <= ?", since.UTC()).Scan(&inbox)
		err2 := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND created_at <= ?", since.UTC()).Scan(&outbox)
		if old := s.users.oldestInflight(); err1 == nil && err2 == nil && inbox == 0 && outbox == 0 && (old.IsZero() || old.After(since)) {
			return time.Since(since)
		}
		if !sleep(ctx, 200*time.Millisecond) {
			break
		}
	}
	return -1
}

func recovered(d time.Duration) string {
	if d < 0 {
		return "NOT within 3m"
	}
	return d.Round(100 * time.Millisecond).String()
}
