package inbox_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"weibao/bot"
)

// stillClock is a clock that moves only when told: no lease can end by
// itself during a test.
type stillClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stillClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stillClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestEventBeyondTheQueueIsHandledWithoutALease: with the one worker busy
// and its queue of one full, further events wait in the database, not for
// a lease: the clock never moves and the periodic sweep never runs, yet all
// are handled once the worker is free.
func TestEventBeyondTheQueueIsHandledWithoutALease(t *testing.T) {
	f := newFixture(t)
	f.opt.Clock = &stillClock{now: time.Now()}
	f.opt.Workers, f.opt.Queue = 1, 1
	f.opt.Sweep = time.Hour
	store := &crashable{Inbox: f.db}
	f.opt.Store = store
	r := newRecorder()
	busy, free := make(chan struct{}), make(chan struct{})
	var once sync.Once
	in := f.open(t, func(ctx context.Context, m bot.Message) error {
		once.Do(func() { close(busy); <-free })
		return r.handle(ctx, m)
	})
	stop := run(in)
	defer stop()
	accept(t, in, "robot:q0")
	<-busy
	var want []string
	for i := range 6 {
		id := fmt.Sprintf("robot:q%d", i+1)
		accept(t, in, id)
		want = append(want, id)
	}
	// All six are stored: one queued, five released to the database.
	for deadline := time.Now().Add(5 * time.Second); store.released.Load() < 5; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("events beyond the queue not released: %d", store.released.Load())
		}
	}
	close(free)
	waitFor(t, r, append([]string{"robot:q0"}, want...)...)
}

// crashable is a replica's view of the database that goes silent when the
// replica is killed: nothing it holds is renewed, released or marked.
type crashable struct {
	bot.Inbox
	dead     atomic.Bool
	released atomic.Int64
	mu       sync.Mutex
	renewed  time.Time // the last lease it renewed to
}

func (s *crashable) RenewInbound(ctx context.Context, ids []string, until time.Time) error {
	if s.dead.Load() {
		return nil
	}
	err := s.Inbox.RenewInbound(ctx, ids, until)
	s.mu.Lock()
	if err == nil && len(ids) > 0 {
		s.renewed = until
	}
	s.mu.Unlock()
	return err
}

func (s *crashable) lease() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.renewed
}

func (s *crashable) ReleaseInbound(ctx context.Context, ids []string, at time.Time) error {
	if s.dead.Load() {
		return nil
	}
	s.released.Add(int64(len(ids)))
	return s.Inbox.ReleaseInbound(ctx, ids, at)
}

func (s *crashable) InboundFailed(ctx context.Context, id, reason string, retryAt time.Time, dead bool) error {
	if s.dead.Load() {
		return nil
	}
	return s.Inbox.InboundFailed(ctx, id, reason, retryAt, dead)
}

// TestHeldEventsAreRenewedAndTakenOverAfterACrash: a replica renews the
// lease of an event its slow handler holds, so another replica does not
// take it however long it runs; once the replica dies (renews no more), the
// other takes it over one lease later.
func TestHeldEventsAreRenewedAndTakenOverAfterACrash(t *testing.T) {
	f := newFixture(t)
	clock := &stillClock{now: time.Now()}
	f.opt.Clock = clock
	f.opt.Lease = 30 * time.Millisecond // renewed every 10 ms of real time
	store := &crashable{Inbox: f.db}
	fa := *f
	fa.opt.Store = store
	slow := make(chan struct{})
	a := fa.open(t, func(ctx context.Context, m bot.Message) error {
		close(slow)
		<-ctx.Done() // works until its process dies
		return ctx.Err()
	})
	actx, kill := context.WithCancel(context.Background())
	adone := make(chan struct{})
	go func() { a.Run(actx); close(adone) }()
	accept(t, a, "robot:s1")
	<-slow
	// Another replica, on its own journal, sweeps while the clock passes the
	// first lease many times over.
	r := newRecorder()
	fb := *f
	fb.opt.Journal = f.journal + ".b"
	b := fb.open(t, r.handle)
	stopB := run(b)
	defer stopB()
	step := f.opt.Lease / 2
	for range 20 {
		// Move on only once a's renewal has carried the lease past where the
		// clock goes next: the lease never ends while a lives.
		for deadline := time.Now().Add(5 * time.Second); !store.lease().After(clock.Now().Add(step)); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the slow handler's lease was not renewed")
			}
		}
		clock.add(step)
	}
	if got := r.seen(); len(got) != 0 {
		t.Fatalf("another replica took over a renewed event: %v", got)
	}
	// The crash: a renews and releases nothing from here on.
	store.dead.Store(true)
	kill()
	<-adone
	a.Close()
	clock.add(2 * f.opt.Lease)
	waitFor(t, r, "robot:s1")
}

// TestJournalIsEmptiedOnceStored: a restart must not replay stored events
// into a database restored or purged since, so the journal is emptied as
// soon as the database holds what it held.
func TestJournalIsEmptiedOnceStored(t *testing.T) {
	f := newFixture(t)
	r := newRecorder()
	in := f.open(t, r.handle)
	stop := run(in)
	accept(t, in, "robot:e1")
	accept(t, in, "robot:e2")
	waitFor(t, r, "robot:e1", "robot:e2")
	for deadline := time.Now().Add(5 * time.Second); journalSize(t, f) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("journal still holds %d bytes after its events were stored", journalSize(t, f))
		}
	}
	stop()
}

func journalSize(t *testing.T, f *fixture) int64 {
	t.Helper()
	fi, err := os.Stat(f.journal)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
