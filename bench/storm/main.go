// Command storm is the product benchmark: it drives the real `weibao serve`
// binary (MariaDB, Redis, robot callbacks) with a storm of nurses' reports
// and measures it from outside, side by side with a floor receiver that only
// verifies, decrypts and dedupes, in the same run and at the same rate.
//
// weibao gets a configuration of wards with mapped groups and a roster of
// nurses; each nurse walks a real dialogue (fault → 1 → 1 → 4, then starts
// another), so messages start dialogues and become tickets. WeCom lets the
// robot send 30 messages a minute per conversation, replies included, so a
// storm that is to be answered within seconds comes from many conversations:
// most messages are 1:1 chats with the robot, from enough nurses that each
// sends six in the storm, and one in 200 is in a ward group (under 15 a
// minute per group at 2,000/s with 40 wards). A fake WeCom in this process answers
// every API call and records when each callback's reply reaches its one-shot
// response_url. Per rate it reports the answer time (weibao and floor), the
// time from callback to reply delivered, handled/s, CPU per handled message
// of weibao and of MariaDB (from /proc), weibao's RSS and the backlog's drain
// time after the storm, and checks nothing was lost or doubled.
//
//	go build -o /tmp/weibao ./cmd/weibao && go run ./bench/storm -weibao /tmp/weibao \
//	    -mysql 'root@tcp(127.0.0.1:3306)/weibao_bench' -redis redis://127.0.0.1:6379/0 \
//	    -dbpid $(pidof mariadbd) -rates 250,1000,2000 -duration 20s
//
// The database named in -mysql is dropped and created for every rate: its
// name must contain "bench".
package main

import (
	"bufio"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

type options struct {
	weibao, dsn, redis string
	dbpid              int
	rates              []int
	duration           time.Duration
	wards              int
	dup                float64
	drain              time.Duration
	keep               string
	pprof              bool
}

func main() {
	var o options
	var rates string
	flag.StringVar(&o.weibao, "weibao", "", "the weibao binary (go build -o /tmp/weibao ./cmd/weibao)")
	flag.StringVar(&o.dsn, "mysql", "", "MariaDB DSN whose database (name containing \"bench\") is recreated for each rate")
	flag.StringVar(&o.redis, "redis", "redis://127.0.0.1:6379/0", "Redis URL (keys under a fresh prefix per rate)")
	flag.IntVar(&o.dbpid, "dbpid", 0, "MariaDB's pid, for its CPU time (0: not measured)")
	flag.StringVar(&rates, "rates", "250,1000,2000", "callbacks per second, one storm each")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "length of each storm")
	flag.IntVar(&o.wards, "wards", 40, "wards, each with its group")
	flag.Float64Var(&o.dup, "dup", 0.05, "share of callbacks sent twice, as WeCom's retries are")
	flag.DurationVar(&o.drain, "drain", 120*time.Second, "longest wait for the backlog after a storm")
	flag.StringVar(&o.keep, "dir", "", "directory for configs, journals and logs (default a temp dir)")
	flag.BoolVar(&o.pprof, "pprof", false, "save a 10 s CPU profile of weibao in the middle of each storm")
	floor := flag.String("floor-serve", "", "internal: run the floor receiver on this address")
	flag.Parse()
	if *floor != "" {
		serveFloor(*floor)
		return
	}
	for r := range strings.SplitSeq(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "storm: bad -rates", rates)
			os.Exit(2)
		}
		o.rates = append(o.rates, n)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

type result struct {
	rate                   int
	sent, unique           int
	answer, floor          []time.Duration
	non200, floorNon200    int64
	reply                  []time.Duration
	missing, doubled       int
	lost, twice            int
	handledPerSec          float64
	drain, inboxDrain      time.Duration
	timedOut               bool
	late                   int // not handled when the drain gave up
	cpuWeibao, cpuDB       time.Duration
	rss, hwm               int64
	replyMax, floorReplyOK time.Duration
}

