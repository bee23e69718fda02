// Package scheduler runs weibao's named cron jobs (robfig/cron v3) in the
// hospital's time zone: each scheduled run executes once across all replicas
// (a lock keyed by job name and scheduled time), never overlaps the job's
// previous run, has a timeout and survives a panic; a run missed while every
// replica was down is caught up at start-up while still useful; every run is
// recorded in the run history.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"weibao/bot"
)

// Job is one named job.
type Job struct {
	Name string
	// Spec is a standard 5-field cron spec (minute hour day month weekday)
	// or a descriptor such as "@daily", read in the scheduler's time zone.
	Spec    string
	Timeout time.Duration // default 10 minutes
	// CatchUp is how long after its scheduled time a missed run is still
	// worth running at start-up (e.g. 3h30m: the 08:30 digest until noon);
	// 0 never catches up.
	CatchUp time.Duration
	// Run does the work for the run scheduled at scheduled.
	Run func(ctx context.Context, scheduled time.Time) error
}

// Locker takes short-lived locks shared by the replicas (Redis).
type Locker interface {
	// Claim takes key for ttl when nobody holds it and reports whether it did.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Extend keeps a key this replica holds for ttl from now.
	Extend(ctx context.Context, key string, ttl time.Duration) error
	// Release frees a key this replica holds.
	Release(ctx context.Context, key string) error
}

// History stores the runs (storage.DB).
type History interface {
	RunStarted(ctx context.Context, r bot.JobRun) (int64, error)
	RunFinished(ctx context.Context, id int64, ended time.Time, result, errText string) error
	RunSucceeded(ctx context.Context, job string, scheduled time.Time) (bool, error)
}

// Options configure a Scheduler.
type Options struct {
	Locker   Locker
	History  History
	Clock    bot.Clock
	Location *time.Location
	Logger   *slog.Logger
	// Replica names this process in the run history (host name, pod name).
	Replica string
	// KeyPrefix prefixes the lock keys (default "weibao:job:").
	KeyPrefix string
}

// Run results in the history.
const (
	ResultRunning = "running"
	ResultOK      = "ok"
	ResultError   = "error"
	ResultSkipped = "skipped" // the job's previous run was still going
)

// doneTTL keeps a finished run's key long enough that no replica, however
// late its clock or its catch-up, runs the same scheduled time again.
const doneTTL = 8 * 24 * time.Hour

type entry struct {
	job     Job
	sched   cron.Schedule
	running atomic.Bool
}

// Scheduler runs registered jobs.
type Scheduler struct {
	opt  Options
	cron *cron.Cron
	mu   sync.Mutex
	jobs map[string]*entry
	wg   sync.WaitGroup
}

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// New returns a scheduler; register jobs, then Run it.
func New(opt Options) *Scheduler {
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.KeyPrefix == "" {
		opt.KeyPrefix = "weibao:job:"
	}
	return &Scheduler{opt: opt, jobs: map[string]*entry{},
		cron: cron.New(cron.WithLocation(opt.Location), cron.WithParser(parser))}
}

// Register adds a job; its name must be unique and its spec valid.
func (s *Scheduler) Register(j Job) error {
	if j.Name == "" || j.Run == nil {
		return errors.New("scheduler: job needs a name and a Run func")
	}
	sched, err := parser.Parse(j.Spec)
	if err != nil {
		return fmt.Errorf("scheduler: job %s: spec %q: %w", j.Name, j.Spec, err)
	}
	if j.Timeout <= 0 {
		j.Timeout = 10 * time.Minute
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[j.Name]; dup {
		return fmt.Errorf("scheduler: job %s registered twice", j.Name)
	}
	s.jobs[j.Name] = &entry{job: j, sched: sched}
	return nil
}

// JobInfo describes a registered job.
type JobInfo struct {
	Name, Spec string
	Next       time.Time
}

// Jobs lists the registered jobs with their next run, by name.
func (s *Scheduler) Jobs() []JobInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Clock.Now().In(s.opt.Location)
	var out []JobInfo
	for _, e := range s.jobs {
		out = append(out, JobInfo{Name: e.job.Name, Spec: e.job.Spec, Next: e.sched.Next(now)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Run catches up missed runs, then runs the cron until ctx ends, then waits
// for running jobs (their contexts are cancelled with ctx).
func (s *Scheduler) Run(ctx context.Context) error {
	s.CatchUp(ctx)
	s.mu.Lock()
	for _, e := range s.jobs {
		e := e
		s.cron.Schedule(e.sched, cron.FuncJob(func() {
			// The run's scheduled time is the latest spec time by now; cron
			// fires on time, the hour of slack covers a slow wake-up.
			scheduled := latest(e.sched, s.opt.Clock.Now().In(s.opt.Location), time.Hour)
			if scheduled.IsZero() {
				return
			}
			s.fireRetrying(ctx, e, scheduled)
		}))
	}
	s.mu.Unlock()
	s.cron.Start()
	<-ctx.Done()
	<-s.cron.Stop().Done()
	s.wg.Wait()
	return nil
}

// fireRetrying fires a cron run and, while it could not even start because
// Redis or the database failed (not run, with an error), tries again every
// retryEvery until the job's next run is due: a restart of either must not
// cost a digest or a reminder until the next catch-up.
func (s *Scheduler) fireRetrying(ctx context.Context, e *entry, scheduled time.Time) {
	next := e.sched.Next(scheduled)
	for {
		ran, err := s.fire(ctx, e, scheduled)
		if ran || err == nil || !s.opt.Clock.Now().Add(retryEvery).Before(next) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryEvery):
		}
	}
}

const retryEvery = 5 * time.Second

// latest returns the last time sched fires in (now−within, now], or zero.
func latest(sched cron.Schedule, now time.Time, within time.Duration) time.Time {
	var last time.Time
	for t := sched.Next(now.Add(-within)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		last = t
	}
	return last
}

// CatchUp runs, once across replicas, each job's latest scheduled run that
// nobody completed, if it is no older than the job's CatchUp window.
func (s *Scheduler) CatchUp(ctx context.Context) {
	s.mu.Lock()
	entries := make([]*entry, 0, len(s.jobs))
	for _, e := range s.jobs {
		entries = append(entries, e)
	}
	s.mu.Unlock()
	now := s.opt.Clock.Now().In(s.opt.Location)
	for _, e := range entries {
		if e.job.CatchUp <= 0 {
			continue
		}
		prev := latest(e.sched, now, e.job.CatchUp)
		if prev.IsZero() {
			continue
		}
		done, err := s.opt.History.RunSucceeded(ctx, e.job.Name, prev)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.opt.Logger.Error("catch-up check failed", "job", e.job.Name, "err", err)
			continue
		}
		if done {
			continue
		}
		s.opt.Logger.Info("catching up a missed run", "job", e.job.Name, "scheduled", prev)
		s.fire(ctx, e, prev)
	}
}

// Fire runs job name for scheduled unless another replica has or is already
// doing so; it reports whether this replica ran it. Cron calls it on time;
// tests and the admin call it directly.
func (s *Scheduler) Fire(ctx context.Context, name string, scheduled time.Time) (bool, error) {
	s.mu.Lock()
	e, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return false, fmt.Errorf("scheduler: no job %q: %w", name, bot.ErrNotFound)
	}
	return s.fire(ctx, e, scheduled)
}

