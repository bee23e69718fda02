package escalation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"weibao/bot"
	"weibao/sla"
	"weibao/sla/pager"
	"weibao/sla/timerwheel"
)

// errChanged aborts an update whose snapshot went stale; fire decides again.
var errChanged = errors.New("escalation: ticket changed since the snapshot")

// fireAttempts bounds how often a busy ticket is re-read for one timer.
const fireAttempts = 4

// pageReq is a page to place after the commit.
type pageReq struct {
	key      string // step part of the page key
	level    int
	person   *bot.Person
	channels []pager.Channel
	text     string
}

// action is what one timer does to a ticket.
type action struct {
	changes  []bot.Change
	messages []bot.Outgoing
	pages    []pageReq
}

func (a *action) empty() bool { return len(a.changes) == 0 && len(a.messages) == 0 }

// fire handles a due timer. An error leaves the timer for another attempt
// after its lease; a stale timer is acked and does nothing.
func (e *Engine) fire(ctx context.Context, tm timerwheel.Timer) error {
	ref, err := parseTimerID(tm.ID)
	if err != nil {
		e.fires.WithLabelValues("stale").Inc()
		e.opt.Logger.Warn("dropping timer", "timer_id", tm.ID, "err", err)
		return nil
	}
	for range fireAttempts {
		t, err := e.opt.Tickets.Ticket(ctx, ref.no)
		if errors.Is(err, bot.ErrNotFound) {
			e.fires.WithLabelValues("stale").Inc()
			return nil
		}
		if err != nil {
			e.fires.WithLabelValues("error").Inc()
			return err
		}
		timeline, err := e.opt.Tickets.Timeline(ctx, ref.no)
		if err != nil {
			e.fires.WithLabelValues("error").Inc()
			return err
		}
		if !e.current(t, timeline, tm) {
			e.fires.WithLabelValues("stale").Inc()
			return nil
		}
		now := e.opt.Clock.Now()
		act, err := e.decide(ctx, t, timeline, ref, now)
		if err != nil {
			e.fires.WithLabelValues("error").Inc()
			return err
		}
		if act.empty() {
			e.fires.WithLabelValues("stale").Inc()
			return nil
		}
		stored, err := e.opt.Tickets.UpdateTicket(ctx, ref.no, func(cur *bot.Ticket, timeline []bot.Event) (bot.Effects, error) {
			if cur.Version != t.Version {
				return bot.Effects{}, errChanged
			}
			evs, err := cur.Step(SLA{Policy: e.opt.SLA}, timeline, act.changes...)
			return bot.Effects{Events: evs, Messages: act.messages}, err
		})
		if errors.Is(err, errChanged) {
			continue
		}
		if err != nil {
			e.fires.WithLabelValues("error").Inc()
			return fmt.Errorf("escalation %s: %w", tm.ID, err)
		}
		e.fires.WithLabelValues("acted").Inc()
		e.count(act)
		e.place(ctx, stored, act.pages)
		return nil
	}
	e.fires.WithLabelValues("error").Inc()
	return fmt.Errorf("escalation %s: ticket kept changing", tm.ID)
}

// current reports whether the ticket still wants tm as it is.
func (e *Engine) current(t *bot.Ticket, timeline []bot.Event, tm timerwheel.Timer) bool {
	for _, w := range e.plan(t, timeline) {
		if w.ID == tm.ID {
			return bytes.Equal(w.Payload, tm.Payload) && w.Due.UnixMilli() <= tm.Due.UnixMilli()+1 &&
				w.Due.UnixMilli() >= tm.Due.UnixMilli()-1
		}
	}
	return false
}

func (e *Engine) count(a action) {
	for _, c := range a.changes {
		switch c.Kind {
		case bot.EventBreached:
			e.breaches.WithLabelValues(string(c.Clock)).Inc()
		case bot.EventReminded:
			e.reminders.WithLabelValues(string(c.Clock)).Inc()
		case bot.EventEscalated:
			e.escalations.WithLabelValues(strconv.Itoa(c.Level)).Inc()
		}
	}
}