func run(o options) error {
	if o.weibao == "" || o.dsn == "" {
		return errors.New("-weibao and -mysql are required")
	}
	cfg, err := mysql.ParseDSN(o.dsn)
	if err != nil || !strings.Contains(cfg.DBName, "bench") {
		return fmt.Errorf("-mysql must name a database containing \"bench\" (it is dropped): %v", err)
	}
	dir := o.keep
	if dir == "" {
		if dir, err = os.MkdirTemp("", "storm"); err != nil {
			return err
		}
	}
	fake := newFakeWeCom()
	fakeL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go http.Serve(fakeL, fake)
	fakeURL := "http://" + fakeL.Addr().String()
	floorAddr, stopFloor, err := startFloor()
	if err != nil {
		return err
	}
	defer stopFloor()
	var results []result
	for _, rate := range o.rates {
		r, err := storm(o, dir, cfg, fake, fakeURL, floorAddr, rate)
		if err != nil {
			return fmt.Errorf("%d/s: %w", rate, err)
		}
		results = append(results, r)
		printResult(r)
	}
	fmt.Println()
	printTable(results)
	for _, r := range results {
		if r.lost+r.twice+r.missing+r.doubled > 0 || r.non200 > 0 || r.timedOut {
			return fmt.Errorf("%d/s: lost %d, doubled %d, replies missing %d, doubled %d, non-200 %d, drain timed out %v",
				r.rate, r.lost, r.twice, r.missing, r.doubled, r.non200, r.timedOut)
		}
	}
	return nil
}

