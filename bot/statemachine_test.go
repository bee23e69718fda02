package bot

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

func testClass() Classification {
	return Classification{Scope: ScopeDepartment, Type: TypeSoftware, Severity: SeverityClinical,
		Difficulty: DifficultyRoutine, Priority: P2, SLAClass: "routine"}
}

func ticketIn(s Status) *Ticket {
	return &Ticket{No: "F20261126-0001", Status: s, ReporterID: "nurse1", WardCode: "ed-icu",
		Category: "login", Classification: testClass(), ReportedAt: t0}
}

// changeFor returns a change of kind k with every field it may need filled in.
func changeFor(k EventKind) Change {
	c := testClass()
	c.Priority = P1
	return Change{Kind: k, Actor: "eng1", At: t0.Add(time.Minute), Text: "说明", Assignee: "eng2",
		Cause: "缓存损坏", Solution: "清除缓存", MergedInto: "F20261126-0002", Class: c, Level: 1,
		Clock: ClockResolve, Late: time.Minute, Rating: 5}
}

// prepFor puts a ticket in the condition a kind needs besides its status.
var prepFor = map[EventKind]func(*Ticket){
	EventResumed: func(t *Ticket) { t.PausedAt = t0 },
}

// legal is the transition table written out by hand, independent of the
// rules map, so that a change to either is caught: kind → from → to.
var legal = map[EventKind]map[Status]Status{
	EventAcknowledged: {StatusNew: StatusAcknowledged},
	EventRemoteFailed: {StatusAcknowledged: StatusInProgress, StatusInProgress: StatusInProgress},
	EventArrived:      {StatusNew: StatusOnSite, StatusAcknowledged: StatusOnSite, StatusInProgress: StatusOnSite},
	EventWorkaround:   {StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress, StatusOnSite: StatusOnSite},
	EventResolved: {StatusNew: StatusResolved, StatusAcknowledged: StatusResolved, StatusInProgress: StatusResolved,
		StatusOnSite: StatusResolved},
	EventConfirmed: {StatusResolved: StatusConfirmed},
	EventClosed:    {StatusConfirmed: StatusClosed},
	EventReopened:  {StatusResolved: StatusInProgress},
	EventCancelled: {StatusNew: StatusCancelled, StatusAcknowledged: StatusCancelled, StatusInProgress: StatusCancelled,
		StatusOnSite: StatusCancelled},
	EventMerged: {StatusNew: StatusMerged, StatusAcknowledged: StatusMerged, StatusInProgress: StatusMerged,
		StatusOnSite: StatusMerged},
	EventAssigned: {StatusNew: StatusNew, StatusAcknowledged: StatusNew, StatusInProgress: StatusNew,
		StatusOnSite: StatusNew},
	EventReclassified: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite, StatusResolved: StatusResolved},
	EventNoted: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite, StatusResolved: StatusResolved, StatusConfirmed: StatusConfirmed,
		StatusClosed: StatusClosed, StatusCancelled: StatusCancelled, StatusMerged: StatusMerged},
	EventLinked: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite, StatusResolved: StatusResolved},
	EventAttached: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite, StatusResolved: StatusResolved, StatusConfirmed: StatusConfirmed,
		StatusClosed: StatusClosed, StatusCancelled: StatusCancelled, StatusMerged: StatusMerged},
	EventRated: {StatusConfirmed: StatusConfirmed, StatusClosed: StatusClosed},
	EventPaged: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite, StatusResolved: StatusResolved},
	EventEscalated: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite},
	EventReminded: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite},
	EventBreached: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite},
	EventPaused: {StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress, StatusOnSite: StatusOnSite},
	EventWarRoom: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite, StatusResolved: StatusResolved},
	EventJoined: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite, StatusResolved: StatusResolved, StatusConfirmed: StatusConfirmed,
		StatusClosed: StatusClosed, StatusCancelled: StatusCancelled, StatusMerged: StatusMerged},
	EventFallbackSent: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite, StatusResolved: StatusResolved},
	EventResumed: {StatusNew: StatusNew, StatusAcknowledged: StatusAcknowledged, StatusInProgress: StatusInProgress,
		StatusOnSite: StatusOnSite},
}

var allStatuses = []Status{StatusNew, StatusAcknowledged, StatusInProgress, StatusOnSite, StatusResolved,
	StatusConfirmed, StatusClosed, StatusCancelled, StatusMerged}

