package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"weibao/scheduler"
	"weibao/storage"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var sh = storagetest.Shanghai

// replicas builds n schedulers sharing one Redis and one database, as n
// weibao processes would.
func replicas(t *testing.T, n int, clock *fakeClock, job func(i int) scheduler.Job) ([]*scheduler.Scheduler, *storage.DB) {
	t.Helper()
	st, _ := redistest.Open(t)
	db := storagetest.Open(t)
	prefix := redistest.Prefix()
	var out []*scheduler.Scheduler
	for i := range n {
		s := scheduler.New(scheduler.Options{Locker: st.JobLock(prefix + string(rune('a'+i))), History: db,
			Clock: clock, Location: sh, Replica: string(rune('a' + i)), KeyPrefix: prefix + "job:"})
		if err := s.Register(job(i)); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out, db
}

func TestOnceAcrossReplicas(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 8, 30, 0, 0, sh)}
	var runs atomic.Int32
	var seen sync.Map
	ss, db := replicas(t, 3, clock, func(int) scheduler.Job {
		return scheduler.Job{Name: "digest", Spec: "30 8 * * *", Run: func(ctx context.Context, at time.Time) error {
			runs.Add(1)
			seen.Store(at.Unix(), true)
			return nil
		}}
	})
	ctx := context.Background()
	fireAll := func(at time.Time) int {
		var wg sync.WaitGroup
		var ran atomic.Int32
		for _, s := range ss {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := s.Fire(ctx, "digest", at)
				if err != nil {
					t.Error(err)
				}
				if ok {
					ran.Add(1)
				}
			}()
		}
		wg.Wait()
		return int(ran.Load())
	}
	day1 := time.Date(2026, 11, 26, 8, 30, 0, 0, sh)
	if got := fireAll(day1); got != 1 {
		t.Fatalf("first fire: %d replicas ran, want 1", got)
	}
	if got := fireAll(day1); got != 0 {
		t.Fatalf("same scheduled time again: %d replicas ran, want 0", got)
	}
	if got := fireAll(day1.AddDate(0, 0, 1)); got != 1 {
		t.Fatalf("next day: %d replicas ran, want 1", got)
	}
	if runs.Load() != 2 {
		t.Errorf("job ran %d times, want 2", runs.Load())
	}
	hist, err := db.Runs(ctx, "digest", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Result != "ok" || hist[1].Result != "ok" || !hist[1].Scheduled.Equal(day1) {
		t.Errorf("history = %+v, want two ok runs, the older for %v", hist, day1)
	}
}

func TestCatchUp(t *testing.T) {
	tests := []struct {
		name string
		now  time.Time
		want int
	}{
		{"missed this morning, still before noon", time.Date(2026, 11, 26, 11, 0, 0, 0, sh), 1},
		{"too late to be useful", time.Date(2026, 11, 26, 12, 30, 0, 0, sh), 0},
		{"not due yet today, yesterday's is stale", time.Date(2026, 11, 26, 7, 0, 0, 0, sh), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: tt.now}
			var runs atomic.Int32
			var at atomic.Int64
			ss, _ := replicas(t, 3, clock, func(int) scheduler.Job {
				return scheduler.Job{Name: "digest", Spec: "30 8 * * *", CatchUp: 3*time.Hour + 30*time.Minute,
					Run: func(ctx context.Context, s time.Time) error { runs.Add(1); at.Store(s.Unix()); return nil }}
			})
			var wg sync.WaitGroup
			for _, s := range ss {
				wg.Add(1)
				go func() { defer wg.Done(); s.CatchUp(context.Background()) }()
			}
			wg.Wait()
			if int(runs.Load()) != tt.want {
				t.Fatalf("caught up %d times, want %d", runs.Load(), tt.want)
			}
			if tt.want == 1 && at.Load() != time.Date(2026, 11, 26, 8, 30, 0, 0, sh).Unix() {
				t.Errorf("caught up run scheduled %v, want 08:30", time.Unix(at.Load(), 0).In(sh))
			}
			// A restart after the catch-up does not run it again.
			ss[0].CatchUp(context.Background())
			if int(runs.Load()) != tt.want {
				t.Errorf("second start-up ran it again")
			}
		})
	}
}

