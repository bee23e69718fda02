package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"weibao/bot"
	"weibao/bot/outbox"
	"weibao/storage"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// TestRules: each kind of message has its rank, expiry and backoff cap.
func TestRules(t *testing.T) {
	card := &bot.Card{TaskID: "t"}
	tests := []struct {
		name string
		m    bot.Outgoing
		want bot.Rule
	}{
		{"P1 page card", bot.Outgoing{TicketNo: "F1", Priority: bot.P1, Card: card},
			bot.Rule{Rank: bot.RankUrgent, MaxBackoff: 30 * time.Second, Covered: true}},
		{"P2 page card", bot.Outgoing{TicketNo: "F1", Priority: bot.P2, Card: card},
			bot.Rule{Rank: bot.RankUrgent, MaxBackoff: 30 * time.Second, Covered: true}},
		{"P3 page card", bot.Outgoing{TicketNo: "F1", Priority: bot.P3, Card: card},
			bot.Rule{Rank: bot.RankRoutine, MaxBackoff: 2 * time.Minute, Covered: true}},
		{"breach notice of a P4", bot.Outgoing{TicketNo: "F1", Priority: bot.P4, Kind: bot.KindBreach, Text: "超时"},
			bot.Rule{Rank: bot.RankUrgent, MaxBackoff: 30 * time.Second, Covered: true}},
		{"P1 ticket notice", bot.Outgoing{TicketNo: "F1", Priority: bot.P1, ReplyTo: "robot:m1", Text: "已登记"},
			bot.Rule{Rank: bot.RankReply, MaxBackoff: 30 * time.Second}},
		{"P3 ticket notice", bot.Outgoing{TicketNo: "F1", Priority: bot.P3, Text: "已处理"},
			bot.Rule{Rank: bot.RankReply, MaxBackoff: 2 * time.Minute}},
		{"dialogue prompt", bot.Outgoing{ReplyTo: "robot:m1", Text: "哪个病区？"},
			bot.Rule{Rank: bot.RankReply, TTL: bot.ReplyTTL, MaxBackoff: 30 * time.Second}},
		{"busy notice", bot.Outgoing{ReplyTo: "robot:m1", Kind: bot.KindBusy, Text: "系统繁忙"},
			bot.Rule{Rank: bot.RankReply, TTL: bot.BusyTTL, MaxBackoff: 15 * time.Second}},
		{"digest", bot.Outgoing{ToUsers: []string{"lead"}, Text: "日报"},
			bot.Rule{Rank: bot.RankRoutine, MaxBackoff: 10 * time.Minute}},
		{"report file", bot.Outgoing{ToUsers: []string{"lead"}, File: &bot.FileRef{ID: 1}},
			bot.Rule{Rank: bot.RankRoutine, MaxBackoff: 10 * time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Rule(); got != tt.want {
				t.Errorf("Rule() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestWorkerExpiresByRule: a reply or busy notice that waited past its use
// is dropped and recorded (status, reason, metric, log, the support list); a page,
// a ticket notice or a report is tried however old it is; every retry
// waits at most its rule's cap.
func TestWorkerExpiresByRule(t *testing.T) {
	tests := []struct {
		name    string
		m       bot.Outgoing
		age     time.Duration
		expired bool
	}{
		{"fresh prompt", bot.Outgoing{ReplyTo: "robot:m1", ToUsers: []string{"nurse1"}, Text: "哪个病区？"}, 4 * time.Minute, false},
		{"stale prompt", bot.Outgoing{ReplyTo: "robot:m1", ToUsers: []string{"nurse1"}, Text: "哪个病区？"}, 6 * time.Minute, true},
		{"fresh busy notice", bot.Outgoing{ReplyTo: "robot:m1", Kind: bot.KindBusy, ToUsers: []string{"nurse1"}, Text: "系统繁忙"}, 30 * time.Second, false},
		{"stale busy notice", bot.Outgoing{ReplyTo: "robot:m1", Kind: bot.KindBusy, ToUsers: []string{"nurse1"}, Text: "系统繁忙"}, 2 * time.Minute, true},
		{"day-old P3 card", bot.Outgoing{TicketNo: "F1", Priority: bot.P3, ToUsers: []string{"eng1"}, Card: &bot.Card{TaskID: "t"}}, 24 * time.Hour, false},
		{"day-old ticket notice", bot.Outgoing{TicketNo: "F1", ToUsers: []string{"nurse1"}, Text: "已处理"}, 24 * time.Hour, false},
		{"week-old report", bot.Outgoing{ToUsers: []string{"lead"}, Text: "周报"}, 7 * 24 * time.Hour, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w, d, clk, db := setup(t, nil)
			tt.m.Key = "m"
			if err := db.Enqueue(ctx, tt.m); err != nil {
				t.Fatal(err)
			}
			clk.Add(tt.age)
			w.RunOnce(ctx)
			if sent := len(d.sent) == 1; sent == tt.expired {
				t.Fatalf("sent = %v after %s, want %v", sent, tt.age, !tt.expired)
			}
			if !tt.expired {
				return
			}
			given, err := db.(*storage.DB).QueuedMessages(ctx, []string{"failed", "expired"}, 0, 10)
			if err != nil || len(given) != 1 || given[0].Status != "expired" || !strings.Contains(given[0].LastError, "of no use") {
				t.Errorf("given up = %+v, %v; want the message expired with its reason", given, err)
			}
		})
	}

	t.Run("backoff capped by the rule", func(t *testing.T) {
		ctx := context.Background()
		busy := &wecom.APIError{API: "message/send", Code: -1}
		errs := make([]error, 12)
		for i := range errs {
			errs[i] = busy
		}
		w, d, clk, db := setup(t, map[string][]error{"page": errs})
		if err := db.Enqueue(ctx, bot.Outgoing{Key: "page", TicketNo: "F1", Priority: bot.P1, ToUsers: []string{"eng1"},
			Card: &bot.Card{TaskID: "t"}}); err != nil {
			t.Fatal(err)
		}
		// Twelve failures: after each the page is due again within its
		// 30 s cap (the breaker's 10 s probe included), never given up.
		for i := range 13 {
			if n, _ := w.RunOnce(ctx); n != 1 {
				t.Fatalf("attempt %d: claimed %d, want the page due within 30 s of its last failure", i+1, n)
			}
			clk.Add(30 * time.Second)
		}
		if len(d.sent) != 1 {
			t.Errorf("sent %d, want the page delivered once after 12 failures", len(d.sent))
		}
	})
}

// gate passes requests to the fake WeCom unless their path is refused, in
// which case the connection is refused as by a closed port; it counts the
// tries of each path.
type gate struct {
	mu      sync.Mutex
	refused map[string]bool
	tries   map[string]int
}

func (g *gate) RoundTrip(r *http.Request) (*http.Response, error) {
	g.mu.Lock()
	g.tries[r.URL.Path]++
	refused := g.refused[r.URL.Path]
	g.mu.Unlock()
	if refused {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (g *gate) set(path string, refused bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refused[path] = refused
}

func (g *gate) count(path string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tries[path]
}

// world is the outbox worker delivering through the real sender to the fake
// WeCom behind a gate, on the test database and Redis.
type world struct {
	w    *outbox.Worker
	db   *storage.DB
	clk  *clock
	fake *wecomtest.Server
	gate *gate
	reg  *prometheus.Registry
}

func newWorld(t *testing.T, webhooks map[string]string) *world {
	t.Helper()
	fake := wecomtest.New(t)
	clk := &clock{}
	fake.Now = clk.Now
	g := &gate{refused: map[string]bool{}, tries: map[string]int{}}
	st, _ := redistest.Open(t)
	run := redistest.Prefix()
	client, err := wecom.NewClient(wecom.ClientOptions{APIBase: fake.URL, CorpID: wecomtest.CorpID, Secret: wecomtest.Secret,
		AgentID: "1000002", Cache: wecom.NewTokenCache(st.Values(run + "token:")),
		HTTPClient: &http.Client{Timeout: time.Second, Transport: g}})
	if err != nil {
		t.Fatal(err)
	}
	sender, err := wecom.NewSender(wecom.SenderOptions{Client: client, Limits: st.RateLog(run + "rate:"),
		Claims: st.Values(run + "claims:"), Webhooks: webhooks, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	db := storagetest.Open(t)
	reg := prometheus.NewRegistry()
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: sender, Clock: clk, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(tlog{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// Ahead of the database's clock, which queues at the wall clock's time.
	clk.t = time.Now().UTC().Add(time.Second)
	return &world{w: w, db: db, clk: clk, fake: fake, gate: g, reg: reg}
}

// tlog writes the worker's log to the test's.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) { l.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

// drain claims until nothing is due; it returns how many it claimed.
func (wd *world) drain(t *testing.T) int {
	t.Helper()
	total := 0
	for range 1000 {
		n, err := wd.w.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatal("the outbox never ran dry")
	return 0
}

// delivered counts the cards and texts the fake accepted, by task id or text.
func (wd *world) delivered() map[string]int {
	got := map[string]int{}
	for _, r := range wd.fake.Requests() {
		switch b := r.Body; {
		case b["template_card"] != nil:
			got[b["template_card"].(map[string]any)["task_id"].(string)]++
		case b["text"] != nil:
			got[b["text"].(map[string]any)["content"].(string)]++
		case b["markdown"] != nil:
			got[b["markdown"].(map[string]any)["content"].(string)]++
		}
	}
	return got
}

func (wd *world) attempts(t *testing.T, tickets []string) (pending, attempts int) {
	t.Helper()
	for _, no := range tickets {
		es, err := wd.db.OutboxEntries(context.Background(), no)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			attempts += e.Attempts
			if e.Status == "pending" {
				pending++
			}
		}
	}
	return pending, attempts
}

// TestBreakerWhileGettokenRefused: WeCom's gettoken refuses connections for
// a minute while 300 page cards wait for 30 engineers. The app API's
// breaker opens: one probe every 10 s, the cards wait without attempts;
// when gettoken answers again, every card is delivered with the next probe
// (within a P2 page's 30 s backoff cap), none twice.
func TestBreakerWhileGettokenRefused(t *testing.T) {
	ctx := context.Background()
	wd := newWorld(t, nil)
	wd.gate.set("/cgi-bin/gettoken", true)
	var tickets []string
	var msgs []bot.Outgoing
	for i := range 300 {
		no := fmt.Sprintf("F%03d", i)
		tickets = append(tickets, no)
		msgs = append(msgs, bot.Outgoing{Key: no + "/page", TicketNo: no, Priority: bot.P2, ToUsers: []string{fmt.Sprintf("eng%d", i%30)},
			Card: &bot.Card{TaskID: "task-" + no, Title: "工单 " + no, Buttons: []bot.Button{{Key: "ack:" + no, Text: "接单"}}}})
	}
	if err := wd.db.Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		wd.drain(t)
		wd.clk.Add(2 * time.Second)
	}
	tries := wd.gate.count("/cgi-bin/gettoken")
	pending, attempts := wd.attempts(t, tickets)
	t.Logf("1 min refused: %d gettoken tries, %d attempts on %d pending cards", tries, attempts, pending)
	// The first claim's parallel groups (8) may each try once before the
	// breaker opens; then one probe per 10 s.
	if pending != 300 || attempts > 8+7 || tries > 8+7 {
		t.Errorf("while refused: %d pending, %d attempts, %d gettoken tries; want 300 pending, ≤ 15 attempts and tries",
			pending, attempts, tries)
	}
	if open := gauge(t, wd.reg, "weibao_outbox_breakers_open"); open != 1 {
		t.Errorf("breakers open = %v, want 1 (the app API)", open)
	}

	wd.gate.set("/cgi-bin/gettoken", false)
	for s := 0; ; s++ {
		wd.drain(t)
		if pending, _ := wd.attempts(t, tickets); pending == 0 {
			if s > 31 {
				t.Errorf("drained %d s after recovery, want within a page's 30 s backoff cap", s)
			}
			break
		}
		if s > 60 {
			t.Fatalf("%d cards still pending a minute after recovery", pending)
		}
		wd.clk.Add(time.Second)
	}
	got := wd.delivered()
	for _, no := range tickets {
		if got["task-"+no] != 1 {
			t.Errorf("card %s delivered %d times, want 1", no, got["task-"+no])
		}
	}
	if open := gauge(t, wd.reg, "weibao_outbox_breakers_open"); open != 0 {
		t.Errorf("breakers open = %v after recovery, want 0", open)
	}
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRefusedResponseURL: a robot reply whose response_url refuses
// connections is tried through it at most twice (once its breaker is open,
// not again), then goes through the group's webhook at once; in a group
// without a webhook key it is recorded as given up.
func TestRefusedResponseURL(t *testing.T) {
	ctx := context.Background()
	wd := newWorld(t, map[string]string{"wrd-a": wecomtest.WebhookKey})
	wd.gate.set("/cgi-bin/aibot/response", true)
	reply := func(chat, text string) bot.Outgoing {
		route, _ := json.Marshal(wecom.Reply{Source: wecom.SourceRobot, ResponseURL: wd.fake.ResponseURL("code-" + chat),
			ChatID: chat, From: "nurse1"})
		return bot.Outgoing{Key: "reply/" + chat, ReplyTo: "robot:" + chat, Route: string(route), ToChat: chat,
			Mentions: []string{"nurse1"}, Text: text}
	}
	if err := wd.db.Enqueue(ctx, reply("wrd-a", "请问是哪个病区？"), reply("wrd-b", "请描述故障")); err != nil {
		t.Fatal(err)
	}
	for range 25 {
		wd.drain(t)
		wd.clk.Add(time.Second)
	}
	if n := wd.gate.count("/cgi-bin/aibot/response"); n < 1 || n > 4 {
		t.Errorf("response_url tried %d times, want 1 to 4", n)
	}
	got := wd.delivered()
	if got["请问是哪个病区？ <@nurse1>"] != 1 && got["请问是哪个病区？"] != 1 {
		t.Errorf("the reply in wrd-a did not go through its webhook once: %v", got)
	}
	given, err := wd.db.QueuedMessages(ctx, []string{"failed", "expired"}, 0, 10)
	if err != nil || len(given) != 1 || given[0].Key != "reply/wrd-b" || given[0].Status != "failed" ||
		!strings.Contains(given[0].LastError, "no robot webhook key") {
		t.Errorf("given up = %+v, %v; want the wrd-b reply failed for want of a webhook key", given, err)
	}
}

// TestP1BeforeP3 (#18 item 5): 270 P3 cards for one engineer have used
// their share of his 30 messages a minute; a P1's card and breach notice
// queued after them go within a second, not after the P3 backlog.
func TestP1BeforeP3(t *testing.T) {
	ctx := context.Background()
	wd := newWorld(t, nil)
	card := func(no string, p bot.Priority) bot.Outgoing {
		return bot.Outgoing{Key: no + "/page", TicketNo: no, Priority: p, ToUsers: []string{"eng1"},
			Card: &bot.Card{TaskID: "task-" + no, Title: "工单 " + no, Buttons: []bot.Button{{Key: "ack:" + no, Text: "接单"}}}}
	}
	var p3 []bot.Outgoing
	for i := range 270 {
		p3 = append(p3, card(fmt.Sprintf("F3-%03d", i), bot.P3))
	}
	if err := wd.db.Enqueue(ctx, p3...); err != nil {
		t.Fatal(err)
	}
	wd.drain(t)
	if n := len(wd.fake.Requests()); n != 20 {
		t.Fatalf("%d P3 cards sent in the first minute, want their share of 20", n)
	}
	wd.clk.Add(5 * time.Second)
	queued := wd.clk.Now()
	if err := wd.db.Enqueue(ctx, card("F1-001", bot.P1), bot.Outgoing{Key: "F1-001/breach", TicketNo: "F1-001",
		Priority: bot.P1, Kind: bot.KindBreach, ToUsers: []string{"eng1"}, Text: "F1-001 接单超时"}); err != nil {
		t.Fatal(err)
	}
	for wd.delivered()["F1-001 接单超时"] == 0 {
		if wd.clk.Now().Sub(queued) > 5*time.Second {
			t.Fatalf("the P1's card and breach notice waited over 5 s behind P3 cards: %v", wd.delivered())
		}
		wd.drain(t)
		wd.clk.Add(time.Second)
	}
	if got := wd.delivered(); got["task-F1-001"] != 1 || len(wd.fake.Requests()) != 22 {
		t.Errorf("after the P1: %d messages, P1 card %d times; want 22 and once", len(wd.fake.Requests()), got["task-F1-001"])
	}
}

// appRouter sends every message to one destination, as the app API is.
type appRouter struct{ *deliverer }

func (appRouter) Destination(bot.Outgoing) string { return "app" }

// TestOneBadMessageDoesNotTripTheBreaker: a message that keeps failing
// backs off alone; the destination's other messages, to other people, go
// out at once meanwhile.
func TestOneBadMessageDoesNotTripTheBreaker(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	busy := &wecom.APIError{API: "message/send", Code: -1}
	d := &deliverer{errs: map[string][]error{"bad": {busy, busy, busy, busy, busy, busy}}}
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: appRouter{d}, Clock: nil, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Enqueue(ctx, bot.Outgoing{Key: "bad", ToUsers: []string{"u0"}, Text: "x"}); err != nil {
		t.Fatal(err)
	}
	w.RunOnce(ctx)
	for i := range 5 {
		key := fmt.Sprintf("good%d", i)
		if err := db.Enqueue(ctx, bot.Outgoing{Key: key, ToUsers: []string{fmt.Sprintf("u%d", i+1)}, Text: key}); err != nil {
			t.Fatal(err)
		}
		w.RunOnce(ctx)
		if n := len(d.sent); n != i+1 {
			t.Fatalf("after %s: %d sent, want every good message at once beside the failing one", key, n)
		}
	}
}

// TestProbeThatProvesNothing: a probe that meets a rate limit or a message
// that can never be delivered leaves the breaker open, and the next probe
// still goes.
func TestProbeThatProvesNothing(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	clk := &clock{t: time.Now().UTC().Add(time.Second)}
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	d := &deliverer{errs: map[string][]error{
		"a": {refused}, "b": {refused},
		"c": {&wecom.RateLimitError{Dest: "app:u3", After: time.Second}},
		"d": {&wecom.RouteError{Reason: "no recipient"}},
	}}
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: appRouter{d}, Clock: clk, Parallel: 1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if err := db.Enqueue(ctx, bot.Outgoing{Key: k, ToUsers: []string{"u-" + k}, Text: k}); err != nil {
			t.Fatal(err)
		}
	}
	w.RunOnce(ctx) // a and b refused: the app's breaker opens
	for _, k := range []string{"c", "d"} {
		// Urgent, so claimed first: each is the probe.
		if err := db.Enqueue(ctx, bot.Outgoing{Key: k, Kind: bot.KindBreach, ToUsers: []string{"u-" + k}, Text: k}); err != nil {
			t.Fatal(err)
		}
		clk.Add(10 * time.Second)
		w.RunOnce(ctx) // the probe: rate limited, then unroutable
	}
	clk.Add(10 * time.Second)
	w.RunOnce(ctx) // the next probe goes and gets through
	if len(d.sent) == 0 {
		t.Fatal("no probe went after a rate-limited and an unroutable one: the breaker is stuck")
	}
}

// TestStoreErrorsLeaveTheBreakerClosed: when weibao's own Redis fails under
// the rate limiter, messages are retried but the destination is not taken
// for down (its breaker would hold a P1's card for a probe interval).
func TestStoreErrorsLeaveTheBreakerClosed(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	clk := &clock{t: time.Now().UTC().Add(time.Second)}
	redisDown := &wecom.StoreError{Err: errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")}
	d := &deliverer{errs: map[string][]error{"a": {redisDown}, "b": {redisDown}, "c": {redisDown}}}
	reg := prometheus.NewRegistry()
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: appRouter{d}, Clock: clk, Registerer: reg,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := db.Enqueue(ctx, bot.Outgoing{Key: k, ToUsers: []string{"u-" + k}, Text: k}); err != nil {
			t.Fatal(err)
		}
		w.RunOnce(ctx)
		clk.Add(2 * time.Second)
	}
	if open := gauge(t, reg, "weibao_outbox_breakers_open"); open != 0 {
		t.Errorf("breakers open = %v after store errors, want 0", open)
	}
	for range 5 {
		w.RunOnce(ctx)
		clk.Add(2 * time.Second)
	}
	if len(d.sent) != 3 {
		t.Errorf("sent %d, want all 3 once the store answers", len(d.sent))
	}
}
