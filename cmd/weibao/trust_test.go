package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/terminal"
	"weibao/wecom/wecomtest"
)

// TestNoFalsePages is a ward's night through the robot callback on the test
// database and Redis: thanks and silence make no ticket and no page; a
// printer report she abandons becomes a 待分诊 ticket of the priority its
// words support, and no phone rings for it even past every deadline; a
// safety report still pages by phone at once.
func TestNoFalsePages(t *testing.T) {
	clock := &terminal.Clock{}
	r := startRobot(t, clock)
	m := r.m
	ctx := context.Background()
	const group = "demo-med-icu"

	r.post("nurse1", group, "谢谢")
	r.post("nurse1", group, "好的")
	waitHandled(t, m, 2)
	clock.Add(10 * time.Minute)
	m.Bot.Engine.Tick(ctx, nil)
	if ts, err := m.DB.Tickets(ctx, bot.TicketFilter{}); err != nil || len(ts) != 0 {
		t.Fatalf("thanks made tickets %v (err %v)", ts, err)
	}

	r.say("nurse1", group, "护士站打印机打不出来", reply("是「打印问题」吗"))
	clock.Add(4 * time.Minute)
	m.Bot.Engine.Tick(ctx, nil)
	awaitCalls(t, r.fake, "the dialogue timed out", contains("已登记工单"), contains("分级由值班工程师确认（待分诊）"))
	ts, err := m.DB.Tickets(ctx, bot.TicketFilter{})
	if err != nil || len(ts) != 1 {
		t.Fatalf("abandoned report: tickets %v (err %v)", ts, err)
	}
	printer := ts[0]
	if !printer.Triage || (printer.Priority != bot.P3 && printer.Priority != bot.P4) {
		t.Errorf("abandoned printer report is %s, triage %v; want P3/P4 marked 待分诊", printer.Priority, printer.Triage)
	}
	// Past every deadline and escalation step: the clocks breach, nobody's
	// phone rings on a guess. Two weeks, because a P3's clocks count working
	// hours only and the test may start on a Friday night or before a holiday.
	clock.Add(14 * 24 * time.Hour)
	if err := m.Escalation.Engine.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the printer ticket's breaches", func() bool {
		tl, err := m.DB.Timeline(ctx, printer.No)
		return err == nil && slices.ContainsFunc(tl, func(e bot.Event) bool { return e.Kind == bot.EventBreached })
	})
	if calls := phoneAttempts(t, m, printer.No); len(calls) != 0 {
		t.Errorf("a 待分诊 ticket rang phones: %+v", calls)
	}

	r.say("nurse1", group, "3床患者监护仪数据不显示，正在抢救", contains("P1（"))
	ts, err = m.DB.Tickets(ctx, bot.TicketFilter{})
	if err != nil || len(ts) != 2 {
		t.Fatalf("safety report: tickets %v (err %v)", ts, err)
	}
	safety := ts[0]
	if safety.Priority != bot.P1 || safety.Triage {
		t.Errorf("safety report is %s, triage %v; want P1", safety.Priority, safety.Triage)
	}
	waitFor(t, "a phone call for the safety report", func() bool { return len(phoneAttempts(t, m, safety.No)) > 0 })
}

// contains matches any call whose body contains s.
func contains(s string) want {
	return want{"a message containing " + s, func(r wecomtest.Request) bool { return strings.Contains(string(r.Raw), s) }}
}

// waitHandled waits until the inbox has handled n events.
func waitHandled(t *testing.T, m *Main, n float64) {
	t.Helper()
	waitFor(t, "the inbox to handle the messages", func() bool {
		mfs, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var handled float64
		for _, mf := range mfs {
			if mf.GetName() == "weibao_inbox_handled_total" {
				for _, c := range mf.GetMetric() {
					handled += c.GetCounter().GetValue()
				}
			}
		}
		return handled >= n
	})
}

// phoneAttempts are the ticket's voice and SMS page attempts.
func phoneAttempts(t *testing.T, m *Main, no string) []bot.PageAttempt {
	t.Helper()
	as, err := m.DB.PageAttempts(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(as, func(a bot.PageAttempt) bool { return a.Channel != "voice" && a.Channel != "sms" })
}

// waitFor polls cond: the workers run on their own goroutines.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
