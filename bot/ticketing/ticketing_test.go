package ticketing_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"weibao/bot"
	"weibao/bot/classify"
	"weibao/bot/ticketing"
	"weibao/catalog"
	"weibao/storage"
	"weibao/storage/storagetest"
)

var t0 = time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// fakeSLA makes deadlines a visible function of the timeline it is given:
// the resolve deadline moves one minute per event, so a test can tell that
// the deadlines were recomputed with the change's own events.
type fakeSLA struct{}

func (fakeSLA) Deadlines(t *bot.Ticket, tl []bot.Event) bot.Deadlines {
	return bot.Deadlines{Ack: t.ReportedAt.Add(10 * time.Minute), Resolve: t.ReportedAt.Add(time.Duration(len(tl)) * time.Minute)}
}

type roster struct {
	dir     bot.Directory
	primary string // "" = nobody on call
}

// OnCall has primary, eng2 as backup and lead1 as lead; nobody at all when
// primary is "".
func (r roster) OnCall(ctx context.Context, _ time.Time) (bot.OnCall, error) {
	var oc bot.OnCall
	if r.primary == "" {
		return oc, nil
	}
	var err error
	for id, p := range map[string]**bot.Person{r.primary: &oc.Primary, "eng2": &oc.Backup, "lead1": &oc.Lead} {
		if *p, err = r.dir.Person(ctx, id); err != nil {
			return oc, err
		}
	}
	return oc, nil
}

// watcher records what it hears and whether the change was already
// committed when it heard it (the stored version equals the ticket's).
type watcher struct {
	store *storage.DB
	mu    sync.Mutex
	calls []string // "<no> v<version> committed=<bool>"
}

func (w *watcher) Committed(ctx context.Context, c bot.Committed) {
	t := c.Ticket
	if t == nil {
		return
	}
	// With SQLite's single connection, a call inside the transaction
	// would block here; the timeout turns that into a visible failure.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	stored, err := w.store.Ticket(ctx, t.No)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, fmt.Sprintf("%s v%d committed=%v", t.No, t.Version, err == nil && stored.Version == t.Version))
}

func (w *watcher) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.calls
	w.calls = nil
	return c
}

// fakeClassifier rates everything P3 except patient safety (P1), so a test
// can see an answer that would lower a fast-path priority.
type fakeClassifier struct{ classify.Rules }

func (f fakeClassifier) Classify(c bot.Classification) (bot.Classification, string) {
	c.SLAClass, c.Priority, c.Urgent = "other", bot.P3, false
	if c.Severity == bot.SeverityPatientSafety {
		c.Priority, c.Urgent = bot.P1, true
	}
	return c, "test"
}

type env struct {
	db    *storage.DB
	svc   *ticketing.Service
	watch *watcher
	clock *clock
	n     int
}

