package inbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"weibao/bot"
	"weibao/bot/inbox"
	"weibao/storage"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

func parse(_ string, payload []byte, now time.Time) (bot.Message, error) {
	return bot.Message{ID: string(payload), At: now}, nil
}

// recorder is a bot that records what it is handed.
type recorder struct {
	mu  sync.Mutex
	ids []string
	got chan string
}

func newRecorder() *recorder { return &recorder{got: make(chan string, 200)} }

func (r *recorder) handle(_ context.Context, m bot.Message) error {
	r.mu.Lock()
	r.ids = append(r.ids, m.ID)
	r.mu.Unlock()
	r.got <- m.ID
	return nil
}

func (r *recorder) seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...)
}

type fixture struct {
	db      *storage.DB
	opt     inbox.Options
	journal string
}

func newFixture(t *testing.T) *fixture {
	db := storagetest.Open(t)
	st, _ := redistest.Open(t)
	j := filepath.Join(t.TempDir(), "inbox.journal")
	return &fixture{db: db, journal: j, opt: inbox.Options{Store: db, Journal: j, Dedupe: st.Values(""), Parse: parse,
		Logger: slog.New(slog.DiscardHandler), Sweep: 10 * time.Millisecond,
		KeyPrefix: redistest.Prefix()}}
}

func (f *fixture) open(t *testing.T, h inbox.Handler) *inbox.Inbox {
	t.Helper()
	opt := f.opt
	opt.Handler = h
	in, err := inbox.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// run runs in until the returned stop is called; stop closes it too.
func run(in *inbox.Inbox) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	return func() { cancel(); <-done; in.Close() }
}

func accept(t *testing.T, in *inbox.Inbox, id string) {
	t.Helper()
	if err := in.Accept(context.Background(), bot.InboundEvent{ID: id, Source: "robot", Payload: []byte(id)}, bot.Message{ID: id}); err != nil {
		t.Fatalf("Accept %s: %v", id, err)
	}
}

// waitFor waits until the handler has seen every id in want, in any order.
func waitFor(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	left := map[string]bool{}
	for _, id := range want {
		left[id] = true
	}
	for len(left) > 0 {
		select {
		case id := <-r.got:
			if !left[id] {
				t.Fatalf("handled %q, want %v", id, want)
			}
			delete(left, id)
		case <-time.After(5 * time.Second):
			t.Fatalf("%v not handled", left)
		}
	}
}