func (s *Scheduler) fire(ctx context.Context, e *entry, scheduled time.Time) (ran bool, err error) {
	s.wg.Add(1)
	defer s.wg.Done()
	log := s.opt.Logger.With("job", e.job.Name, "scheduled", scheduled.Format(time.RFC3339))
	defer func() {
		switch {
		case err == nil:
		case ctx.Err() != nil: // shutdown; the history marks it failed, so catch-up reruns it
			log.Info("job run interrupted by shutdown", "err", err)
		default:
			log.Error("job run failed", "err", err)
		}
	}()
	// This replica never overlaps a job with itself.
	if !e.running.CompareAndSwap(false, true) {
		log.Warn("job still running here, run skipped")
		return false, nil
	}
	defer e.running.Store(false)
	lockTTL := e.job.Timeout + time.Minute
	runKey := s.opt.KeyPrefix + e.job.Name + ":" + strconv.FormatInt(scheduled.Unix(), 10)
	got, err := s.opt.Locker.Claim(ctx, runKey, lockTTL)
	if err != nil || !got {
		return false, err // another replica has (or had) this run
	}
	// Nor does it overlap its own previous run on another replica.
	busyKey := s.opt.KeyPrefix + e.job.Name + ":running"
	free, err := s.opt.Locker.Claim(ctx, busyKey, lockTTL)
	if err != nil {
		s.opt.Locker.Release(context.WithoutCancel(ctx), runKey)
		return false, err
	}
	start := s.opt.Clock.Now()
	run := bot.JobRun{Job: e.job.Name, Scheduled: scheduled, Replica: s.opt.Replica, Started: start}
	id, err := s.opt.History.RunStarted(ctx, run)
	if err != nil {
		s.opt.Locker.Release(context.WithoutCancel(ctx), runKey)
		if free {
			s.opt.Locker.Release(context.WithoutCancel(ctx), busyKey)
		}
		return false, err
	}
	bg := context.WithoutCancel(ctx)
	if !free {
		log.Warn("previous run still going on another replica, run skipped")
		s.opt.Locker.Extend(bg, runKey, doneTTL)
		return false, s.opt.History.RunFinished(bg, id, s.opt.Clock.Now(), ResultSkipped, "previous run still going")
	}
	defer s.opt.Locker.Release(bg, busyKey)
	runErr := s.call(ctx, e.job, scheduled)
	result, errText := ResultOK, ""
	if runErr != nil {
		result, errText = ResultError, runErr.Error()
	} else if err := s.opt.Locker.Extend(bg, runKey, doneTTL); err != nil {
		log.Warn("could not keep the run's key; the database history still marks it done", "err", err)
	}
	if err := s.opt.History.RunFinished(bg, id, s.opt.Clock.Now(), result, errText); err != nil {
		return true, errors.Join(runErr, err)
	}
	if runErr == nil {
		log.Info("job run done", "duration_ms", s.opt.Clock.Now().Sub(start).Milliseconds())
	}
	return true, runErr
}

// call runs the job with its timeout and turns a panic into an error.
func (s *Scheduler) call(ctx context.Context, j Job, scheduled time.Time) (err error) {
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return j.Run(ctx, scheduled)
}