// storm runs one rate against a fresh database and weibao process.
func storm(o options, dir string, cfg *mysql.Config, fake *fakeWeCom, fakeURL, floorAddr string, rate int) (result, error) {
	res := result{rate: rate}
	if err := resetDB(cfg); err != nil {
		return res, err
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	rdir := filepath.Join(dir, fmt.Sprintf("%d", rate))
	os.MkdirAll(rdir, 0o750)
	conf := filepath.Join(rdir, "weibao.yaml")
	nurses := max(o.wards, int(float64(rate)*o.duration.Seconds())/6)
	if err := os.WriteFile(conf, configYAML(o.wards, nurses), 0o640); err != nil {
		return res, err
	}
	port, err := freePort()
	if err != nil {
		return res, err
	}
	pprofPort, _ := freePort()
	logf, err := os.Create(filepath.Join(rdir, "weibao.log"))
	if err != nil {
		return res, err
	}
	defer logf.Close()
	cmd := exec.Command(o.weibao, "serve", "-config", conf)
	cmd.Dir = rdir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(),
		"WEIBAO_SERVER_ADDR=127.0.0.1:"+port,
		"WEIBAO_DATABASE_DRIVER=mysql", "WEIBAO_DATABASE_DSN="+cfg.FormatDSN(),
		"WEIBAO_REDIS_URL="+o.redis, "WEIBAO_REDIS_PREFIX=storm:"+runID+":",
		"WEIBAO_WECOM_API_BASE="+fakeURL, "WEIBAO_WECOM_INBOX_JOURNAL="+filepath.Join(rdir, "inbox.journal"),
		"WEIBAO_WECOM_CORP_ID="+wecomtest.CorpID, "WEIBAO_WECOM_AGENT_ID="+wecomtest.AgentID, "WEIBAO_WECOM_SECRET="+wecomtest.Secret,
		"WEIBAO_WECOM_BOT_MODE=callback", "WEIBAO_WECOM_BOT_TOKEN="+wecomtest.BotToken, "WEIBAO_WECOM_BOT_ENCODING_AES_KEY="+wecomtest.BotAESKey,
		"WEIBAO_SERVER_PUBLIC_URL=http://127.0.0.1:"+port,
		"WEIBAO_REPORTS_JOBS_DIGEST_SPEC=off", "WEIBAO_REPORTS_JOBS_MONTHLY_SPEC=off",
		"WEIBAO_REPORTS_JOBS_QUARTERLY_SPEC=off", "WEIBAO_REPORTS_JOBS_ANALYSIS_SPEC=off")
	if o.pprof { // only then: a weibao before server.pprof_addr refuses the variable
		cmd.Env = append(cmd.Env, "WEIBAO_SERVER_PPROF_ADDR=127.0.0.1:"+pprofPort)
	}
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	base := "http://127.0.0.1:" + port
	if err := waitReady(base+"/readyz", 60*time.Second); err != nil {
		return res, fmt.Errorf("weibao did not start (log %s): %w", logf.Name(), err)
	}
	crypto := wecomtest.RobotCrypto()
	// One storm of requests for weibao and one for the floor: the same
	// messages, signed separately, each sent at rate.
	reqs, first, unique := build(o, nurses, crypto, base, fakeURL, runID, rate)
	floorReqs, _, _ := build(o, nurses, crypto, "http://"+floorAddr, fakeURL, runID+"f", rate)
	res.sent, res.unique = len(reqs), unique
	fmt.Printf("%d/s: floor receiver…\n", rate)
	res.floor, res.floorNon200 = send(floorAddr, floorReqs, rate, nil)
	fake.expect(runID, unique)
	cpu0, db0 := procCPU(cmd.Process.Pid), procCPU(o.dbpid)
	fmt.Printf("%d/s: weibao…\n", rate)
	if o.pprof {
		go func() {
			time.Sleep(o.duration / 3)
			profile("http://127.0.0.1:"+pprofPort, filepath.Join(rdir, "cpu.pprof"), min(10*time.Second, o.duration/2))
		}()
	}
	start := time.Now()
	sentAt := make([]time.Time, len(reqs))
	res.answer, res.non200 = send(strings.TrimPrefix(base, "http://"), reqs, rate, sentAt)
	end := time.Now()
	// Drain: until the fake has every reply (and the inbox nothing pending).
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return res, err
	}
	defer db.Close()
	var done, handled time.Time
	for deadline := end.Add(o.drain); ; time.Sleep(100 * time.Millisecond) {
		got := fake.replies(runID)
		var pending int
		db.QueryRow("SELECT COUNT(*) FROM inbox WHERE status = 'pending'").Scan(&pending)
		if pending == 0 && handled.IsZero() {
			handled = time.Now()
		}
		if got >= unique && pending == 0 {
			done = time.Now()
			break
		}
		if time.Now().After(deadline) {
			done = time.Now()
			fmt.Printf("%d/s: drain timed out: %d of %d replies, %d inbox events pending\n", rate, got, unique, pending)
			break
		}
	}
	time.Sleep(time.Second) // late doubles would show here
	cpu1, db1 := procCPU(cmd.Process.Pid), procCPU(o.dbpid)
	res.cpuWeibao, res.cpuDB = cpu1-cpu0, db1-db0
	res.rss, res.hwm = procMem(cmd.Process.Pid)
	res.drain = done.Sub(end)
	if handled.IsZero() { // the drain timed out: what was handled by then
		handled, res.timedOut = done, true
	}
	res.inboxDrain = handled.Sub(end)
	// Replies: one per message, measured from the message's first send.
	at, counts := fake.result(runID)
	for i := range unique {
		switch counts[i] {
		case 0:
			res.missing++
			continue
		case 1:
		default:
			res.doubled++
		}
		d := at[i].Sub(sentAt[first[i]])
		res.reply = append(res.reply, d)
		res.replyMax = max(res.replyMax, d)
	}
	var stored, doneRows int
	if err := db.QueryRow("SELECT COUNT(*), COALESCE(SUM(status = 'done'), 0) FROM inbox WHERE msg_id LIKE ?", "robot:"+runID+"-%").Scan(&stored, &doneRows); err != nil {
		return res, err
	}
	// Unhandled at the end of a timed-out drain is late, not lost: lost is
	// what was acknowledged and never stored.
	res.lost, res.twice, res.late = max(0, unique-stored), max(0, stored-unique), unique-doneRows
	res.handledPerSec = float64(doneRows) / handled.Sub(start).Seconds()
	var tickets int
	db.QueryRow("SELECT COUNT(*) FROM tickets").Scan(&tickets)
	fmt.Printf("%d/s: %d tickets, %d inbox rows (%d handled); fake WeCom calls: %s\n", rate, tickets, stored, doneRows, fake.calls())
	return res, nil
}