// pending reports the stored events not yet handled.
func pending(t *testing.T, db bot.Inbox) int {
	t.Helper()
	evs, err := db.ClaimInbound(context.Background(), time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func TestRetriesAreHandledOnce(t *testing.T) {
	f := newFixture(t)
	r := newRecorder()
	in := f.open(t, r.handle)
	stop := run(in)
	accept(t, in, "robot:r1")
	waitFor(t, r, "robot:r1")
	accept(t, in, "robot:r1") // WeCom's retry: acknowledged, dropped by the Redis key
	accept(t, in, "robot:r2")
	waitFor(t, r, "robot:r2")
	stop()
	if got := r.seen(); len(got) != 2 {
		t.Errorf("handled %v, want r1 and r2 once each", got)
	}
}

func TestCrashBeforeStoringReplaysTheJournal(t *testing.T) {
	f := newFixture(t)
	// First process: journals and acknowledges, then "crashes" before its
	// mover runs (never Run). The retry comes in before the crash too.
	crashed := f.open(t, func(context.Context, bot.Message) error { return errors.New("unreachable") })
	accept(t, crashed, "robot:j1")
	accept(t, crashed, "robot:j1")
	accept(t, crashed, "robot:j2")
	crashed.Close()
	if evs, _ := f.db.ClaimInbound(context.Background(), time.Now(), time.Now(), 10); len(evs) != 0 {
		t.Fatalf("stored before the mover ran: %v", evs)
	}
	// Second process on the same journal stores and handles each once.
	r := newRecorder()
	in := f.open(t, r.handle)
	stop := run(in)
	waitFor(t, r, "robot:j1", "robot:j2")
	stop()
	if got := r.seen(); len(got) != 2 {
		t.Errorf("handled %v, want j1 and j2 once each", got)
	}
	if n := pending(t, f.db); n != 0 {
		t.Errorf("%d events still pending after handling", n)
	}
}

func TestCrashAfterStoringReplaysTheDatabase(t *testing.T) {
	f := newFixture(t)
	f.opt.Lease = 50 * time.Millisecond
	// First process stores the event, then dies while handling it.
	block := make(chan struct{})
	crashed := f.open(t, func(ctx context.Context, _ bot.Message) error {
		select {
		case <-block:
		case <-ctx.Done():
		}
		return errors.New("crashed")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { crashed.Run(ctx); close(done) }()
	accept(t, crashed, "robot:d1")
	deadline := time.Now().Add(5 * time.Second)
	for {
		ev, err := f.db.InboundEvent(context.Background(), "robot:d1")
		if err == nil && ev != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("event not stored")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	close(block)
	<-done
	crashed.Close()
	// Its shutdown handed the event back; the next process handles it.
	r := newRecorder()
	in := f.open(t, r.handle)
	stop := run(in)
	waitFor(t, r, "robot:d1")
	stop()
}

// failingStore is the database during an outage: nothing can be stored.
type failingStore struct {
	bot.Inbox
	mu       sync.Mutex
	down     bool
	attempts int // AddInbound calls while down
}

func (s *failingStore) AddInbound(ctx context.Context, leaseUntil time.Time, evs ...bot.InboundEvent) []error {
	s.mu.Lock()
	down := s.down
	if down {
		s.attempts++
	}
	s.mu.Unlock()
	if down {
		errs := make([]error, len(evs))
		for i := range errs {
			errs[i] = errors.New("database is down")
		}
		return errs
	}
	return s.Inbox.AddInbound(ctx, leaseUntil, evs...)
}

func TestDatabaseOutageLosesNothing(t *testing.T) {
	f := newFixture(t)
	store := &failingStore{Inbox: f.db, down: true}
	f.opt.Store = store
	r := newRecorder()
	in := f.open(t, r.handle)
	stop := run(in)
	// Callbacks are still acknowledged while the database is down, and
	// they do not each set off a retry: the mover backs off.
	for i := range 30 {
		accept(t, in, fmt.Sprintf("robot:o%d", i))
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case id := <-r.got:
		t.Fatalf("%s handled without the database", id)
	default:
	}
	store.mu.Lock()
	store.down = false
	attempts := store.attempts
	store.mu.Unlock()
	if attempts > 6 {
		t.Errorf("%d store attempts in 300 ms of outage, want a backoff", attempts)
	}
	got := map[string]bool{}
	for range 30 {
		select {
		case id := <-r.got:
			got[id] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("handled only %v after the database came back", got)
		}
	}
	accept(t, in, "robot:o1") // a late retry of an event stored after the outage
	time.Sleep(100 * time.Millisecond)
	stop()
	if len(got) != 30 || len(r.seen()) != 30 {
		t.Errorf("handled %d events %d times, want 30 once each", len(got), len(r.seen()))
	}
}

func TestJournalIsOneProcessAndSurvivesATornRecord(t *testing.T) {
	f := newFixture(t)
	first := f.open(t, func(context.Context, bot.Message) error { return nil })
	accept(t, first, "robot:t1")
	opt := f.opt
	opt.Handler = func(context.Context, bot.Message) error { return nil }
	if _, err := inbox.New(opt); err == nil {
		t.Fatal("a second process opened a journal in use")
	}
	if err := first.Ready(context.Background()); err != nil {
		t.Errorf("Ready = %v with a working journal", err)
	}
	first.Close()
	if err := first.Ready(context.Background()); !errors.Is(err, inbox.ErrClosed) {
		t.Errorf("Ready after Close = %v, want ErrClosed", err)
	}
	if fi, err := os.Stat(f.journal); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600: its records carry fault text", fi.Mode().Perm())
	}
	// A crash in the middle of a write leaves a partial record, which was
	// never acknowledged: it is cut off and the rest replays.
	fh, err := os.OpenFile(f.journal, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.Write([]byte{0, 0, 1, 0, 0xde, 0xad, '{', '"'})
	fh.Close()
	r := newRecorder()
	in := f.open(t, r.handle)
	stop := run(in)
	waitFor(t, r, "robot:t1")
	accept(t, in, "robot:t2")
	waitFor(t, r, "robot:t2")
	stop()
}

func TestAcceptGroupCommitsConcurrentEvents(t *testing.T) {
	f := newFixture(t)
	r := newRecorder()
	in := f.open(t, r.handle)
	stop := run(in)
	errs := make(chan error, 100)
	for i := range 100 {
		go func() {
			id := fmt.Sprintf("robot:c%d", i%50) // every event twice
			errs <- in.Accept(context.Background(), bot.InboundEvent{ID: id, Source: "robot", Payload: []byte(id)}, bot.Message{ID: id})
		}()
	}
	for range 100 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	for len(got) < 50 {
		select {
		case id := <-r.got:
			got[id]++
		case <-time.After(5 * time.Second):
			t.Fatalf("handled %d of 50", len(got))
		}
	}
	time.Sleep(100 * time.Millisecond)
	stop()
	if n := len(r.seen()); n != 50 {
		t.Errorf("handled %d times, want 50", n)
	}
}

// TestRedisDownStoresAndHandles: with Redis unreachable nothing is
// deduplicated there, so every event goes to the database and is handled;
// a retry is caught by the database's unique key, and no duplicate is
// counted for Redis.
func TestRedisDownStoresAndHandles(t *testing.T) {
	f := newFixture(t)
	f.opt.Dedupe = redistest.Down(t).Values("")
	reg := prometheus.NewRegistry()
	f.opt.Registerer = reg
	r := newRecorder()
	in := f.open(t, r.handle)
	stop := run(in)
	defer stop()
	accept(t, in, "robot:x1")
	accept(t, in, "robot:x2")
	waitFor(t, r, "robot:x1", "robot:x2")
	accept(t, in, "robot:x1") // WeCom's retry
	deadline := time.Now().Add(5 * time.Second)
	for duplicates(t, reg, "database") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the retry was not caught by the database")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := duplicates(t, reg, "redis"); n != 0 {
		t.Errorf(`weibao_inbox_duplicates_total{by="redis"} = %v, want 0 with Redis down`, n)
	}
	if got := r.seen(); len(got) != 2 {
		t.Errorf("handled %v, want x1 and x2 once each", got)
	}
}

// duplicates reads weibao_inbox_duplicates_total{by=by} from reg.
func duplicates(t *testing.T, reg *prometheus.Registry, by string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "weibao_inbox_duplicates_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "by" && l.GetValue() == by {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