// decide works out what a current timer does. It reads the roster and the
// directory, which must happen outside the update's transaction.
func (e *Engine) decide(ctx context.Context, t *bot.Ticket, timeline []bot.Event, ref timerRef, now time.Time) (action, error) {
	var a action
	oc, err := e.opt.Roster.OnCall(ctx, now)
	if err != nil {
		return a, fmt.Errorf("on call: %w", err)
	}
	ward := t.WardCode
	if w, err := e.opt.Directory.Ward(ctx, t.WardCode); err == nil {
		ward = w.Name
	}
	f := map[string]any{"no": t.No, "ward": ward, "priority": t.Priority}
	level := 0
	if ref.clock == "" {
		level = ref.level
		waited := now.Sub(waitingSince(t, timeline))
		f["waited"] = waited
		f["reason"] = e.opt.Texts.Text("sla.reason.unacknowledged", f)
		if waited < time.Minute {
			f["reason"] = e.opt.Texts.Text("sla.reason.urgent", f)
		}
	} else {
		in := Input(t, timeline)
		d := e.opt.SLA.Deadlines(in)
		f["clock"] = ref.clock
		f["percent"] = ref.pct
		due := map[sla.Clock]time.Time{sla.ClockAck: d.Ack, sla.ClockResolve: d.Resolve, sla.ClockOnSite: d.OnSite}[sla.Clock(ref.clock)]
		f["due"] = due.In(e.opt.Location).Format("01-02 15:04")
		owner, err := e.owner(ctx, t, oc)
		if err != nil {
			return a, err
		}
		if ref.pct < 100 {
			// After an outage a clock's later points may be due too; only the
			// latest is worth telling.
			if laterDue(d.Points, sla.Clock(ref.clock), ref.pct, now) {
				return a, nil
			}
			f["reason"] = e.opt.Texts.Text("sla.reason.reminder", f)
			detail := e.opt.Texts.Text("sla.detail.reminded", f)
			a.changes = append(a.changes, bot.Change{Kind: bot.EventReminded, Actor: bot.ActorSystem, At: now, Clock: ref.clock, Text: detail})
			if owner != nil {
				a.messages = append(a.messages, e.text(t, "remind/"+string(ref.clock)+"/"+strconv.Itoa(ref.pct)+"/"+f["due"].(string), owner,
					e.opt.Texts.Text("sla.msg.reminder", f)))
			}
		} else {
			l := e.opt.SLA.Late(in, sla.Clock(ref.clock), now)
			f["late"] = l
			f["reason"] = e.opt.Texts.Text("sla.reason.breach", f)
			if late(t.Late, ref.clock) == 0 {
				a.changes = append(a.changes, bot.Change{Kind: bot.EventBreached, Actor: bot.ActorSystem, At: now, Clock: ref.clock, Late: l,
					Text: e.opt.Texts.Text("sla.detail.breached", f)})
				text := e.opt.Texts.Text("sla.msg.breached", f)
				for _, p := range []*bot.Person{owner, oc.Lead} {
					if p != nil {
						a.messages = append(a.messages, e.text(t, "breach/"+string(ref.clock), p, text))
					}
				}
			}
		}
		level = e.opt.Policy.pointLevel(ref.pct)
	}
	if l, _ := e.opt.Policy.level(level); level > t.EscalationLevel && !silenced(t, l) {
		if err := e.escalate(ctx, &a, t, oc, level, f, now); err != nil {
			return a, err
		}
	}
	return a, nil
}