func setup(t *testing.T, primary string) *env {
	t.Helper()
	db := storagetest.Open(t)
	ctx := context.Background()
	err := db.SyncDirectory(ctx, storage.DirectoryData{
		Campuses: []bot.Campus{{Code: "dongjie", Name: "东街院区", Lat: 26.079, Lng: 119.3}},
		Wards: []bot.Ward{{Code: "med-icu", Name: "内科ICU", CampusCode: "dongjie", ChatID: "chat-med"},
			{Code: "ed-icu", Name: "急诊ICU", CampusCode: "dongjie", ChatID: "chat-ed"}},
		People: []bot.Person{
			{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"},
			{UserID: "nurse2", Name: "李护士", Role: bot.RoleNurse, WardCode: "med-icu"},
			{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer},
			{UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer},
			{UserID: "lead1", Name: "赵经理", Role: bot.RoleLead},
		},
		Categories: []bot.Category{
			{Code: "login", Name: "无法登录", Type: bot.TypeSoftware, Difficulty: bot.DifficultySimple, SelfHelp: "清除浏览器缓存后重新登录。"},
			{Code: "device_data", Name: "监护设备数据未采集", Type: bot.TypeTerminal, Difficulty: bot.DifficultyOther},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, watch: &watcher{store: db}, clock: &clock{t: t0}}
	e.svc, err = ticketing.New(ticketing.Options{Store: db, Directory: db, SLA: fakeSLA{}, Roster: roster{db, primary},
		Classifier: fakeClassifier{classify.Default()}, Catalog: catalog.Default(), Clock: e.clock,
		Location: storagetest.Shanghai})
	if err != nil {
		t.Fatal(err)
	}
	db.Subscribe(e.watch.Committed)
	return e
}

// report files a ticket from nurse1 in the medical ICU's group.
func (e *env) report(t *testing.T, sev bot.Severity) *bot.Ticket {
	t.Helper()
	e.n++
	tk, err := e.svc.Intake(context.Background(), ticketing.IntakeInput{Reporter: "nurse1", ChatID: "chat-med",
		ReplyTo: &bot.Message{ID: fmt.Sprintf("m%d", e.n)}, WardCode: "med-icu", Category: "login", Description: "护士站电脑登不上",
		Class: bot.Classification{Scope: bot.ScopePersonal, Type: bot.TypeSoftware, Severity: sev, Difficulty: bot.DifficultySimple}})
	if err != nil {
		t.Fatal(err)
	}
	e.watch.take()
	return tk
}

// outbox returns the keys of what the ticket queued, in order.
func (e *env) outbox(t *testing.T, no string) []string {
	t.Helper()
	es, err := e.db.OutboxEntries(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, len(es))
	for i, x := range es {
		keys[i] = x.Key
	}
	return keys
}

func (e *env) kinds(t *testing.T, no string) []bot.EventKind {
	t.Helper()
	tl, err := e.db.Timeline(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]bot.EventKind, len(tl))
	for i, x := range tl {
		out[i] = x.Kind
	}
	return out
}

func TestReportPagesInTheCreatingTransaction(t *testing.T) {
	tests := []struct {
		name      string
		primary   string
		wantKinds []bot.EventKind
		wantKeys  []string // with "NO" for the ticket number
		wantReply string
	}{
		{"on call engineer paged", "eng1", []bot.EventKind{bot.EventReported, bot.EventPaged},
			[]string{"NO/reported/1/nurse1", "NO/page/1/eng1", "NO/page_group/1/eng1"}, "值班工程师 张工 已收到通知"},
		{"nobody on call", "", []bot.EventKind{bot.EventReported},
			[]string{"NO/reported/1/nurse1"}, "当前值班表无人"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, tt.primary)
			tk := e.report(t, bot.SeverityDaily)
			if diff := cmp.Diff(tt.wantKinds, e.kinds(t, tk.No)); diff != "" {
				t.Errorf("timeline (-want +got):\n%s", diff)
			}
			var want []string
			for _, k := range tt.wantKeys {
				want = append(want, strings.ReplaceAll(k, "NO", tk.No))
			}
			if diff := cmp.Diff(want, e.outbox(t, tk.No)); diff != "" {
				t.Errorf("outbox (-want +got):\n%s", diff)
			}
			ds, err := e.db.ClaimDeliveries(context.Background(), time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) == 0 || ds[0].Message.ReplyTo != "m1" || !strings.Contains(ds[0].Message.Text, tt.wantReply) ||
				!strings.Contains(ds[0].Message.Text, "清除浏览器缓存") {
				t.Errorf("reporter's answer %+v", ds)
			}
			for _, d := range ds {
				if d.Message.Card != nil && (d.Message.Card.TaskID != "weibao-"+tk.No+"-1-page-eng1" || len(d.Message.Card.Buttons) != 3) {
					t.Errorf("paging card %+v", d.Message.Card)
				}
			}
			if tk.Priority != bot.P3 || tk.Due.Resolve != tk.ReportedAt.Add(time.Duration(len(tt.wantKinds))*time.Minute) {
				t.Errorf("ticket %s due %v: deadlines not computed from the creating events", tk.Priority, tk.Due)
			}
		})
	}
}

func TestReportRefusesAnIncompleteReport(t *testing.T) {
	e := setup(t, "eng1")
	_, err := e.svc.Intake(context.Background(), ticketing.IntakeInput{Reporter: "nurse1", WardCode: "med-icu", Description: "x",
		Class: bot.Classification{Scope: bot.ScopePersonal, Type: bot.TypeSoftware, Severity: bot.SeverityDaily, Difficulty: bot.DifficultySimple}})
	if !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("report without category: %v, want ErrInvalid", err)
	}
	if ts, _ := e.db.Tickets(context.Background(), bot.TicketFilter{}); len(ts) != 0 || len(e.watch.take()) != 0 {
		t.Errorf("a refused report left %d tickets or told the watcher", len(ts))
	}
}

// action is one engineer's use case, run on a ticket prepared for it.
type action struct {
	name string
	prep []func(e *env, no string) error // run as eng1 before
	run  func(e *env, actor, no string) (*bot.Ticket, error)
	want bot.Status
	kind bot.EventKind // the last event
	// keys are the outbox keys the action queues, with NO, V (the version
	// changed) and ACTOR; keysBy overrides them for one actor. An action
	// typed instead of clicked redraws the paging card (…/redraw/V); a click
	// redraws it in its answer (…/card/V/ACTOR).
	keys   []string
	keysBy map[string][]string
}

var (
	ack = func(e *env, no string) error {
		_, err := e.svc.Acknowledge(context.Background(), "eng1", no)
		return err
	}
	res = func(e *env, no string) error {
		_, err := e.svc.Resolve(context.Background(), "eng1", no, "缓存损坏", "清除缓存")
		return err
	}
)