// build makes the storm's requests: nurse s sends message k of her
// dialogue; a share is sent twice (WeCom's retry: same msgid, new
// signature). first[i] is the request index of unique message i.
func build(o options, nurses int, c *wecom.Crypto, base, fakeURL, runID string, rate int) (reqs [][]byte, first []int, unique int) {
	u, _ := neturl.Parse(base + "/wecom/bot")
	total := int(float64(rate) * o.duration.Seconds())
	every := 0
	if o.dup > 0 {
		every = int(1 / o.dup)
	}
	step := []string{"@运维助手 监护仪黑屏，数据不更新 %d", "1", "1", "4"}
	for i := 0; len(reqs) < total; i++ {
		s := i % nurses
		k := (i / nurses) % len(step)
		text := step[k]
		if k == 0 {
			text = fmt.Sprintf(text, i)
		}
		chat := `"chattype":"single"`
		if i%200 == 0 {
			chat = fmt.Sprintf(`"chatid":"wrd%d","chattype":"group"`, s%o.wards)
		}
		msg := fmt.Sprintf(`{"msgid":"%s-%d","aibotid":"bench",%s,"from":{"userid":"n%d"},"response_url":"%s/cgi-bin/aibot/response?response_code=%s-%d","msgtype":"text","text":{"content":%q}}`,
			runID, i, chat, s, fakeURL, runID, i, text)
		first = append(first, len(reqs))
		reqs = append(reqs, wire(u, c, msg))
		if every > 0 && i%every == 0 && len(reqs) < total {
			reqs = append(reqs, wire(u, c, msg))
		}
		unique++
	}
	return reqs, first, unique
}

