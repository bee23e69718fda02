package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"weibao/sla/timerwheel"
)

const chaosPrefix = "bench:{chaos}:"

// fireWriter reports fires as "index unix-ns" lines on stdout. Handlers
// write before they return, i.e. before the ack, as a real handler commits
// to the database before the ack.
type fireWriter struct{ mu sync.Mutex }

func (f *fireWriter) fire(p []byte) error {
	now := time.Now()
	i, ok := index(p)
	if !ok {
		return fmt.Errorf("bad payload %q", p)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := fmt.Fprintf(os.Stdout, "%d %d\n", i, now.UnixNano())
	return err
}

// runChild is one chaos replica of system sys.
func runChild(ctx context.Context, opt *redis.Options, sys string, c config) error {
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	var out fireWriter
	switch sys {
	case "weibao":
		w, err := timerwheel.New(rdb, timerwheel.Options{Prefix: chaosPrefix, Lease: c.lease, Batch: c.batch})
		if err != nil {
			return err
		}
		return w.Run(ctx, func(_ context.Context, t timerwheel.Timer) error { return out.fire(t.Payload) })
	case "asynq":
		cfg := asynqConfig()
		// Retry a recovered task at once rather than after asynq's default
		// backoff of 15 s and more.
		cfg.RetryDelayFunc = func(int, error, *asynq.Task) time.Duration { return 0 }
		srv := asynq.NewServerFromRedisClient(rdb, cfg)
		if err := srv.Start(asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error { return out.fire(t.Payload()) })); err != nil {
			return err
		}
		<-ctx.Done()
		srv.Shutdown()
		return nil
	}
	return fmt.Errorf("unknown system %q", sys)
}

// chaos runs c.replicas child processes of sys over c.n timers due across
// 20 s, SIGKILLs one 6 s in, flushes the DB 10 s in, and reconciles from the
// tool's record right after the flush and every 5 s, as weibao's reconcile
// job does from the database.
func chaos(ctx context.Context, opt *redis.Options, c config, sys string) ([]result, error) {
	const (
		lead      = 3 * time.Second
		span      = 20 * time.Second
		killAt    = 6 * time.Second
		flushAt   = 10 * time.Second
		reconcile = 5 * time.Second
		// guard: see open.
		guard = time.Second
	)
	// How long a dead replica's claims may stay hidden: asynq leases active
	// tasks for 30 s and looks for expired leases once a minute.
	recovery := c.lease
	if sys == "asynq" {
		recovery = 90 * time.Second
	}
	tr := newTracker(c.n)
	start := time.Now().Add(lead)
	due := func(i int) time.Time { return start.Add(time.Duration(i) * span / time.Duration(c.n)) }
	for i := range tr.due {
		tr.due[i] = due(i)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var readers sync.WaitGroup
	var children []*exec.Cmd
	defer func() {
		for _, cmd := range children {
			cmd.Process.Signal(os.Interrupt)
		}
		for _, cmd := range children {
			cmd.Wait()
		}
		readers.Wait()
	}()
	for range c.replicas {
		cmd := exec.CommandContext(ctx, self, "-child", sys, "-redis", redisURL(opt),
			"-lease", c.lease.String(), "-batch", strconv.Itoa(c.batch))
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		children = append(children, cmd)
		readers.Go(func() { readFires(out, tr) })
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	arm, err := armer(rdb, sys)
	if err != nil {
		return nil, err
	}
	// open is the "database": timers not reported fired. Reconciles leave
	// out those due from a lease (c.lease, for both systems) ago to guard
	// ahead: they may be in flight or firing while the reconcile runs, and
	// re-arming them would fire them twice. A lost one among them is
	// re-armed by the next round.
	open := func(skipBand bool) []int {
		now := time.Now()
		var is []int
		for i := range c.n {
			d := due(i)
			if tr.count[i].Load() > 0 || (skipBand && d.After(now.Add(-c.lease)) && d.Before(now.Add(guard))) {
				continue
			}
			is = append(is, i)
		}
		return is
	}
	if _, err := arm(ctx, open(false), due); err != nil {
		return nil, err
	}
	var notes []string
	sleepUntil(ctx, start.Add(killAt))
	if err := children[0].Process.Kill(); err != nil {
		return nil, err
	}
	notes = append(notes, fmt.Sprintf("SIGKILL replica 1 at +%v", killAt))
	sleepUntil(ctx, start.Add(flushAt))
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		return nil, err
	}
	n, err := arm(ctx, open(true), due)
	if err != nil {
		return nil, err
	}
	notes = append(notes, fmt.Sprintf("FLUSHDB at +%v, reconcile re-armed %d", flushAt, n))
	end := start.Add(span + recovery + 2*reconcile)
	for next := time.Now().Add(reconcile); time.Now().Before(end) && ctx.Err() == nil; next = next.Add(reconcile) {
		sleepUntil(ctx, next)
		if len(open(false)) == 0 {
			break
		}
		if _, err := arm(ctx, open(true), due); err != nil {
			return nil, err
		}
	}
	tr.waitAll(ctx, c.n, end)
	r := tr.stats(c.n)
	r.sys, r.run = sys, "chaos"
	r.note = strings.Join(notes, "; ")
	return []result{r}, nil
}

// armer returns how sys (re)schedules timers that may already be in Redis,
// and how many it wrote.
func armer(rdb *redis.Client, sys string) (func(context.Context, []int, func(int) time.Time) (int, error), error) {
	switch sys {
	case "weibao":
		w, err := timerwheel.New(rdb, timerwheel.Options{Prefix: chaosPrefix})
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, is []int, due func(int) time.Time) (int, error) {
			ts := make([]timerwheel.Timer, len(is))
			for k, i := range is {
				ts[k] = timerwheel.Timer{ID: timerID(i), Due: due(i), Payload: payload(i)}
			}
			return w.Reconcile(ctx, ts...)
		}, nil
	case "asynq":
		cl := asynq.NewClientFromRedisClient(rdb)
		return func(ctx context.Context, is []int, due func(int) time.Time) (int, error) {
			var n atomic.Int64
			err := parallel(0, len(is), func(k int) error {
				i := is[k]
				_, err := cl.EnqueueContext(ctx, asynq.NewTask("t", payload(i)), asynq.TaskID(timerID(i)), asynq.ProcessAt(due(i)))
				if errors.Is(err, asynq.ErrTaskIDConflict) {
					return nil // still there: the reconcile leaves it alone
				}
				if err == nil {
					n.Add(1)
				}
				return err
			})
			return int(n.Load()), err
		}, nil
	}
	return nil, fmt.Errorf("unknown system %q", sys)
}

func readFires(r io.Reader, tr *tracker) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		i, ns, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		idx, err1 := strconv.Atoi(i)
		t, err2 := strconv.ParseInt(ns, 10, 64)
		if err1 != nil || err2 != nil {
			log.Printf("bad fire line %q", sc.Text())
			continue
		}
		tr.hit(idx, time.Unix(0, t))
	}
}

func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

func redisURL(opt *redis.Options) string {
	return fmt.Sprintf("redis://%s/%d", opt.Addr, opt.DB)
}
