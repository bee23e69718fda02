package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"weibao/sla/timerwheel"
)

const chaosPrefix = "bench:{chaos}:"

// runChild is one chaos replica: it handles timers by writing "index
// unix-ns" to stdout before the ack, as a real handler commits to the
// database before the ack.
func runChild(ctx context.Context, opt *redis.Options, prefix string, c config) error {
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	w, err := timerwheel.New(rdb, timerwheel.Options{Prefix: prefix, Lease: c.lease, Batch: c.batch})
	if err != nil {
		return err
	}
	var mu sync.Mutex
	return w.Run(ctx, func(_ context.Context, t timerwheel.Timer) error {
		now := time.Now()
		i, ok := index(t.Payload)
		if !ok {
			return fmt.Errorf("bad payload %q", t.Payload)
		}
		mu.Lock()
		defer mu.Unlock()
		_, err := fmt.Fprintf(os.Stdout, "%d %d\n", i, now.UnixNano())
		return err
	})
}

// chaos runs c.replicas child processes over c.n timers due across 20 s,
// SIGKILLs one 6 s in, flushes the DB 10 s in, and reconciles from the
// tool's record right after the flush and every 5 s, as weibao's reconcile
// job does from the database.
func chaos(ctx context.Context, opt *redis.Options, c config) ([]result, error) {
	const (
		lead      = 3 * time.Second
		span      = 20 * time.Second
		killAt    = 6 * time.Second
		flushAt   = 10 * time.Second
		reconcile = 5 * time.Second
	)
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
		cmd := exec.CommandContext(ctx, self, "-child", chaosPrefix, "-redis", redisURL(opt),
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
	w, err := timerwheel.New(rdb, timerwheel.Options{Prefix: chaosPrefix})
	if err != nil {
		return nil, err
	}
	unfired := func() []timerwheel.Timer {
		var ts []timerwheel.Timer
		for i := range c.n {
			if tr.count[i].Load() == 0 {
				ts = append(ts, timerwheel.Timer{ID: timerID(i), Due: due(i), Payload: payload(i)})
			}
		}
		return ts
	}
	if err := w.Schedule(ctx, unfired()...); err != nil {
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
	n, err := w.Reconcile(ctx, unfired()...)
	if err != nil {
		return nil, err
	}
	notes = append(notes, fmt.Sprintf("FLUSHDB at +%v, reconcile re-armed %d", flushAt, n))
	end := start.Add(span + c.lease + 2*reconcile)
	for next := time.Now().Add(reconcile); time.Now().Before(end); next = next.Add(reconcile) {
		sleepUntil(ctx, next)
		if ctx.Err() != nil {
			break
		}
		if _, err := w.Reconcile(ctx, unfired()...); err != nil {
			return nil, err
		}
		if len(unfired()) == 0 {
			break
		}
	}
	tr.waitAll(ctx, c.n, end)
	r := tr.stats(c.n)
	r.sys, r.run = "weibao", "chaos"
	r.note = strings.Join(notes, "; ")
	return []result{r}, nil
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
