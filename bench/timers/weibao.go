package main

import (
	"context"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"weibao/sla/timerwheel"
)

const wheelPrefix = "bench:{tw}:"

// replicas starts c.replicas Run loops, each with its own Redis client, and
// returns a stop func that waits for them.
func replicas(ctx context.Context, opt *redis.Options, c config, tr *tracker) (first *timerwheel.Wheel, stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var clients []*redis.Client
	stop = func() {
		cancel()
		wg.Wait()
		for _, rdb := range clients {
			rdb.Close()
		}
	}
	handler := func(_ context.Context, t timerwheel.Timer) error {
		now := time.Now()
		if i, ok := index(t.Payload); ok {
			tr.hit(i, now)
		}
		return nil
	}
	for range c.replicas {
		rdb := redis.NewClient(opt)
		clients = append(clients, rdb)
		w, err := timerwheel.New(rdb, timerwheel.Options{Prefix: wheelPrefix, Lease: c.lease, Batch: c.batch})
		if err != nil {
			stop()
			return nil, nil, err
		}
		if first == nil {
			first = w
		}
		wg.Go(func() {
			if err := w.Run(ctx, handler); err != nil {
				log.Printf("run: %v", err)
			}
		})
	}
	return first, stop, nil
}

func wheelTimers(from, to int, due func(int) time.Time) []timerwheel.Timer {
	ts := make([]timerwheel.Timer, 0, to-from)
	for i := from; i < to; i++ {
		ts = append(ts, timerwheel.Timer{ID: timerID(i), Due: due(i), Payload: payload(i)})
	}
	return ts
}

func weibaoOps(ctx context.Context, rdb *redis.Client, c config) ([]result, error) {
	w, err := timerwheel.New(rdb, timerwheel.Options{Prefix: wheelPrefix})
	if err != nil {
		return nil, err
	}
	far := time.Now().Add(time.Hour)
	timers := wheelTimers(0, c.n, func(int) time.Time { return far })
	t0 := time.Now()
	if err := w.Schedule(ctx, timers...); err != nil {
		return nil, err
	}
	sched := time.Since(t0)
	mem, err := memory(ctx, rdb, []string{wheelPrefix + "due", wheelPrefix + "pl"})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(timers))
	for i, t := range timers {
		ids[i] = t.ID
	}
	t0 = time.Now()
	if err := w.Cancel(ctx, ids...); err != nil {
		return nil, err
	}
	cancel := time.Since(t0)
	if n, err := w.Pending(ctx); err != nil || n != 0 {
		return nil, fmt.Errorf("pending after cancel: %d, %v", n, err)
	}
	return []result{{sys: "weibao", run: "ops", n: c.n,
		schedRate:  float64(c.n) / sched.Seconds(),
		cancelRate: float64(c.n) / cancel.Seconds(),
		bytes:      float64(mem) / float64(c.n),
		note:       "one caller, Schedule/Cancel of all timers (MULTI per 500)"}}, nil
}

// weibaoSteady keeps c.n timers pending while c.rate of them come due per
// second, and measures the timers due in the window.
func weibaoSteady(ctx context.Context, opt *redis.Options, c config) ([]result, error) {
	const lead = 3 * time.Second
	extra := c.rate * int((c.window+lead+10*time.Second)/time.Second)
	tr := newTracker(c.n + extra)
	start := time.Now().Add(lead)
	due := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second / time.Duration(c.rate)) }
	for i := range tr.due {
		tr.due[i] = due(i)
	}
	w, stop, err := replicas(ctx, opt, c, tr)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := w.Schedule(ctx, wheelTimers(0, c.n, due)...); err != nil {
		return nil, err
	}
	// Feed new timers at the rate they are consumed, c.n/c.rate seconds
	// ahead, so about c.n stay pending.
	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	var feedErr error
	var feeder sync.WaitGroup
	feeder.Go(func() {
		next := c.n
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-feedCtx.Done():
				return
			case <-tick.C:
			}
			to := min(len(tr.due), c.n+int(time.Since(start)*time.Duration(c.rate)/time.Second))
			if to <= next {
				continue
			}
			if err := w.Schedule(feedCtx, wheelTimers(next, to, due)...); err != nil {
				if feedCtx.Err() == nil { // not just stopped mid-call
					feedErr = err
				}
				return
			}
			next = to
		}
	})
	measured := c.rate * int(c.window/time.Second)
	tr.waitAll(ctx, measured, start.Add(c.window+10*time.Second))
	pending, err := w.Pending(ctx)
	if err != nil {
		return nil, err
	}
	stopFeed()
	feeder.Wait()
	if feedErr != nil {
		return nil, feedErr
	}
	r := tr.stats(measured)
	r.sys, r.run = "weibao", "steady"
	r.note = fmt.Sprintf("%d pending at the end", pending)
	return []result{r}, nil
}

func weibaoBurst(ctx context.Context, opt *redis.Options, c config) ([]result, error) {
	tr := newTracker(c.n)
	at := time.Now().Add(3 * time.Second)
	for i := range tr.due {
		tr.due[i] = at
	}
	w, stop, err := replicas(ctx, opt, c, tr)
	if err != nil {
		return nil, err
	}
	defer stop()
	t0 := time.Now()
	if err := w.Schedule(ctx, wheelTimers(0, c.n, func(int) time.Time { return at })...); err != nil {
		return nil, err
	}
	if time.Now().After(at) {
		return nil, fmt.Errorf("scheduling took %v, past the burst instant", time.Since(t0))
	}
	b0, err := busy(ctx, opt)
	if err != nil {
		return nil, err
	}
	tr.waitAll(ctx, c.n, at.Add(30*time.Second))
	b1, err := busy(ctx, opt)
	if err != nil {
		return nil, err
	}
	r := tr.stats(c.n)
	r.sys, r.run = "weibao", "burst"
	r.drain = r.maxLag
	r.busy = b1 - b0
	return []result{r}, nil
}
