// Command timers is the load tool for sla/timerwheel, with
// github.com/hibiken/asynq's scheduled tasks side by side. It runs against
// a real Redis on a loopback address, in a DB other than 0 that it flushes
// between runs, and prints markdown tables of fire lag, burst drain time,
// schedule/cancel throughput, memory per timer, and duplicate and missed
// fires counted per timer.
//
//	go run ./bench/timers -redis redis://127.0.0.1:6379/15
//
// The chaos scenario re-runs this binary as replica processes (-child),
// SIGKILLs one and flushes Redis mid-run, then counts misses after the lease
// and reconciles from the tool's own record (standing in for the database).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

type config struct {
	url      string
	n        int           // pending timers
	replicas int           // Run loops / asynq servers, one Redis client each
	rate     int           // steady timers due per second
	window   time.Duration // steady measuring window
	lease    time.Duration
	batch    int
	systems  []string
	runs     []string
}

func main() {
	var c config
	var systems, runs string
	flag.StringVar(&c.url, "redis", "redis://127.0.0.1:6379/15", "Redis URL: loopback host, DB other than 0 (it is flushed)")
	flag.IntVar(&c.n, "n", 100_000, "pending timers")
	flag.IntVar(&c.replicas, "replicas", 3, "replicas")
	flag.IntVar(&c.rate, "rate", 1000, "steady load: timers due per second")
	flag.DurationVar(&c.window, "window", 30*time.Second, "steady load: measuring window")
	flag.DurationVar(&c.lease, "lease", 2*time.Second, "timerwheel lease (chaos waits for it)")
	flag.IntVar(&c.batch, "batch", 500, "timerwheel claim batch")
	flag.StringVar(&systems, "systems", "weibao,asynq", "systems to run: weibao, asynq")
	flag.StringVar(&runs, "runs", "ops,steady,burst,chaos", "scenarios: ops, steady, burst, chaos")
	child := flag.String("child", "", "internal: run as a chaos replica of this system")
	flag.Parse()
	c.systems, c.runs = strings.Split(systems, ","), strings.Split(runs, ",")
	log.SetFlags(log.Ltime | log.Lmicroseconds)

	opt, err := redisOptions(c.url)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *child != "" {
		if err := runChild(ctx, opt, *child, c); err != nil {
			log.Fatal(err)
		}
		return
	}
	var results []result
	for _, run := range c.runs {
		for _, sys := range c.systems {
			log.Printf("run %s/%s", sys, run)
			r, err := scenario(ctx, opt, c, sys, run)
			if err != nil {
				log.Fatalf("%s/%s: %v", sys, run, err)
			}
			results = append(results, r...)
		}
	}
	printTables(os.Stdout, c, results)
}

func scenario(ctx context.Context, opt *redis.Options, c config, sys, run string) ([]result, error) {
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return nil, fmt.Errorf("flush db %d: %w", opt.DB, err)
	}
	switch sys + "/" + run {
	case "weibao/ops":
		return weibaoOps(ctx, rdb, c)
	case "weibao/steady":
		return weibaoSteady(ctx, opt, c)
	case "weibao/burst":
		return weibaoBurst(ctx, opt, c)
	case "weibao/chaos", "asynq/chaos":
		return chaos(ctx, opt, c, sys)
	case "asynq/ops":
		return asynqOps(ctx, rdb, c)
	case "asynq/steady":
		return asynqSteady(ctx, opt, c)
	case "asynq/burst":
		return asynqBurst(ctx, opt, c)
	}
	return nil, fmt.Errorf("unknown system or scenario %s/%s", sys, run)
}

// redisOptions accepts only loopback hosts and DBs other than 0: the tool
// flushes its DB.
func redisOptions(url string) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(opt.Addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("redis host %s is not a loopback address", host)
	}
	if opt.DB == 0 {
		return nil, errors.New("redis DB 0 is not ours to flush; use another index, e.g. /15")
	}
	opt.PoolSize = 32
	return opt, nil
}

// Timers are named like the bot's (ticket, clock, percent) and carry a
// 16-byte payload; the payload is the tracker index.
func timerID(i int) string       { return fmt.Sprintf("tk:%07d:res:80", i) }
func payload(i int) []byte       { return fmt.Appendf(nil, "%016d", i) }
func index(p []byte) (int, bool) { i, err := strconv.Atoi(string(p)); return i, err == nil }

// tracker records, per timer, its exact due time and every time it fired.
type tracker struct {
	due     []time.Time
	count   []atomic.Int32
	handled []atomic.Int64 // unix ns of the first fire
}

func newTracker(capacity int) *tracker {
	return &tracker{due: make([]time.Time, capacity), count: make([]atomic.Int32, capacity), handled: make([]atomic.Int64, capacity)}
}

func (t *tracker) hit(i int, at time.Time) {
	if i < 0 || i >= len(t.due) {
		return
	}
	if t.count[i].Add(1) == 1 {
		t.handled[i].Store(at.UnixNano())
	}
}

// stats covers timers [0, n).
func (t *tracker) stats(n int) (r result) {
	lags := make([]time.Duration, 0, n)
	for i := range n {
		switch c := t.count[i].Load(); {
		case c == 0:
			r.misses++
			continue
		case c > 1:
			r.dups += int(c - 1)
		}
		r.fired++
		lag := time.Unix(0, t.handled[i].Load()).Sub(t.due[i])
		if lag < 0 {
			r.early++
		}
		lags = append(lags, lag)
	}
	slices.Sort(lags)
	pct := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	r.p50, r.p99, r.p999 = pct(0.5), pct(0.99), pct(0.999)
	if len(lags) > 0 {
		r.minLag, r.maxLag = lags[0], lags[len(lags)-1]
	}
	r.n = n
	return r
}

// waitAll waits until timers [0, n) have all fired or the deadline passes.
func (t *tracker) waitAll(ctx context.Context, n int, deadline time.Time) {
	for i := 0; i < n; {
		if t.count[i].Load() > 0 {
			i++
			continue
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// busy returns the total time Redis has spent executing commands
// (INFO commandstats), so a run's Redis cost can be told from the VM's
// scheduling noise. Other clients of the server add to it.
func busy(ctx context.Context, opt *redis.Options) (time.Duration, error) {
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return 0, fmt.Errorf("info commandstats: %w", err)
	}
	var sum time.Duration
	for _, line := range strings.Split(info, "\n") {
		_, rest, ok := strings.Cut(line, "usec=")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		usec, _, _ := strings.Cut(rest, ",")
		n, err := strconv.ParseInt(usec, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("commandstats line %q: %w", line, err)
		}
		sum += time.Duration(n) * time.Microsecond
	}
	return sum, nil
}

// memory sums MEMORY USAGE (all elements sampled) over keys.
func memory(ctx context.Context, rdb *redis.Client, keys []string) (int64, error) {
	var sum int64
	for start := 0; start < len(keys); start += 1000 {
		p := rdb.Pipeline()
		cmds := make([]*redis.IntCmd, 0, 1000)
		for _, k := range keys[start:min(start+1000, len(keys))] {
			cmds = append(cmds, p.MemoryUsage(ctx, k, 0))
		}
		if _, err := p.Exec(ctx); err != nil {
			return 0, fmt.Errorf("memory usage: %w", err)
		}
		for _, c := range cmds {
			sum += c.Val()
		}
	}
	return sum, nil
}