func engineerActions() []action {
	ctx := context.Background()
	return []action{
		{name: "acknowledge", run: func(e *env, a, no string) (*bot.Ticket, error) { return e.svc.Acknowledge(ctx, a, no) },
			want: bot.StatusAcknowledged, kind: bot.EventAcknowledged, keys: []string{"NO/ack/V/group", "NO/page/1/eng1/redraw/V"}},
		{name: "press ack", run: func(e *env, a, no string) (*bot.Ticket, error) {
			return e.svc.Press(ctx, a, bot.Message{ID: "click1", From: a, Button: &bot.ButtonClick{Key: "ack:" + no, TaskID: "weibao-" + no + "-1-page-eng1"}})
		}, want: bot.StatusAcknowledged, kind: bot.EventAcknowledged, keys: []string{"NO/ack/V/group", "NO/card/V/ACTOR"}},
		{name: "arrive", run: func(e *env, a, no string) (*bot.Ticket, error) {
			return e.svc.Arrive(ctx, a, no, &bot.Location{Lat: 26.08, Lng: 119.3})
		}, want: bot.StatusOnSite, kind: bot.EventArrived, keys: []string{"NO/arrive/V/group", "NO/page/1/eng1/redraw/V"}},
		{name: "remote failed", run: func(e *env, a, no string) (*bot.Ticket, error) { return e.svc.RemoteFailed(ctx, a, no) },
			want: bot.StatusInProgress, kind: bot.EventRemoteFailed, keys: []string{"NO/onsite/V/group"}},
		{name: "workaround", prep: []func(*env, string) error{ack}, run: func(e *env, a, no string) (*bot.Ticket, error) {
			return e.svc.Workaround(ctx, a, no, "先用纸质记录")
		}, want: bot.StatusAcknowledged, kind: bot.EventWorkaround, keys: []string{"NO/workaround/V/group"}},
		{name: "resolve", run: func(e *env, a, no string) (*bot.Ticket, error) {
			return e.svc.Resolve(ctx, a, no, "缓存损坏", "清除缓存")
		},
			want: bot.StatusResolved, kind: bot.EventResolved, keys: []string{"NO/resolve/V/group", "NO/page/1/eng1/redraw/V"}},
		{name: "transfer", run: func(e *env, a, no string) (*bot.Ticket, error) {
			return e.svc.Transfer(ctx, a, no, "@刘工", "更熟悉")
		},
			want: bot.StatusNew, kind: bot.EventAssigned, keys: []string{"NO/transfer/V/eng2", "NO/transfer_group/V/eng2"}},
		{name: "escalate", run: func(e *env, a, no string) (*bot.Ticket, error) { return e.svc.Escalate(ctx, a, no, "需要协调") },
			want: bot.StatusNew, kind: bot.EventEscalated,
			keys: []string{"NO/escalate/V/lead1", "NO/escalate_note/V/lead1", "NO/escalate/V/eng2", "NO/escalate_note/V/eng2"},
			// The lead escalating is not paged about it herself.
			keysBy: map[string][]string{"lead1": {"NO/escalate/V/eng2", "NO/escalate_note/V/eng2"}}},
		{name: "reclassify", run: func(e *env, a, no string) (*bot.Ticket, error) {
			return e.svc.Reclassify(ctx, a, no, bot.P1, "影响抢救")
		},
			want: bot.StatusNew, kind: bot.EventReclassified, keys: []string{"NO/reclass/V/group"}},
		{name: "note", run: func(e *env, a, no string) (*bot.Ticket, error) { return e.svc.Note(ctx, a, no, "已远程查看") },
			want: bot.StatusNew, kind: bot.EventNoted},
	}
}