func TestEveryTransition(t *testing.T) {
	if len(legal) != len(rules) {
		t.Fatalf("table covers %d kinds, state machine has %d", len(legal), len(rules))
	}
	for kind, froms := range legal {
		for _, from := range allStatuses {
			t.Run(fmt.Sprintf("%s/%s", kind, from), func(t *testing.T) {
				tk := ticketIn(from)
				if prep := prepFor[kind]; prep != nil {
					prep(tk)
				}
				before := *tk
				ev, err := tk.Apply(changeFor(kind))
				to, ok := froms[from]
				if !ok {
					if !errors.Is(err, ErrInvalid) {
						t.Fatalf("illegal transition: err = %v, want ErrInvalid", err)
					}
					if key, _ := UserText(err); key != "err.transition" {
						t.Errorf("illegal transition explained by %q, want err.transition", key)
					}
					if diff := cmp.Diff(before, *tk); diff != "" {
						t.Errorf("illegal transition changed the ticket (-before +after):\n%s", diff)
					}
					return
				}
				if err != nil {
					t.Fatalf("legal transition failed: %v", err)
				}
				if tk.Status != to {
					t.Errorf("status = %s, want %s", tk.Status, to)
				}
				want := Event{TicketNo: tk.No, Kind: kind, Actor: "eng1", At: t0.Add(time.Minute), From: from, To: to}
				if kind == EventReminded || kind == EventBreached {
					want.Clock = ClockResolve
				}
				ev.Detail = ""
				if diff := cmp.Diff(want, ev); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestApplyRejectsAndKeepsTicket(t *testing.T) {
	tests := []struct {
		name   string
		status Status
		change func(*Change)
		prep   func(*Ticket)
		key    string
	}{
		{"resolve without cause", StatusAcknowledged, func(c *Change) { c.Cause = "" }, nil, "err.change_needs"},
		{"resolve without solution", StatusAcknowledged, func(c *Change) { c.Solution = "" }, nil, "err.change_needs"},
		{"cancel without reason", StatusNew, func(c *Change) { c.Kind, c.Text = EventCancelled, "" }, nil, "err.change_needs"},
		{"workaround without text", StatusInProgress, func(c *Change) { c.Kind, c.Text = EventWorkaround, "" }, nil, "err.change_needs"},
		{"merge into itself", StatusNew, func(c *Change) { c.Kind, c.MergedInto = EventMerged, "F20261126-0001" }, nil, "err.merge_target"},
		{"merge into garbage", StatusNew, func(c *Change) { c.Kind, c.MergedInto = EventMerged, "abc" }, nil, "err.merge_target"},
		{"assign to current", StatusAcknowledged, func(c *Change) { c.Kind, c.Assignee = EventAssigned, "eng1" },
			func(t *Ticket) { t.AssigneeID = "eng1" }, "err.already_assigned"},
		{"reclass invalid", StatusNew, func(c *Change) { c.Kind = EventReclassified; c.Class.Priority = "P9" }, nil, "err.classification"},
		{"reclass without reason", StatusNew, func(c *Change) { c.Kind, c.Text = EventReclassified, "" }, nil, "err.change_needs"},
		{"remote failed twice", StatusInProgress, func(c *Change) { c.Kind = EventRemoteFailed },
			func(t *Ticket) { t.RemoteFailedAt = t0 }, "err.onsite_clock_running"},
		{"unknown kind", StatusNew, func(c *Change) { c.Kind = "explode" }, nil, "err.unknown_change"},
		{"no actor", StatusNew, func(c *Change) { c.Kind, c.Actor = EventAcknowledged, "" }, nil, "err.change_needs"},
		{"10 KB note", StatusNew, func(c *Change) { c.Kind = EventNoted; c.Text = string(make([]rune, 5000)) }, nil, "err.text_too_long"},
		{"invalid utf-8", StatusNew, func(c *Change) { c.Kind, c.Text = EventNoted, "\xff\xfe" }, nil, "err.text_encoding"},
		{"rating out of range", StatusClosed, func(c *Change) { c.Kind, c.Rating = EventRated, 6 }, nil, "err.rating"},
		{"rated twice", StatusClosed, func(c *Change) { c.Kind = EventRated }, func(t *Ticket) { t.Rating = 4 }, "err.rating"},
		{"escalate to same level", StatusNew, func(c *Change) { c.Kind, c.Level = EventEscalated, 2 },
			func(t *Ticket) { t.EscalationLevel = 2 }, "err.escalation_level"},
		{"breach twice", StatusNew, func(c *Change) { c.Kind = EventBreached }, func(t *Ticket) { t.Late.Resolve = time.Second }, "err.already_breached"},
		{"unknown clock", StatusNew, func(c *Change) { c.Kind, c.Clock = EventReminded, "lunch" }, nil, "err.change_needs"},
		{"pause twice", StatusInProgress, func(c *Change) { c.Kind = EventPaused }, func(t *Ticket) { t.PausedAt = t0 }, "err.already_paused"},
		{"pause without reason", StatusInProgress, func(c *Change) { c.Kind, c.Text = EventPaused, "" }, nil, "err.change_needs"},
		{"resume when running", StatusInProgress, func(c *Change) { c.Kind = EventResumed }, nil, "err.not_paused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := ticketIn(tt.status)
			if tt.prep != nil {
				tt.prep(tk)
			}
			before := *tk
			c := changeFor(EventResolved)
			tt.change(&c)
			_, err := tk.Apply(c)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if key, _ := UserText(err); key != tt.key {
				t.Errorf("key = %q, want %q", key, tt.key)
			}
			if diff := cmp.Diff(before, *tk); diff != "" {
				t.Errorf("ticket changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	tk, ev, err := NewTicket(Ticket{ReporterID: "nurse1", WardCode: "ed-icu", Category: "login",
		Description: "护士站电脑登不上，联系13812345678", Classification: testClass()}, "nurse1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != EventReported || tk.Status != StatusNew || tk.Description != "护士站电脑登不上，联系138****5678" {
		t.Fatalf("new ticket: %+v %+v", ev, tk)
	}
	at := t0
	step := func(c Change) {
		t.Helper()
		at = at.Add(time.Minute)
		c.Actor, c.At = "eng1", at
		if _, err := tk.Apply(c); err != nil {
			t.Fatalf("%s: %v", c.Kind, err)
		}
	}
	step(Change{Kind: EventAcknowledged})
	step(Change{Kind: EventRemoteFailed})
	step(Change{Kind: EventWorkaround, Text: "先用纸质记录"})
	step(Change{Kind: EventArrived})
	step(Change{Kind: EventResolved, Cause: "证书过期", Solution: "更新证书"})
	step(Change{Kind: EventReopened, Text: "仍无法登录"})
	step(Change{Kind: EventResolved, Cause: "证书过期", Solution: "更新证书并重启客户端"})
	step(Change{Kind: EventConfirmed})
	step(Change{Kind: EventClosed})
	if tk.Status != StatusClosed || tk.AssigneeID != "eng1" || tk.ReopenCount != 1 || tk.Solution != "更新证书并重启客户端" ||
		tk.AcknowledgedAt != t0.Add(time.Minute) || tk.RemoteFailedAt.IsZero() || tk.OnSiteAt.IsZero() || tk.ClosedAt.IsZero() {
		t.Errorf("final ticket: %+v", tk)
	}
}

func TestNewTicketRejects(t *testing.T) {
	base := Ticket{ReporterID: "n", WardCode: "w", Category: "c", Description: "x", Classification: testClass()}
	tests := []struct {
		name string
		mod  func(*Ticket)
	}{
		{"no reporter", func(t *Ticket) { t.ReporterID = "" }},
		{"no ward", func(t *Ticket) { t.WardCode = "" }},
		{"no category", func(t *Ticket) { t.Category = "" }},
		{"bad scope", func(t *Ticket) { t.Scope = "galaxy" }},
		{"too long", func(t *Ticket) { t.Description = string(make([]rune, MaxTextRunes+1)) }},
	}
	for _, tt := range tests {
		tk := base
		tt.mod(&tk)
		if _, _, err := NewTicket(tk, "n", t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"电话13812345678", "电话138****5678"},
		{"+8613812345678", "+86138****5678"},
		{"身份证110101199003071234", "身份证1101**********1234"},
		{"身份证11010119900307123X号", "身份证1101**********123X号"},
		{"老证号110101900307123", "老证号1101*******7123"},
		{"床号12，工号123456", "床号12，工号123456"},
		{"12345678901", "12345678901"},
		{"138123456789", "138123456789"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskLog(t *testing.T) {
	tests := []struct{ in, want string }{
		{"3床患者张三监护仪黑屏，家属电话13812345678", "*床患者**护仪黑屏，家属电话138****5678"},
		{"床号12 病人：李四 打印失败", "*床 病人** 打印失败"},
		{"12号床 患儿王小明", "*床 患儿**"},
		{"姓名: 赵六", "姓名**"},
		{"工号123456 登不上", "工号123456 登不上"},
		{"F20261126-0001 已解决", "F20261126-0001 已解决"},
	}
	for _, tt := range tests {
		if got := MaskLog(tt.in); got != tt.want {
			t.Errorf("MaskLog(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestTicketNo(t *testing.T) {
	no := FormatTicketNo(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), 7)
	if no != "F20261126-0007" || !ValidTicketNo(no) || ValidTicketNo("F2026-1") {
		t.Errorf("FormatTicketNo = %q", no)
	}
}

func TestReclassifyCorrectsCategoryAndWard(t *testing.T) {
	tests := []struct {
		name           string
		category, ward string
		wantCat        string
		wantWard       string
		wantDetail     string
	}{
		{"priority only", "", "", "login", "ed-icu", "说明"},
		{"category", "monitor", "", "monitor", "ed-icu", "说明"},
		{"ward", "", "med-icu", "login", "med-icu", "说明"},
		{"same values", "login", "ed-icu", "login", "ed-icu", "说明"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := ticketIn(StatusAcknowledged)
			c := changeFor(EventReclassified)
			c.Category, c.WardCode = tt.category, tt.ward
			ev, err := tk.Apply(c)
			if err != nil {
				t.Fatal(err)
			}
			if tk.Category != tt.wantCat || tk.WardCode != tt.wantWard || tk.Priority != P1 || ev.Detail != tt.wantDetail {
				t.Errorf("ticket %s/%s/%s, detail %q; want %s/%s/P1, %q", tk.Category, tk.WardCode, tk.Priority, ev.Detail,
					tt.wantCat, tt.wantWard, tt.wantDetail)
			}
		})
	}
}