func wire(u *neturl.URL, c *wecom.Crypto, msg string) []byte {
	q, body := wecomtest.RobotCallback(c, time.Now(), msg)
	return fmt.Appendf(nil, "POST %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		u.Path, q.Encode(), u.Host, len(body), body)
}

// send posts reqs at rate on kept-alive connections (raw HTTP/1.1: the tool
// shares the cores with what it measures) and returns the answer times.
func send(host string, reqs [][]byte, rate int, sentAt []time.Time) ([]time.Duration, int64) {
	lat := make([]time.Duration, len(reqs))
	var bad atomic.Int64
	jobs := make(chan int, 512)
	var wg sync.WaitGroup
	for range 256 {
		wg.Go(func() {
			var conn net.Conn
			var br *bufio.Reader
			for i := range jobs {
				start := time.Now()
				if sentAt != nil {
					sentAt[i] = start
				}
				if conn == nil {
					c, err := net.Dial("tcp", host)
					if err != nil {
						bad.Add(1)
						continue
					}
					conn, br = c, bufio.NewReader(c)
				}
				conn.SetDeadline(start.Add(10 * time.Second))
				_, err := conn.Write(reqs[i])
				var res *http.Response
				if err == nil {
					res, err = http.ReadResponse(br, nil)
				}
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				if err != nil || res.StatusCode != http.StatusOK {
					bad.Add(1)
				}
				if err != nil {
					conn.Close()
					conn = nil
					continue
				}
				lat[i] = time.Since(start)
			}
			if conn != nil {
				conn.Close()
			}
		})
	}
	start := time.Now()
	tick := time.Second / time.Duration(rate)
	for i := range reqs {
		if wait := time.Until(start.Add(time.Duration(i) * tick)); wait > 0 {
			time.Sleep(wait)
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return lat, bad.Load()
}

func configYAML(wards, nurses int) []byte {
	var b strings.Builder
	b.WriteString("timezone: Asia/Shanghai\nlog: {level: info, format: json}\n")
	b.WriteString("campuses:\n  - {code: dongjie, name: 东街院区, lat: 26.0790, lng: 119.3000}\nwards:\n")
	for w := range wards {
		fmt.Fprintf(&b, "  - {code: w%d, name: 病区%d, campus: dongjie, chat_id: wrd%d}\n", w, w, w)
	}
	b.WriteString("people:\n")
	for n := range nurses {
		fmt.Fprintf(&b, "  - {userid: n%d, name: 护士%d, role: nurse, ward: w%d}\n", n, n, n%wards)
	}
	b.WriteString(`  - {userid: eng1, name: 张工, role: engineer, mobile: "13800000001"}
  - {userid: eng2, name: 刘工, role: engineer, mobile: "13800000002"}
  - {userid: lead1, name: 赵经理, role: lead, mobile: "13800000003"}
oncall:
  lead: lead1
  start: "2026-01-05 09:00"
  shift: 168h
  primary: [eng1]
  backup: [eng2]
`)
	return []byte(b.String())
}

func resetDB(cfg *mysql.Config) error {
	admin := *cfg
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec("DROP DATABASE IF EXISTS `" + cfg.DBName + "`"); err != nil {
		return err
	}
	_, err = db.Exec("CREATE DATABASE `" + cfg.DBName + "` CHARACTER SET utf8mb4")
	return err
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p, nil
}

func waitReady(url string, d time.Duration) error {
	var last error
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		last = err
	}
	return last
}

func profile(base, path string, d time.Duration) {
	res, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", base, int(d.Seconds())))
	if err != nil {
		fmt.Println("pprof:", err)
		return
	}
	defer res.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return
	}
	io.Copy(f, res.Body)
	f.Close()
	fmt.Println("profile:", path)
}

// procCPU is a process's user+system CPU time so far (/proc/<pid>/stat).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// procMem is a process's resident set now and at its peak, in bytes.
func procMem(pid int) (rss, hwm int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func printResult(r result) {
	fmt.Printf("%d/s: sent %d (%d messages), answer p50 %s p99 %s (floor p50 %s p99 %s), non-200 %d (floor %d)\n",
		r.rate, r.sent, r.unique, ms(pct(r.answer, .5)), ms(pct(r.answer, .99)), ms(pct(r.floor, .5)), ms(pct(r.floor, .99)), r.non200, r.floorNon200)
	fmt.Printf("%d/s: reply delivered p50 %s p99 %s max %s; %.0f handled/s; drain %s; CPU/msg weibao %s MariaDB %s; RSS %d MiB (peak %d MiB)\n",
		r.rate, ms(pct(r.reply, .5)), ms(pct(r.reply, .99)), ms(r.replyMax), r.handledPerSec, r.drain.Round(10*time.Millisecond),
		ms(r.cpuWeibao/time.Duration(max(1, r.unique))), ms(r.cpuDB/time.Duration(max(1, r.unique))), r.rss>>20, r.hwm>>20)
	fmt.Printf("%d/s: lost %d, stored twice %d, replies missing %d, replies doubled %d, unhandled when the drain gave up %d\n",
		r.rate, r.lost, r.twice, r.missing, r.doubled, r.late)
}

func printTable(rs []result) {
	fmt.Println("| offered | messages | answer p50 | **answer p99** | floor p50 | floor p99 | p99 ratio | reply p50 | **reply p99** | reply max | handled/s | drain: inbox / replies | CPU/msg weibao | CPU/msg MariaDB | RSS peak | lost / doubled |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rs {
		fp := pct(r.floor, .99)
		ratio := 0.0
		if fp > 0 {
			ratio = float64(pct(r.answer, .99)) / float64(fp)
		}
		per := func(d time.Duration) string { return ms(d / time.Duration(max(1, r.unique))) }
		drain := r.inboxDrain.Round(10*time.Millisecond).String() + " / " + r.drain.Round(10*time.Millisecond).String()
		if r.timedOut {
			drain = fmt.Sprintf("> %s, %d unhandled", r.drain.Round(time.Second), r.late)
		}
		fmt.Printf("| %d/s | %d | %s | **%s** | %s | %s | %.1f | %s | **%s** | %s | %.0f | %s | %s | %s | %d MiB | %d / %d |\n",
			r.rate, r.unique, ms(pct(r.answer, .5)), ms(pct(r.answer, .99)), ms(pct(r.floor, .5)), ms(fp), ratio,
			ms(pct(r.reply, .5)), ms(pct(r.reply, .99)), ms(r.replyMax), r.handledPerSec, drain,
			per(r.cpuWeibao), per(r.cpuDB), r.hwm>>20, r.lost, r.twice+r.doubled)
	}
}

// fakeWeCom answers weibao's API calls and records each reply posted to a
// callback's response_url (response_code "<run>-<i>").
type fakeWeCom struct {
	mu     sync.Mutex
	run    string
	at     []time.Time
	counts []int
	got    int
	byAPI  map[string]int
}

func newFakeWeCom() *fakeWeCom { return &fakeWeCom{byAPI: map[string]int{}} }

func (f *fakeWeCom) expect(run string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.run, f.at, f.counts, f.got, f.byAPI = run, make([]time.Time, n), make([]int, n), 0, map[string]int{}
}

func (f *fakeWeCom) replies(run string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got
}

func (f *fakeWeCom) result(run string) ([]time.Time, []int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.at), slices.Clone(f.counts)
}

func (f *fakeWeCom) calls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	for k, v := range f.byAPI {
		s = append(s, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

func (f *fakeWeCom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	io.Copy(io.Discard, r.Body)
	api := strings.TrimPrefix(r.URL.Path, "/cgi-bin/")
	f.mu.Lock()
	f.byAPI[api]++
	if api == "aibot/response" {
		run, i, ok := strings.Cut(r.URL.Query().Get("response_code"), "-")
		n, err := strconv.Atoi(i)
		if ok && err == nil && run == f.run && n < len(f.counts) {
			if f.counts[n] == 0 {
				f.at[n] = now
				f.got++
			}
			f.counts[n]++
		}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if api == "gettoken" {
		io.WriteString(w, `{"errcode":0,"errmsg":"ok","access_token":"storm-token","expires_in":7200}`)
		return
	}
	io.WriteString(w, `{"errcode":0,"errmsg":"ok","msgid":"m1","response_code":"rc1"}`)
}

// startFloor runs this binary as the floor receiver in a process of its own,
// as weibao is.
func startFloor() (addr string, stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	addr = "127.0.0.1:" + port
	self, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(self, "-floor-serve", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { cmd.Process.Kill(); cmd.Wait() }
	if err := waitReady("http://"+addr+"/healthz", 10*time.Second); err != nil {
		stop()
		return "", nil, err
	}
	return addr, stop, nil
}

// serveFloor is the verify-only receiver: what any correct callback endpoint
// must do (read, verify the signature, decrypt, dedupe by msgid), nothing
// more. Its answer time is the floor weibao's is compared with.
func serveFloor(addr string) {
	c := wecomtest.RobotCrypto()
	var mu sync.Mutex
	seen := map[[20]byte]bool{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("POST /wecom/bot", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		enc, err := wecom.ParseRobotEnvelope(body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		q := r.URL.Query()
		plain, err := c.Open(q.Get("msg_signature"), q.Get("timestamp"), q.Get("nonce"), enc)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		id := msgID(plain)
		mu.Lock()
		seen[sha1.Sum([]byte(id))] = true
		mu.Unlock()
	})
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// msgID reads "msgid" without a full JSON decode (the floor does the least).
func msgID(plain []byte) string {
	_, rest, ok := strings.Cut(string(plain), `"msgid":"`)
	if !ok {
		return hex.EncodeToString(plain[:min(len(plain), 16)])
	}
	id, _, _ := strings.Cut(rest, `"`)
	return id
}