// TestEngineerActions runs every engineer action as each kind of person:
// engineers and the lead may, nurses, strangers and people removed from the
// roster may not (and change nothing). The allowed change goes through the
// state machine, recomputes the deadlines from the timeline including its
// own events, queues its messages under keys unique to the change, and is
// heard by the watcher after the commit.
func TestEngineerActions(t *testing.T) {
	e := setup(t, "eng1")
	ctx := context.Background()
	// eng3 was on the roster once.
	if err := e.db.SyncDirectory(ctx, storage.DirectoryData{People: []bot.Person{
		{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"},
		{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer}, {UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer},
		{UserID: "lead1", Name: "赵经理", Role: bot.RoleLead}, {UserID: "eng3", Name: "孙工", Role: bot.RoleEngineer}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SyncDirectory(ctx, storage.DirectoryData{People: []bot.Person{
		{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"},
		{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer}, {UserID: "eng2", Name: "刘工", Role: bot.RoleEngineer},
		{UserID: "lead1", Name: "赵经理", Role: bot.RoleLead}}}); err != nil {
		t.Fatal(err)
	}
	for _, a := range engineerActions() {
		for _, actor := range []string{"eng1", "lead1", "nurse1", "stranger", "eng3"} {
			allowed := actor == "eng1" || actor == "lead1"
			t.Run(a.name+"/"+actor, func(t *testing.T) {
				tk := e.report(t, bot.SeverityDaily)
				for _, p := range a.prep {
					if err := p(e, tk.No); err != nil {
						t.Fatal(err)
					}
				}
				before, _ := e.db.Ticket(ctx, tk.No)
				keysBefore := e.outbox(t, tk.No)
				e.watch.take()
				e.clock.t = e.clock.t.Add(time.Minute)
				got, err := a.run(e, actor, tk.No)
				if !allowed {
					if !errors.Is(err, bot.ErrForbidden) {
						t.Fatalf("err = %v, want ErrForbidden", err)
					}
					after, _ := e.db.Ticket(ctx, tk.No)
					if diff := cmp.Diff(before, after); diff != "" || len(e.watch.take()) != 0 || len(e.outbox(t, tk.No)) != len(keysBefore) {
						t.Errorf("a refused action changed something (-before +after):\n%s", diff)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != a.want {
					t.Errorf("status %s, want %s", got.Status, a.want)
				}
				kinds := e.kinds(t, tk.No)
				if kinds[len(kinds)-1] != a.kind {
					t.Errorf("last event %s, want %s", kinds[len(kinds)-1], a.kind)
				}
				if want := got.ReportedAt.Add(time.Duration(len(kinds)) * time.Minute); !got.Due.Resolve.Equal(want) {
					t.Errorf("resolve due %v, want %v (recomputed with the change's events)", got.Due.Resolve, want)
				}
				keys := a.keys
				if k, ok := a.keysBy[actor]; ok {
					keys = k
				}
				var wantKeys []string
				for _, k := range keys {
					k = strings.NewReplacer("NO", tk.No, "V", fmt.Sprint(got.Version-1), "ACTOR", actor).Replace(k)
					wantKeys = append(wantKeys, k)
				}
				if diff := cmp.Diff(wantKeys, e.outbox(t, tk.No)[len(keysBefore):], cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("queued (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]string{fmt.Sprintf("%s v%d committed=true", tk.No, got.Version)}, e.watch.take()); diff != "" {
					t.Errorf("watcher (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestActionsRefused: every action on a ticket in the wrong state, or with
// what the action needs missing, is refused with a user-facing reason and
// changes nothing.
func TestActionsRefused(t *testing.T) {
	e := setup(t, "eng1")
	ctx := context.Background()
	closeIt := func(e *env, no string) error {
		if err := res(e, no); err != nil {
			return err
		}
		_, err := e.svc.Confirm(ctx, "nurse1", no, nil)
		return err
	}
	tests := []struct {
		name    string
		prep    []func(*env, string) error
		run     func(no string) (*bot.Ticket, error)
		wantErr error
		wantKey string
	}{
		{"acknowledge twice", []func(*env, string) error{ack}, func(no string) (*bot.Ticket, error) { return e.svc.Acknowledge(ctx, "eng1", no) },
			bot.ErrInvalid, "err.transition"},
		{"arrive on a closed ticket", []func(*env, string) error{closeIt}, func(no string) (*bot.Ticket, error) { return e.svc.Arrive(ctx, "eng1", no, nil) },
			bot.ErrInvalid, "err.transition"},
		{"remote failed twice", nil, func(no string) (*bot.Ticket, error) {
			if _, err := e.svc.RemoteFailed(ctx, "eng1", no); err != nil {
				return nil, err
			}
			return e.svc.RemoteFailed(ctx, "eng1", no)
		}, bot.ErrInvalid, "err.onsite_clock_running"},
		{"workaround before acknowledging", nil, func(no string) (*bot.Ticket, error) { return e.svc.Workaround(ctx, "eng1", no, "") },
			bot.ErrInvalid, "err.change_needs"},
		{"resolve without a cause", nil, func(no string) (*bot.Ticket, error) { return e.svc.Resolve(ctx, "eng1", no, "", "清除缓存") },
			bot.ErrInvalid, "err.change_needs"},
		{"transfer to nobody", nil, func(no string) (*bot.Ticket, error) { return e.svc.Transfer(ctx, "eng1", no, "@王五", "") },
			bot.ErrNotFound, "err.no_such_engineer"},
		{"transfer to the assignee", []func(*env, string) error{ack}, func(no string) (*bot.Ticket, error) { return e.svc.Transfer(ctx, "eng1", no, "eng1", "") },
			bot.ErrInvalid, "err.already_assigned"},
		{"escalate a closed ticket", []func(*env, string) error{closeIt}, func(no string) (*bot.Ticket, error) { return e.svc.Escalate(ctx, "eng1", no, "x") },
			bot.ErrInvalid, "err.transition"},
		{"reclassify without reason", nil, func(no string) (*bot.Ticket, error) { return e.svc.Reclassify(ctx, "eng1", no, bot.P2, "") },
			bot.ErrInvalid, "err.change_needs"},
		{"note nothing", nil, func(no string) (*bot.Ticket, error) { return e.svc.Note(ctx, "eng1", no, "") },
			bot.ErrInvalid, "err.change_needs"},
		{"unknown ticket", nil, func(no string) (*bot.Ticket, error) { return e.svc.Acknowledge(ctx, "eng1", "F20990101-0001") },
			bot.ErrNotFound, ""},
		{"malformed number", nil, func(no string) (*bot.Ticket, error) { return e.svc.Acknowledge(ctx, "eng1", "F1") },
			bot.ErrNotFound, "err.not_found"},
		{"unknown button", nil, func(no string) (*bot.Ticket, error) {
			return e.svc.Press(ctx, "eng1", bot.Message{ID: "c", Button: &bot.ButtonClick{Key: "dance:" + no}})
		}, bot.ErrInvalid, "cmd.unknown_button"},
		{"confirm before resolve", nil, func(no string) (*bot.Ticket, error) { return e.svc.Confirm(ctx, "nurse1", no, nil) },
			bot.ErrInvalid, "err.transition"},
		{"reopen an open ticket", nil, func(no string) (*bot.Ticket, error) { return e.svc.Reopen(ctx, "nurse1", no, "", nil) },
			bot.ErrInvalid, "err.transition"},
		{"rate before closing", nil, func(no string) (*bot.Ticket, error) { return e.svc.Rate(ctx, "nurse1", no, 5) },
			bot.ErrInvalid, "err.transition"},
		{"rate out of range", []func(*env, string) error{closeIt}, func(no string) (*bot.Ticket, error) { return e.svc.Rate(ctx, "nurse1", no, 9) },
			bot.ErrInvalid, "err.rating"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := e.report(t, bot.SeverityDaily)
			for _, p := range tt.prep {
				if err := p(e, tk.No); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := e.db.Ticket(ctx, tk.No)
			n := len(e.outbox(t, tk.No))
			e.watch.take()
			_, err := tt.run(tk.No)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if key, _ := bot.UserText(err); tt.wantKey != "" && key != tt.wantKey {
				t.Errorf("user text %q, want %q", key, tt.wantKey)
			}
			if tt.name == "remote failed twice" {
				return // its first call changed the ticket on purpose
			}
			after, _ := e.db.Ticket(ctx, tk.No)
			if diff := cmp.Diff(before, after); diff != "" || len(e.outbox(t, tk.No)) != n || len(e.watch.take()) != 0 {
				t.Errorf("a refused action changed something (-before +after):\n%s", diff)
			}
		})
	}
}

// TestReporterActions: confirm, reopen, rate and amend belong to the
// ticket's reporters (and confirm to the system); anyone else is refused.
func TestReporterActions(t *testing.T) {
	e := setup(t, "eng1")
	ctx := context.Background()
	tests := []struct {
		name    string
		actor   string
		prep    []func(*env, string) error
		run     func(actor, no string) (*bot.Ticket, error)
		want    bot.Status
		wantErr error
		keys    []string
	}{
		{"confirm", "nurse1", []func(*env, string) error{ack, res}, func(a, no string) (*bot.Ticket, error) { return e.svc.Confirm(ctx, a, no, replyTo("m9")) },
			bot.StatusClosed, nil, []string{"NO/confirm_eng/V/eng1", "NO/confirm/V/nurse1"}},
		{"confirm by the system", bot.ActorSystem, []func(*env, string) error{res}, func(a, no string) (*bot.Ticket, error) { return e.svc.Confirm(ctx, a, no, nil) },
			bot.StatusClosed, nil, []string{"NO/autoconfirm/V/group"}},
		{"confirm by another nurse", "nurse2", []func(*env, string) error{res}, func(a, no string) (*bot.Ticket, error) { return e.svc.Confirm(ctx, a, no, nil) },
			"", bot.ErrForbidden, nil},
		{"reopen", "nurse1", []func(*env, string) error{res}, func(a, no string) (*bot.Ticket, error) { return e.svc.Reopen(ctx, a, no, "", replyTo("m9")) },
			bot.StatusInProgress, nil, []string{"NO/reopen/V/nurse1", "NO/repage/V/eng1", "NO/reopen_group/V/eng1"}},
		{"reopen by an engineer", "eng2", []func(*env, string) error{res}, func(a, no string) (*bot.Ticket, error) { return e.svc.Reopen(ctx, a, no, "", nil) },
			"", bot.ErrForbidden, nil},
		{"rate", "nurse1", []func(*env, string) error{res, func(e *env, no string) error {
			_, err := e.svc.Confirm(ctx, "nurse1", no, nil)
			return err
		}}, func(a, no string) (*bot.Ticket, error) { return e.svc.Rate(ctx, a, no, 5) }, bot.StatusClosed, nil, nil},
		{"amend by another nurse", "nurse2", nil, func(a, no string) (*bot.Ticket, error) {
			return e.svc.Amend(ctx, a, no, nil, ticketing.Answers{Scope: bot.ScopeHospital})
		}, "", bot.ErrForbidden, nil},
		{"link a second reporter", "nurse2", nil, func(a, no string) (*bot.Ticket, error) { return e.svc.Link(ctx, a, no, replyTo("m9")) },
			bot.StatusNew, nil, []string{"NO/linked/V/nurse2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := e.report(t, bot.SeverityDaily)
			for _, p := range tt.prep {
				if err := p(e, tk.No); err != nil {
					t.Fatal(err)
				}
			}
			n := len(e.outbox(t, tk.No))
			e.watch.take()
			got, err := tt.run(tt.actor, tk.No)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if len(e.outbox(t, tk.No)) != n || len(e.watch.take()) != 0 {
					t.Error("a refused action queued messages or told the watcher")
				}
				return
			}
			if got.Status != tt.want {
				t.Errorf("status %s, want %s", got.Status, tt.want)
			}
			var want []string
			for _, k := range tt.keys {
				want = append(want, strings.NewReplacer("NO", tk.No, "V", fmt.Sprint(got.Version-1)).Replace(k))
			}
			if diff := cmp.Diff(want, e.outbox(t, tk.No)[n:], cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("queued (-want +got):\n%s", diff)
			}
		})
	}
	// A linked reporter hears the resolution and may confirm.
	tk := e.report(t, bot.SeverityDaily)
	if _, err := e.svc.Link(ctx, "nurse2", tk.No, nil); err != nil {
		t.Fatal(err)
	}
	if rep, _ := e.svc.Reporters(ctx, tk.No); !slices.Equal(rep, []string{"nurse1", "nurse2"}) {
		t.Errorf("reporters %v", rep)
	}
	if _, err := e.svc.Confirm(ctx, "nurse2", tk.No, nil); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("linked reporter's confirm of an open ticket: %v, want a transition refusal (not forbidden)", err)
	}
}

// TestAmend: a reporter's later answers reclassify the ticket through the
// state machine, correct category and ward, never lower the priority, and
// never page again.
func TestAmend(t *testing.T) {
	e := setup(t, "eng1")
	ctx := context.Background()
	tests := []struct {
		name       string
		sev        bot.Severity // of the report
		answers    ticketing.Answers
		replyTo    string
		wantClass  func(c *bot.Classification)
		wantCat    string
		wantWard   string
		wantDetail string // "" = no event
		wantMsg    string // "" = no message
	}{
		{"lower severity keeps P1", bot.SeverityPatientSafety, ticketing.Answers{Severity: bot.SeverityExperience}, "m9",
			func(c *bot.Classification) { c.Severity = bot.SeverityExperience }, "login", "med-icu",
			"优先级保持 P1：报修人补充回答", "为保障患者安全，优先级保持 P1"},
		{"category and ward corrected", bot.SeverityPatientSafety, ticketing.Answers{Category: "device_data", WardCode: "ed-icu"}, "m9",
			func(c *bot.Classification) { c.Type, c.Difficulty = bot.TypeTerminal, bot.DifficultyOther }, "device_data", "ed-icu",
			"优先级保持 P1，类别 无法登录 → 监护设备数据未采集，科室 内科ICU → 急诊ICU：报修人补充回答", "急诊ICU · 监护设备数据未采集"},
		{"answers that change nothing, just answered", bot.SeverityPatientSafety, ticketing.Answers{Scope: bot.ScopePersonal, WardCode: "med-icu"}, "m9",
			func(c *bot.Classification) {}, "login", "med-icu", "", "已按您的补充更新"},
		{"answers that change nothing, on timeout", bot.SeverityPatientSafety, ticketing.Answers{Category: "login"}, "",
			func(c *bot.Classification) {}, "login", "med-icu", "", ""},
		{"raise from P3", bot.SeverityDaily, ticketing.Answers{Severity: bot.SeverityPatientSafety}, "m9",
			func(c *bot.Classification) {
				c.Severity, c.Priority, c.Urgent = bot.SeverityPatientSafety, bot.P1, true
			}, "login", "med-icu",
			"优先级 P3 → P1：报修人补充回答", "分级 P1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := e.report(t, tt.sev)
			n, events := len(e.outbox(t, tk.No)), len(e.kinds(t, tk.No))
			got, err := e.svc.Amend(ctx, "nurse1", tk.No, replyTo(tt.replyTo), tt.answers)
			if err != nil {
				t.Fatal(err)
			}
			want := tk.Classification
			tt.wantClass(&want)
			if diff := cmp.Diff(want, got.Classification); diff != "" || got.Category != tt.wantCat || got.WardCode != tt.wantWard {
				t.Errorf("class (-want +got):\n%s\ncategory %s ward %s", diff, got.Category, got.WardCode)
			}
			tl, _ := e.db.Timeline(ctx, tk.No)
			switch {
			case tt.wantDetail == "" && len(tl) != events:
				t.Errorf("events %v, want none added", tl[events:])
			case tt.wantDetail != "" && (len(tl) != events+1 || tl[events].Kind != bot.EventReclassified || tl[events].Detail != tt.wantDetail || tl[events].Actor != "nurse1"):
				t.Errorf("events %+v, want one reclassified %q", tl[events:], tt.wantDetail)
			}
			ds, err := e.db.ClaimDeliveries(ctx, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			var mine []bot.Outgoing
			for _, d := range ds {
				if d.Message.TicketNo == tk.No && len(e.outbox(t, tk.No)) > n && slices.Contains(e.outbox(t, tk.No)[n:], d.Message.Key) {
					mine = append(mine, d.Message)
				}
			}
			switch {
			case tt.wantMsg == "" && len(mine) != 0:
				t.Errorf("messages %+v, want none", mine)
			case tt.wantMsg != "" && (len(mine) != 1 || !strings.Contains(mine[0].Text, tt.wantMsg) || mine[0].ReplyTo != tt.replyTo ||
				mine[0].ToChat != "chat-med" || !slices.Equal(mine[0].Mentions, []string{"nurse1"})):
				t.Errorf("messages %+v, want one to nurse1 in the group containing %q", mine, tt.wantMsg)
			}
			for _, m := range mine {
				if m.Card != nil || len(m.ToUsers) > 0 {
					t.Errorf("amend paged: %+v", m)
				}
			}
		})
	}
}

// TestKeysAreStableAndUnique: a change's messages have keys derived from
// the ticket, the version it changed, the kind and the recipient, so a retried
// handler queues the same keys (stored once) and no two changes collide.
func TestKeysAreStableAndUnique(t *testing.T) {
	e := setup(t, "eng1")
	ctx := context.Background()
	tk := e.report(t, bot.SeverityDaily)
	steps := []func() error{
		func() error { return ack(e, tk.No) },
		func() error { return res(e, tk.No) },
		func() error { _, err := e.svc.Reopen(ctx, "nurse1", tk.No, "", replyTo("m2")); return err },
		func() error { return res(e, tk.No) },
		func() error { _, err := e.svc.Confirm(ctx, "nurse1", tk.No, replyTo("m3")); return err },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			t.Fatal(err)
		}
	}
	keys := e.outbox(t, tk.No)
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Errorf("key %s queued twice", k)
		}
		seen[k] = true
	}
	// The same messages queued again (a handler retried after a crash
	// between commit and answer) are stored once.
	ds, err := e.db.ClaimDeliveries(ctx, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var again []bot.Outgoing
	for _, d := range ds {
		again = append(again, d.Message)
	}
	if err := e.db.Enqueue(ctx, again...); err != nil {
		t.Fatal(err)
	}
	if got := e.outbox(t, tk.No); !slices.Equal(got, keys) {
		t.Errorf("re-queued keys %v, want %v", got, keys)
	}
	if want := []string{tk.No + "/resolve/2/group", tk.No + "/resolve/4/group"}; !slices.Contains(keys, want[0]) || !slices.Contains(keys, want[1]) {
		t.Errorf("keys %v lack the two resolution notices %v", keys, want)
	}
}

func TestAutoConfirm(t *testing.T) {
	e := setup(t, "eng1")
	ctx := context.Background()
	old, fresh := e.report(t, bot.SeverityDaily), e.report(t, bot.SeverityDaily)
	if err := res(e, old.No); err != nil {
		t.Fatal(err)
	}
	e.clock.t = e.clock.t.Add(23 * time.Hour)
	if err := res(e, fresh.No); err != nil {
		t.Fatal(err)
	}
	e.clock.t = e.clock.t.Add(2 * time.Hour)
	if n, err := e.svc.AutoConfirm(ctx, 24*time.Hour); n != 1 || err != nil {
		t.Fatalf("AutoConfirm = %d, %v", n, err)
	}
	got, _ := e.db.Ticket(ctx, old.No)
	other, _ := e.db.Ticket(ctx, fresh.No)
	tl, _ := e.db.Timeline(ctx, old.No)
	confirmed := tl[len(tl)-2]
	if got.Status != bot.StatusClosed || other.Status != bot.StatusResolved || confirmed.Actor != bot.ActorSystem || confirmed.Detail != "报修人解决后未反馈，系统自动确认" {
		t.Errorf("auto-confirm: %s / %s, event %+v", got.Status, other.Status, confirmed)
	}
}

// TestTypedCommandsRedrawCards: an action typed as a command redraws the
// engineer's paging card like a click would, through an update with the
// card's task id that answers no click (the sender uses the card's own
// message/send response code). That code works once, so a card redrawn by
// one command is not queued again; a click still redraws the card in its
// answer only, and a card older than the code's 72 h is left alone.
func TestTypedCommandsRedrawCards(t *testing.T) {
	ctx := context.Background()
	e := setup(t, "eng1")
	// deliver marks everything queued as sent and returns it.
	deliver := func(t *testing.T) []bot.Outgoing {
		t.Helper()
		// Rows are queued at the wall clock's time; sent at the test clock's.
		at := time.Now().Add(100 * time.Hour)
		ds, err := e.db.ClaimDeliveries(ctx, at, at.Add(time.Hour), 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []bot.Outgoing
		for _, d := range ds {
			ref := ""
			if d.Message.Card != nil {
				ref = "rc-" + d.Message.Card.TaskID
			}
			if err := e.db.DeliverySent(ctx, d.ID, e.clock.t, ref); err != nil {
				t.Fatal(err)
			}
			out = append(out, d.Message)
		}
		return out
	}
	updates := func(ms []bot.Outgoing) []bot.Outgoing {
		var out []bot.Outgoing
		for _, m := range ms {
			if m.CardUpdate != nil {
				out = append(out, m)
			}
		}
		return out
	}
	redrawn := func(no string, version int, text string) bot.Outgoing {
		return bot.Outgoing{Key: fmt.Sprintf("%s/page/1/eng1/redraw/%d", no, version), TicketNo: no, ToUsers: []string{"eng1"},
			CardUpdate: &bot.CardUpdate{TaskID: "weibao-" + no + "-1-page-eng1", UserIDs: []string{"eng1"}, Replaced: text}, Priority: bot.P3}
	}

	t.Run("typed ack, then typed resolve", func(t *testing.T) {
		tk := e.report(t, bot.SeverityDaily)
		deliver(t)
		if _, err := e.svc.Acknowledge(ctx, "eng1", tk.No); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]bot.Outgoing{redrawn(tk.No, 1, "已由 张工 接单")}, updates(deliver(t))); diff != "" {
			t.Errorf("after typed ack (-want +got):\n%s", diff)
		}
		if _, err := e.svc.Resolve(ctx, "eng1", tk.No, "缓存损坏", "清除缓存"); err != nil {
			t.Fatal(err)
		}
		if got := updates(deliver(t)); len(got) != 0 {
			t.Errorf("typed resolve after a typed ack queued %+v; the card's code is spent", got)
		}
	})
	t.Run("clicked ack, then typed resolve", func(t *testing.T) {
		tk := e.report(t, bot.SeverityDaily)
		deliver(t)
		click := bot.Message{ID: "click-" + tk.No, From: "eng1", Button: &bot.ButtonClick{Key: "ack:" + tk.No, TaskID: "weibao-" + tk.No + "-1-page-eng1"}}
		if _, err := e.svc.Press(ctx, "eng1", click); err != nil {
			t.Fatal(err)
		}
		want := []bot.Outgoing{{Key: tk.No + "/card/1/eng1", TicketNo: tk.No, ReplyTo: click.ID,
			CardUpdate: &bot.CardUpdate{TaskID: click.Button.TaskID, Replaced: "已由 张工 接单"}, Priority: bot.P3}}
		if diff := cmp.Diff(want, updates(deliver(t))); diff != "" {
			t.Errorf("after the click (-want +got):\n%s", diff)
		}
		if _, err := e.svc.Resolve(ctx, "eng1", tk.No, "缓存损坏", "清除缓存"); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]bot.Outgoing{redrawn(tk.No, 2, "已由 张工 处理完毕")}, updates(deliver(t))); diff != "" {
			t.Errorf("after typed resolve (-want +got):\n%s", diff)
		}
	})
	t.Run("card older than its code", func(t *testing.T) {
		tk := e.report(t, bot.SeverityDaily)
		deliver(t)
		e.clock.t = e.clock.t.Add(73 * time.Hour)
		if _, err := e.svc.Arrive(ctx, "eng1", tk.No, nil); err != nil {
			t.Fatal(err)
		}
		if got := updates(deliver(t)); len(got) != 0 {
			t.Errorf("arrive 73 h after the card queued %+v", got)
		}
	})
}

// replyTo is the message a call answers; "" for none.
func replyTo(id string) *bot.Message {
	if id == "" {
		return nil
	}
	return &bot.Message{ID: id}
}

// TestRepliesCarryTheRoute: the answer to a message carries that message's
// reply route, so the channel answers it without looking the message up.
func TestRepliesCarryTheRoute(t *testing.T) {
	e := setup(t, "eng1")
	ctx := context.Background()
	in := &bot.Message{ID: "m-route", Route: `{"ResponseURL":"https://x/r"}`}
	tk, err := e.svc.Intake(ctx, ticketing.IntakeInput{Reporter: "nurse1", ChatID: "chat-med", ReplyTo: in, WardCode: "med-icu",
		Category: "login", Description: "护士站电脑登不上",
		Class: bot.Classification{Scope: bot.ScopePersonal, Type: bot.TypeSoftware, Severity: bot.SeverityDaily, Difficulty: bot.DifficultySimple}})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := e.db.ClaimDeliveries(ctx, time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	var replies []bot.Outgoing
	for _, d := range ds {
		if d.Message.TicketNo == tk.No && d.Message.ReplyTo != "" {
			replies = append(replies, d.Message)
		}
	}
	if len(replies) != 1 || replies[0].ReplyTo != in.ID || replies[0].Route != in.Route {
		t.Errorf("replies %+v, want one to %s with its route", replies, in.ID)
	}
}
