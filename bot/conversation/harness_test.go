package conversation

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/classify"
	"weibao/bot/ticketing"
	"weibao/catalog"
	"weibao/storage"
	"weibao/storage/redisstore"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// fixedSLA gives every class the same budgets: enough to see deadlines move.
type fixedSLA struct{}

func (fixedSLA) Deadlines(t *bot.Ticket, tl []bot.Event) bot.Deadlines {
	start := t.ReportedAt
	for _, e := range tl {
		if e.Kind == bot.EventReopened {
			start = e.At
		}
	}
	d := bot.Deadlines{Ack: t.ReportedAt.Add(10 * time.Minute), Resolve: start.Add(time.Hour)}
	if t.Urgent && !t.AcknowledgedAt.IsZero() {
		d.OnSite = t.AcknowledgedAt.Add(2 * time.Hour)
	}
	return d
}

type fixedRoster struct{ dir bot.Directory }

func (r fixedRoster) OnCall(ctx context.Context, at time.Time) (bot.OnCall, error) {
	var oc bot.OnCall
	for id, p := range map[string]**bot.Person{"eng1": &oc.Primary, "eng2": &oc.Backup, "lead1": &oc.Lead} {
		x, err := r.dir.Person(ctx, id)
		if err != nil {
			return oc, err
		}
		*p = x
	}
	return oc, nil
}

type watcher struct {
	mu  sync.Mutex
	nos []string
}

func (w *watcher) Changed(ctx context.Context, t *bot.Ticket) {
	w.mu.Lock()
	w.nos = append(w.nos, t.No)
	w.mu.Unlock()
}

// harness is the engine on real storage and Redis (miniredis, or the
// server at WEIBAO_TEST_REDIS_URL), with outbox rows read back as sent.
type harness struct {
	t        *testing.T
	db       *storage.DB
	sessions *redisstore.Sessions
	redis    *redisstore.Store
	prefix   string // of every key the harness has in Redis
	clock    *fakeClock
	svc      *ticketing.Service
	eng      *Engine
	watch    *watcher
	seq      int
	resolved []string
	surveys  map[string]Survey // the engine's, set before build
	hours    ticketing.Hours   // the working time, set before build; nil: always
}

const (
	medChat = "chat-med"
	edChat  = "chat-ed"
)

func demoDirectory() storage.DirectoryData {
	return storage.DirectoryData{
		Campuses: []bot.Campus{{Code: "dongjie", Name: "东街院区", Lat: 26.079, Lng: 119.3}},
		Wards: []bot.Ward{{Code: "ed-icu", Name: "急诊ICU", CampusCode: "dongjie", ChatID: edChat},
			{Code: "med-icu", Name: "内科ICU", CampusCode: "dongjie", ChatID: medChat},
			{Code: "picu", Name: "小儿ICU", CampusCode: "dongjie"}},
		People: []bot.Person{
			{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"},
			{UserID: "nurse2", Name: "李护士", Role: bot.RoleNurse, WardCode: "med-icu"},
			{UserID: "nurse3", Name: "陈护士", Role: bot.RoleNurse, WardCode: "ed-icu"},
			{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer},
			{UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer},
			{UserID: "lead1", Name: "赵经理", Role: bot.RoleLead},
		},
		Categories: []bot.Category{
			{Code: "login", Name: "无法登录", Type: bot.TypeSoftware, Difficulty: bot.DifficultySimple, Keywords: []string{"登录", "登不上"},
				SelfHelp: "清除浏览器缓存后重新登录。"},
			{Code: "slow", Name: "系统卡顿", Type: bot.TypeSoftware, Difficulty: bot.DifficultyRoutine, Keywords: []string{"卡", "慢"}},
			{Code: "device_data", Name: "监护设备数据未采集", Type: bot.TypeTerminal, Difficulty: bot.DifficultyOther, Keywords: []string{"监护仪"}},
			{Code: "printing", Name: "打印问题", Type: bot.TypeTerminal, Difficulty: bot.DifficultySimple, Keywords: []string{"打印"}},
			{Code: "other", Name: "其他", Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther},
		},
	}
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db := storagetest.Open(t)
	ctx := context.Background()
	if err := db.SyncDirectory(ctx, demoDirectory()); err != nil {
		t.Fatal(err)
	}
	st, _ := redistest.Open(t)
	prefix := "weibao:" + redistest.Prefix()
	h := &harness{t: t, db: db, sessions: st.Sessions(prefix), redis: st, prefix: prefix,
		clock: &fakeClock{t: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)}, watch: &watcher{}}
	db.Subscribe(func(ctx context.Context, c bot.Committed) {
		if c.Ticket == nil {
			return
		}
		h.watch.Changed(ctx, c.Ticket)
		if c.Has(bot.EventResolved) {
			h.resolved = append(h.resolved, c.Ticket.No)
		}
	})
	h.build(t)
	return h
}

