package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// asynq has no batch enqueue or cancel, so its callers run this many
// goroutines to be fair to it.
const asynqWorkers = 16

// asynqConfig is tuned for latency: the defaults (forward scheduled tasks
// every 5 s, poll empty queues every 1 s) would add seconds of lag.
func asynqConfig() asynq.Config {
	return asynq.Config{
		Concurrency:              16,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		TaskCheckInterval:        10 * time.Millisecond,
		LogLevel:                 asynq.ErrorLevel,
		ShutdownTimeout:          2 * time.Second,
	}
}

// parallel runs fn(i) for i in [from, to) on asynqWorkers goroutines and
// returns the first error.
func parallel(from, to int, fn func(i int) error) error {
	var next atomic.Int64
	next.Store(int64(from))
	var first atomic.Pointer[error]
	var wg sync.WaitGroup
	for range asynqWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to || first.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, &err)
				}
			}
		})
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		return *err
	}
	return nil
}

func enqueue(ctx context.Context, cl *asynq.Client, from, to int, due func(int) time.Time) error {
	return parallel(from, to, func(i int) error {
		_, err := cl.EnqueueContext(ctx, asynq.NewTask("t", payload(i)), asynq.TaskID(timerID(i)), asynq.ProcessAt(due(i)))
		return err
	})
}

func asynqOps(ctx context.Context, rdb *redis.Client, c config) ([]result, error) {
	cl := asynq.NewClientFromRedisClient(rdb)
	far := time.Now().Add(time.Hour)
	t0 := time.Now()
	if err := enqueue(ctx, cl, 0, c.n, func(int) time.Time { return far }); err != nil {
		return nil, err
	}
	sched := time.Since(t0)
	keys := []string{"asynq:{default}:scheduled"}
	for i := range c.n {
		keys = append(keys, "asynq:{default}:t:"+timerID(i))
	}
	mem, err := memory(ctx, rdb, keys)
	if err != nil {
		return nil, err
	}
	in := asynq.NewInspectorFromRedisClient(rdb)
	t0 = time.Now()
	if err := parallel(0, c.n, func(i int) error { return in.DeleteTask("default", timerID(i)) }); err != nil {
		return nil, err
	}
	cancel := time.Since(t0)
	return []result{{sys: "asynq", run: "ops", n: c.n,
		schedRate:  float64(c.n) / sched.Seconds(),
		cancelRate: float64(c.n) / cancel.Seconds(),
		bytes:      float64(mem) / float64(c.n),
		note:       fmt.Sprintf("%d goroutines: Enqueue(ProcessAt, TaskID) / Inspector.DeleteTask", asynqWorkers)}}, nil
}

// asynqServers starts c.replicas servers, each with its own Redis client.
func asynqServers(opt *redis.Options, c config, tr *tracker) (stop func(), err error) {
	var servers []*asynq.Server
	var clients []*redis.Client
	stop = func() {
		for _, s := range servers {
			s.Shutdown()
		}
		for _, rdb := range clients {
			rdb.Close()
		}
	}
	h := asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
		now := time.Now()
		if i, ok := index(t.Payload()); ok {
			tr.hit(i, now)
		}
		return nil
	})
	for range c.replicas {
		rdb := redis.NewClient(opt)
		clients = append(clients, rdb)
		s := asynq.NewServerFromRedisClient(rdb, asynqConfig())
		if err := s.Start(h); err != nil {
			stop()
			return nil, err
		}
		servers = append(servers, s)
	}
	return stop, nil
}

// asynqLead is how far ahead the first timer is due: enqueueing c.n tasks
// one call each takes seconds.
const asynqLead = 20 * time.Second

func asynqSteady(ctx context.Context, opt *redis.Options, c config) ([]result, error) {
	extra := c.rate * int((c.window+asynqLead+10*time.Second)/time.Second)
	tr := newTracker(c.n + extra)
	start := time.Now().Add(asynqLead)
	due := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second / time.Duration(c.rate)) }
	for i := range tr.due {
		tr.due[i] = due(i)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	cl := asynq.NewClientFromRedisClient(rdb)
	if err := enqueue(ctx, cl, 0, c.n, due); err != nil {
		return nil, err
	}
	if time.Now().After(start) {
		return nil, errors.New("enqueueing took longer than the lead")
	}
	stop, err := asynqServers(opt, c, tr)
	if err != nil {
		return nil, err
	}
	defer stop()
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
			if time.Now().Before(start) {
				continue
			}
			to := min(len(tr.due), c.n+int(time.Since(start)*time.Duration(c.rate)/time.Second))
			if to <= next {
				continue
			}
			if err := enqueue(feedCtx, cl, next, to, due); err != nil {
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
	stopFeed()
	feeder.Wait()
	if feedErr != nil {
		return nil, feedErr
	}
	r := tr.stats(measured)
	r.sys, r.run = "asynq", "steady"
	return []result{r}, nil
}

func asynqBurst(ctx context.Context, opt *redis.Options, c config) ([]result, error) {
	tr := newTracker(c.n)
	at := time.Now().Add(asynqLead)
	for i := range tr.due {
		tr.due[i] = at
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := enqueue(ctx, asynq.NewClientFromRedisClient(rdb), 0, c.n, func(int) time.Time { return at }); err != nil {
		return nil, err
	}
	if time.Now().After(at) {
		return nil, errors.New("enqueueing took longer than the lead")
	}
	stop, err := asynqServers(opt, c, tr)
	if err != nil {
		return nil, err
	}
	defer stop()
	b0, err := busy(ctx, opt)
	if err != nil {
		return nil, err
	}
	tr.waitAll(ctx, c.n, at.Add(60*time.Second))
	b1, err := busy(ctx, opt)
	if err != nil {
		return nil, err
	}
	r := tr.stats(c.n)
	r.sys, r.run = "asynq", "burst"
	r.drain = r.maxLag
	r.busy = b1 - b0
	return []result{r}, nil
}
