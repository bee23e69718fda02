package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"weibao/bot"
	"weibao/bot/outbox"
	"weibao/storage"
	"weibao/storage/storagetest"
	"weibao/wecom"
)

var ignoreCreated = cmpopts.IgnoreFields(storage.OutboxEntry{}, "CreatedAt")

// clock is a settable bot.Clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// deliverer fails each message key with its queued errors, then succeeds,
// recording what it sent.
type deliverer struct {
	mu   sync.Mutex
	errs map[string][]error
	sent []bot.Outgoing
}

func (d *deliverer) Deliver(_ context.Context, m bot.Outgoing) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q := d.errs[m.Key]; len(q) > 0 {
		d.errs[m.Key] = q[1:]
		return "", q[0]
	}
	d.sent = append(d.sent, m)
	return "ref", nil
}

func setup(t *testing.T, errs map[string][]error) (*outbox.Worker, *deliverer, *clock, bot.Outbox) {
	t.Helper()
	db := storagetest.Open(t)
	clk := &clock{t: time.Now().UTC().Add(time.Second)}
	d := &deliverer{errs: errs}
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: d, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return w, d, clk, db
}

func TestWorkerRetriesInOrderAndNeverResends(t *testing.T) {
	ctx := context.Background()
	w, d, clk, db := setup(t, map[string][]error{"a": {&wecom.APIError{API: "message/send", Code: -1}}}) // WeCom busy once
	a := bot.Outgoing{Key: "a", ToUsers: []string{"u1"}, Card: &bot.Card{TaskID: "t1", Title: "x"}}
	b := bot.Outgoing{Key: "b", ToUsers: []string{"u1"}, Text: "second"}
	if err := db.Enqueue(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if n, err := w.RunOnce(ctx); n != 2 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if len(d.sent) != 0 {
		t.Fatalf("sent %d after a failure of the first; the second must wait behind it", len(d.sent))
	}
	if n, _ := w.RunOnce(ctx); n != 0 {
		t.Fatalf("claimed %d before the backoff ended", n)
	}
	clk.Add(time.Minute)
	w.RunOnce(ctx)
	clk.Add(time.Hour)
	w.RunOnce(ctx)
	if diff := cmp.Diff([]bot.Outgoing{a, b}, d.sent); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestWorkerRateLimitWaitsAndMerges(t *testing.T) {
	ctx := context.Background()
	w, d, clk, db := setup(t, map[string][]error{"1": {&wecom.RateLimitError{Dest: "webhook:k", After: 30 * time.Second}}})
	db.Enqueue(ctx,
		bot.Outgoing{Key: "1", ToChat: "wrdA", Text: "工单 F1 已接单"},
		bot.Outgoing{Key: "2", ToChat: "wrdA", Text: "工单 F2 已接单"},
		bot.Outgoing{Key: "3", ToChat: "wrdA", Text: "工单 F3 已解决"})
	w.RunOnce(ctx)
	if len(d.sent) != 0 {
		t.Fatal("sent while rate limited")
	}
	clk.Add(10 * time.Second)
	if n, _ := w.RunOnce(ctx); n != 0 {
		t.Fatal("claimed before the rate limit window ended")
	}
	clk.Add(25 * time.Second)
	w.RunOnce(ctx)
	want := []bot.Outgoing{{Key: "1", ToChat: "wrdA", Text: "工单 F1 已接单\n\n工单 F2 已接单\n\n工单 F3 已解决"}}
	if diff := cmp.Diff(want, d.sent); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestWorkerGivesUpOnPermanentErrors(t *testing.T) {
	ctx := context.Background()
	w, d, clk, db := setup(t, map[string][]error{"x": {&wecom.APIError{API: "message/send", Code: 81013}}, "y": {errors.New("network down")}})
	db.Enqueue(ctx, bot.Outgoing{Key: "x", ToUsers: []string{"gone"}, Text: "x"}, bot.Outgoing{Key: "y", ToUsers: []string{"u2"}, Text: "y"})
	w.RunOnce(ctx)
	clk.Add(time.Hour)
	w.RunOnce(ctx)
	if len(d.sent) != 1 || d.sent[0].Key != "y" {
		t.Errorf("sent = %+v, want only y (x given up, y retried after the network error)", d.sent)
	}
	clk.Add(time.Hour)
	if n, _ := w.RunOnce(ctx); n != 0 {
		t.Errorf("claimed %d more; a failed message must not come back", n)
	}
}

// TestWorkerUnroutableFailsLoudly: a message with no route at all (a ward
// group without a robot webhook key) is not retried, and is given up where
// operators look: the row is failed with the reason, an error is logged,
// and it is counted apart from ordinary failures.
func TestWorkerUnroutableFailsLoudly(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	clk := &clock{t: time.Now().UTC().Add(time.Second)}
	route := &wecom.RouteError{Reason: "no robot webhook key for group chat wrdA"}
	d := &deliverer{errs: map[string][]error{"F20261126-0001/resolve/3/group": {route}}}
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: d, Clock: clk, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tk, _, err := bot.NewTicket(bot.Ticket{ReporterID: "nurse1", WardCode: "med-icu", Category: "login", Description: "登不上",
		Classification: bot.Classification{Scope: bot.ScopePersonal, Type: bot.TypeSoftware, Severity: bot.SeverityDaily,
			Difficulty: bot.DifficultySimple, Priority: bot.P3, SLAClass: "p3"}}, "nurse1", t0)
	if err != nil {
		t.Fatal(err)
	}
	// Queued with a ticket, like every group notice.
	if err := db.CreateTicket(ctx, tk, bot.Effects{Messages: []bot.Outgoing{
		{Key: "F20261126-0001/resolve/3/group", ToChat: "wrdA", Mentions: []string{"nurse1"}, Text: "已处理完毕"},
		{Key: "F20261126-0001/confirm_eng/3/eng1", ToUsers: []string{"eng1"}, Text: "已确认"}}}); err != nil {
		t.Fatal(err)
	}
	w.RunOnce(ctx)
	clk.Add(time.Hour)
	if n, _ := w.RunOnce(ctx); n != 0 {
		t.Errorf("claimed %d again; an unroutable message must not be retried", n)
	}
	got, err := db.OutboxEntries(ctx, tk.No)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.OutboxEntry{
		{Key: "F20261126-0001/resolve/3/group", TicketNo: tk.No, Kind: "notice", Status: "failed", Attempts: 1, LastError: route.Error()},
		{Key: "F20261126-0001/confirm_eng/3/eng1", TicketNo: tk.No, Kind: "notice", Status: "sent", Attempts: 1, Ref: "ref"},
	}
	if diff := cmp.Diff(want, got, ignoreCreated); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "no route") ||
		!strings.Contains(logs.String(), "dest=chat:wrdA") || strings.Contains(logs.String(), "已处理完毕") {
		t.Errorf("log does not name the unroutable message (or shows its body):\n%s", logs.String())
	}
	if diff := cmp.Diff(map[string]float64{"unroutable": 1, "sent": 1}, deliveries(t, reg)); diff != "" {
		t.Errorf("deliveries_total (-want +got):\n%s", diff)
	}
}

// deadlines records each delivery and how long its context had left.
type deadlines struct {
	mu   sync.Mutex
	sent []bot.Outgoing
	left []time.Duration
}

func (d *deadlines) Deliver(ctx context.Context, m bot.Outgoing) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dl, _ := ctx.Deadline()
	d.sent = append(d.sent, m)
	d.left = append(d.left, time.Until(dl))
	return "", nil
}

// TestWorkerFileMessagesStandAlone: a file message is never merged into the
// text before it (the merged message would lose the file) and gets the file
// timeout, long enough for an upload.
func TestWorkerFileMessagesStandAlone(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	d := &deadlines{}
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: d, Clock: &clock{t: time.Now().UTC().Add(time.Second)},
		Logger: slog.New(slog.DiscardHandler), Timeout: time.Second, FileTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	file := &bot.FileRef{ID: 7, Name: "运维月报-2026-11.xlsx", Size: 9000}
	msgs := []bot.Outgoing{
		{Key: "m/lead", ToUsers: []string{"lead"}, Text: "运维月报见附件"},
		{Key: "m/file/lead", ToUsers: []string{"lead"}, File: file},
		{Key: "d/lead", ToUsers: []string{"lead"}, Format: bot.FormatMarkdown, Text: "## 日报"},
	}
	if err := db.Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	if n, err := w.RunOnce(ctx); n != 3 || err != nil {
		t.Fatalf("RunOnce = %d, %v", n, err)
	}
	if diff := cmp.Diff(msgs, d.sent); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	for i, left := range d.left {
		long := left > time.Minute
		if want := msgs[i].File != nil; long != want {
			t.Errorf("%s: %s left for delivery, want the file timeout %v", msgs[i].Key, left, want)
		}
	}
}

// slow is a deliverer whose every delivery takes d of the test clock.
type slow struct {
	*deliverer
	clk *clock
	d   time.Duration
}

func (s slow) Deliver(ctx context.Context, m bot.Outgoing) (string, error) {
	s.clk.Add(s.d)
	return s.deliverer.Deliver(ctx, m)
}

// TestWorkerStopsBeforeItsClaimEnds: deliveries slow enough to outlive the
// claim stop while a delivery still fits in it; the rest is claimed again
// when the lease ends and nothing is sent twice.
func TestWorkerStopsBeforeItsClaimEnds(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	clk := &clock{t: time.Now().UTC().Add(time.Second)}
	d := &deliverer{}
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: slow{d, clk, 25 * time.Second}, Clock: clk,
		Lease: time.Minute, Timeout: 15 * time.Second, MergeLimit: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := db.Enqueue(ctx, bot.Outgoing{Key: k, ToUsers: []string{"eng1"}, TicketNo: "F1", Text: k}); err != nil {
			t.Fatal(err)
		}
	}
	w.RunOnce(ctx) // a at 0 s, b at 25 s; c would start at 50 s with 10 s of the claim left
	if len(d.sent) != 2 {
		t.Fatalf("first claim sent %d, want 2 (the third left for the next claim)", len(d.sent))
	}
	clk.Add(10 * time.Second) // the lease has ended
	w.RunOnce(ctx)
	w.RunOnce(ctx)
	var keys []string
	for _, m := range d.sent {
		keys = append(keys, m.Key)
	}
	if strings.Join(keys, ",") != "a,b,c" {
		t.Errorf("sent %v, want a, b, c once each", keys)
	}
}