// build (re)creates the service and engine over the same stores: a second
// call is a replica restart.
func (h *harness) build(t *testing.T) {
	cat := catalog.Default()
	var err error
	h.svc, err = ticketing.New(ticketing.Options{Store: h.db, Directory: h.db, SLA: fixedSLA{}, Roster: fixedRoster{h.db},
		Classifier: classify.Default(), Catalog: cat, Clock: h.clock, Location: storagetest.Shanghai, Hours: h.hours})
	if err != nil {
		t.Fatal(err)
	}
	h.eng, err = New(Options{Tickets: h.svc, Directory: h.db, Outbox: h.db, Sessions: h.sessions, Dialogues: h.db, Catalog: cat,
		Clock: h.clock, Location: storagetest.Shanghai, Roster: fixedRoster{h.db}, Surveys: h.surveys})
	if err != nil {
		t.Fatal(err)
	}
}

// send delivers one message and returns everything weibao queued because of it.
func (h *harness) send(m bot.Message) []bot.Outgoing {
	h.t.Helper()
	h.seq++
	if m.ID == "" {
		m.ID = fmt.Sprintf("m%d", h.seq)
	}
	if m.ChatID != "" {
		m.ChatType = bot.ChatGroup
	} else {
		m.ChatType = bot.ChatSingle
	}
	m.At, m.Channel = h.clock.Now(), "test"
	if err := h.eng.Handle(context.Background(), m); err != nil {
		h.t.Fatalf("Handle(%s %q): %v", m.From, m.Text, err)
	}
	return h.drain()
}

func (h *harness) say(from, chat, text string) []bot.Outgoing {
	h.t.Helper()
	return h.send(bot.Message{From: from, ChatID: chat, Text: text})
}

func (h *harness) drain() []bot.Outgoing {
	h.t.Helper()
	ctx := context.Background()
	// The outbox stamps rows with the wall clock, not the test's clock.
	far := time.Now().Add(time.Hour)
	if c := h.clock.Now().Add(time.Hour); c.After(far) {
		far = c
	}
	ds, err := h.db.ClaimDeliveries(ctx, far, far.Add(time.Minute), 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]bot.Outgoing, len(ds))
	for i, d := range ds {
		out[i] = d.Message
		if err := h.db.DeliverySent(ctx, d.ID, h.clock.Now(), "test"); err != nil {
			h.t.Fatal(err)
		}
	}
	return out
}

// render shows messages as one string for matching: recipients, mentions,
// text, card title and buttons.
func render(ms []bot.Outgoing) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "[to=%s%s @%s] %s", m.ToChat, strings.Join(m.ToUsers, ","), strings.Join(m.Mentions, ","), m.Text)
		if m.Card != nil {
			fmt.Fprintf(&b, "<card %s %s", m.Card.Title, m.Card.Body)
			for _, bt := range m.Card.Buttons {
				fmt.Fprintf(&b, " [%s|%s]", bt.Text, bt.Key)
			}
			b.WriteString(">")
		}
		if m.CardUpdate != nil {
			fmt.Fprintf(&b, "<update %s %s>", m.CardUpdate.TaskID, m.CardUpdate.Replaced)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func (h *harness) expect(got []bot.Outgoing, wants ...string) {
	h.t.Helper()
	s := render(got)
	for _, w := range wants {
		if !strings.Contains(s, w) {
			h.t.Errorf("replies lack %q; got:\n%s", w, s)
		}
	}
}

func (h *harness) ticket(no string) *bot.Ticket {
	h.t.Helper()
	t, err := h.db.Ticket(context.Background(), no)
	if err != nil {
		h.t.Fatal(err)
	}
	return t
}

func (h *harness) tickets() []*bot.Ticket {
	h.t.Helper()
	ts, err := h.db.Tickets(context.Background(), bot.TicketFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	return ts
}

func (h *harness) kinds(no string) []bot.EventKind {
	h.t.Helper()
	tl, err := h.db.Timeline(context.Background(), no)
	if err != nil {
		h.t.Fatal(err)
	}
	out := make([]bot.EventKind, len(tl))
	for i, e := range tl {
		out[i] = e.Kind
	}
	return out
}

// onlyTicket returns the single ticket there is.
func (h *harness) onlyTicket() *bot.Ticket {
	h.t.Helper()
	ts := h.tickets()
	if len(ts) != 1 {
		h.t.Fatalf("%d tickets, want 1", len(ts))
	}
	return ts[0]
}

// count is how many events of kind the ticket's timeline has.
func (h *harness) count(no string, kind bot.EventKind) int {
	h.t.Helper()
	n := 0
	for _, k := range h.kinds(no) {
		if k == kind {
			n++
		}
	}
	return n
}