func TestFailuresAreRecorded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, sh)}
	ctx := context.Background()
	ss, db := replicas(t, 1, clock, func(int) scheduler.Job {
		return scheduler.Job{Name: "panics", Spec: "@hourly", Run: func(context.Context, time.Time) error { panic("boom") }}
	})
	s := ss[0]
	if err := s.Register(scheduler.Job{Name: "slow", Spec: "@hourly", Timeout: 20 * time.Millisecond,
		Run: func(ctx context.Context, _ time.Time) error { <-ctx.Done(); return ctx.Err() }}); err != nil {
		t.Fatal(err)
	}
	at := clock.Now()
	if ran, err := s.Fire(ctx, "panics", at); !ran || err == nil || !strings.Contains(err.Error(), "panic: boom") {
		t.Errorf("panicking job: ran %v err %v, want a recovered panic", ran, err)
	}
	if ran, err := s.Fire(ctx, "slow", at); !ran || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow job: ran %v err %v, want its timeout", ran, err)
	}
	runs, err := db.Runs(ctx, "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.Result != "error" || r.Error == "" || r.Ended.IsZero() {
			t.Errorf("run %s: result %q error %q ended %v, want a recorded error", r.Job, r.Result, r.Error, r.Ended)
		}
	}
	if len(runs) != 2 {
		t.Errorf("%d runs recorded, want 2", len(runs))
	}
}

func TestNoOverlapAcrossReplicas(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, sh)}
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	ss, db := replicas(t, 2, clock, func(int) scheduler.Job {
		return scheduler.Job{Name: "sweep", Spec: "*/5 * * * *", Run: func(ctx context.Context, _ time.Time) error {
			if runs.Add(1) == 1 {
				close(started)
				<-release
			}
			return nil
		}}
	})
	ctx := context.Background()
	t1 := clock.Now()
	done := make(chan bool)
	go func() { ran, _ := ss[0].Fire(ctx, "sweep", t1); done <- ran }()
	<-started
	if ran, err := ss[1].Fire(ctx, "sweep", t1.Add(5*time.Minute)); ran || err != nil {
		t.Errorf("overlapping run: ran %v err %v, want skipped", ran, err)
	}
	close(release)
	if !<-done {
		t.Error("first run did not run")
	}
	runsList, _ := db.Runs(ctx, "sweep", 0, 10)
	var results []string
	for _, r := range runsList {
		results = append(results, r.Result)
	}
	if strings.Join(results, ",") != "ok,skipped" && strings.Join(results, ",") != "skipped,ok" {
		t.Errorf("results %v, want one ok and one skipped", results)
	}
}

// downLocker is Redis down for its first n claims.
type downLocker struct {
	scheduler.Locker
	n atomic.Int32
}

func (l *downLocker) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if l.n.Add(-1) >= 0 {
		return false, errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	}
	return l.Locker.Claim(ctx, key, ttl)
}

// TestCronRunSurvivesARedisRestart: a run due while Redis is down is tried
// again until Redis answers, not lost until the next start's catch-up.
func TestCronRunSurvivesARedisRestart(t *testing.T) {
	st, _ := redistest.Open(t)
	db := storagetest.Open(t)
	prefix := redistest.Prefix()
	clock := &fakeClock{t: time.Date(2026, 11, 26, 9, 0, 0, 0, sh)}
	lock := &downLocker{Locker: st.JobLock(prefix + "a")}
	lock.n.Store(1)
	var runs atomic.Int32
	s := scheduler.New(scheduler.Options{Locker: lock, History: db, Clock: clock, Location: sh, Replica: "a", KeyPrefix: prefix + "job:"})
	if err := s.Register(scheduler.Job{Name: "digest", Spec: "@hourly",
		Run: func(context.Context, time.Time) error { runs.Add(1); return nil }}); err != nil {
		t.Fatal(err)
	}
	s.FireRetrying(context.Background(), "digest", clock.Now())
	if runs.Load() != 1 {
		t.Errorf("runs = %d after Redis came back, want 1", runs.Load())
	}
}