// escalate adds the escalation to level, its WeCom card and its pages.
func (e *Engine) escalate(ctx context.Context, a *action, t *bot.Ticket, oc bot.OnCall, level int, f map[string]any, now time.Time) error {
	l, _ := e.opt.Policy.level(level)
	target, gap, err := e.target(ctx, t, oc, l.To)
	if err != nil {
		return err
	}
	f["level"] = level
	f["name"] = "—"
	if target != nil {
		f["name"] = displayName(target)
	}
	detail := e.opt.Texts.Text("sla.detail.escalated", f)
	if gap {
		detail += e.opt.Texts.Text("sla.detail.roster_gap", f)
	}
	a.changes = append(a.changes, bot.Change{Kind: bot.EventEscalated, Actor: bot.ActorSystem, At: now, Level: level, Text: detail})
	if target == nil {
		e.pageFails.WithLabelValues("no_target").Inc()
		e.opt.Logger.Error("escalation reaches nobody: no lead configured", "ticket", t.No, "level", level)
		return nil
	}
	step := "L" + strconv.Itoa(level)
	card := &bot.Card{TaskID: t.No + "-" + step, Title: e.opt.Texts.Text("sla.card.title", f), Body: e.opt.Texts.Text("sla.card.body", f)}
	if t.Status == bot.StatusNew {
		card.Buttons = []bot.Button{{Key: "ack:" + t.No, Text: e.opt.Texts.Text("sla.card.ack", nil)}}
	}
	card.Buttons = append(card.Buttons, bot.Button{Key: "arrive:" + t.No, Text: e.opt.Texts.Text("sla.card.arrive", nil)},
		bot.Button{Key: "resolve:" + t.No, Text: e.opt.Texts.Text("sla.card.resolve", nil)})
	a.messages = append(a.messages, bot.Outgoing{Key: t.No + "/escalate/" + step + "/" + target.UserID, TicketNo: t.No,
		ToUsers: []string{target.UserID}, Card: card, Kind: bot.KindBreach})
	f["channel"] = "wecom"
	a.changes = append(a.changes, bot.Change{Kind: bot.EventPaged, Actor: bot.ActorSystem, At: now,
		Text: e.opt.Texts.Text("sla.detail.paged", mergeFields(f, map[string]any{"outcome": "queued", "provider": "wecom"}))})
	if len(l.Channels) > 0 {
		a.pages = append(a.pages, pageReq{key: step, level: level, person: target, channels: l.Channels,
			text: e.opt.Texts.Text("sla.page.text", f)})
	}
	return nil
}

// owner is who works on the ticket: the assignee, else the on-call primary,
// else the lead.
func (e *Engine) owner(ctx context.Context, t *bot.Ticket, oc bot.OnCall) (*bot.Person, error) {
	p, _, err := e.target(ctx, t, oc, ToPrimary)
	return p, err
}

// target resolves an escalation target; gap reports the lead standing in
// for a roster gap.
func (e *Engine) target(ctx context.Context, t *bot.Ticket, oc bot.OnCall, to Target) (p *bot.Person, gap bool, err error) {
	switch to {
	case ToPrimary:
		if t.AssigneeID != "" {
			p, err := e.opt.Directory.Person(ctx, t.AssigneeID)
			if err == nil && p.Active {
				return p, false, nil
			}
			if err != nil && !errors.Is(err, bot.ErrNotFound) {
				return nil, false, err
			}
		}
		if oc.Primary != nil {
			return oc.Primary, false, nil
		}
		return oc.Lead, true, nil
	case ToBackup:
		if oc.Backup != nil {
			return oc.Backup, false, nil
		}
		return oc.Lead, oc.Primary == nil, nil
	}
	return oc.Lead, false, nil
}

func (e *Engine) text(t *bot.Ticket, what string, to *bot.Person, body string) bot.Outgoing {
	return bot.Outgoing{Key: t.No + "/" + what + "/" + to.UserID, TicketNo: t.No, ToUsers: []string{to.UserID},
		Format: bot.FormatText, Text: body, Kind: bot.KindBreach}
}

// laterDue reports whether a later point of clock c is due by now.
func laterDue(points []sla.Point, c sla.Clock, pct int, now time.Time) bool {
	return slices.ContainsFunc(points, func(p sla.Point) bool { return p.Clock == c && p.Percent > pct && !p.At.After(now) })
}

func displayName(p *bot.Person) string {
	if p.Name != "" {
		return p.Name
	}
	return p.UserID
}

func mergeFields(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
