package escalation_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/escalation"
	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
)

// Issue 13: an abandoned report's priority is a guess (待分诊), and no phone
// rings on a guess. Unacknowledged all night, past both breaches, it only
// reminds by WeCom; once an engineer reclassifies it, the overdue levels
// ring at once.
func TestTriageRingsNoPhoneUntilConfirmed(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	class := bot.Classification{Scope: bot.ScopePersonal, Type: bot.TypeTerminal, Severity: bot.SeverityDaily,
		Difficulty: bot.DifficultyOther, Priority: bot.P3, SLAClass: "other"}
	tk, ev, err := bot.NewTicket(bot.Ticket{ReporterID: "wangfang", WardCode: "med-icu", ChatID: "wr-med", Category: "his_down",
		Description: "打印机打不出", Classification: class, Triage: true}, "wangfang", h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	tk.Due = escalation.SLA{Policy: shortSLA()}.Deadlines(tk, []bot.Event{ev})
	if err := h.db.CreateTicket(ctx, tk, bot.Effects{Events: []bot.Event{ev}}); err != nil {
		t.Fatal(err)
	}
	// Without a calendar every level is due around the clock: 5, 15, 30 min.
	h.clock.Set(start.Add(45 * time.Minute))
	h.waitFor("both breaches", func() bool { l := h.ticket(tk.No).Late; return l.Ack > 0 && l.Resolve > 0 })
	if n := count(h.timeline(tk.No), bot.EventEscalated, ""); n != 0 || len(h.phone.Calls()) != 0 {
		t.Fatalf("待分诊 ticket escalated %d times and paged %d times", n, len(h.phone.Calls()))
	}

	_, err = h.db.UpdateTicket(ctx, tk.No, func(cur *bot.Ticket, timeline []bot.Event) (bot.Effects, error) {
		evs, err := cur.Step(escalation.SLA{Policy: shortSLA()}, timeline, bot.Change{Kind: bot.EventReclassified,
			Actor: "zhangsan", At: h.clock.Now(), Text: "确认", Class: class})
		return bot.Effects{Events: evs}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.ticket(tk.No).Triage {
		t.Fatal("reclassified ticket still 待分诊")
	}
	// Every level is overdue by now; whichever fires first rings.
	h.waitFor("a phone call", func() bool {
		return slices.ContainsFunc(h.phone.Calls(), func(c pagertest.Call) bool { return c.Channel == pager.Voice })
	})
}
