// Package warroom is the coordinated response to a hospital-wide or P1
// fault (tender 二.2 "紧急故障或者影响范围较大的故障需协调人员进行处理", 二.4
// 应急响应团队): the emergency team is paged all at once, a war-room group
// chat is opened for the ticket (the team, the lead and the reporting
// ward's head nurse), its card and timeline are posted there, each member's
// first action is recorded as joining, and the fallback plan (备用方案) is
// sent to the affected wards and recorded as such. It follows the feed of
// committed changes and speaks only through the outbox.
package warroom

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"weibao/bot"
)

// Texts is the message catalogue (catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Options are the service's dependencies.
type Options struct {
	Tickets   bot.TicketStore
	Outbox    bot.Outbox
	SLA       bot.Deadliner
	Directory bot.Directory
	Texts     Texts
	Clock     bot.Clock
	Location  *time.Location
	Logger    *slog.Logger
	// Team is the emergency response team (emergency.team), Lead the
	// project lead, HeadNurses each ward's head nurse (ward code → user id).
	Team       []string
	Lead       string
	HeadNurses map[string]string
}

// Service opens and follows war rooms.
type Service struct{ opt Options }

// New checks the required dependencies and fills defaults.
func New(opt Options) (*Service, error) {
	if opt.Tickets == nil || opt.Outbox == nil || opt.SLA == nil || opt.Directory == nil || opt.Texts == nil {
		return nil, errors.New("warroom: Tickets, Outbox, SLA, Directory and Texts are required")
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{opt: opt}, nil
}

// Needs reports whether a ticket calls for a war room.
func Needs(t *bot.Ticket) bool { return t.Priority == bot.P1 || t.Scope == bot.ScopeHospital }

// ChatID is the war room's group chat id: WeCom takes at most 32 letters
// and digits, and the ticket number makes it one per ticket, so a create
// retried by the outbox finds its own chat.
func ChatID(no string) string { return "wr" + strings.ReplaceAll(no, "-", "") }

// errNothing ends an update that found nothing left to do.
var errNothing = errors.New("nothing to do")

// Committed is the service's subscription to storage's feed.
func (s *Service) Committed(ctx context.Context, c bot.Committed) {
	if c.Ticket == nil {
		return
	}
	var err error
	switch {
	case has(c.Timeline, bot.EventWarRoom):
		err = s.follow(ctx, c)
	case Needs(c.Ticket) && c.Ticket.Status.Open():
		err = s.Open(ctx, c.Ticket.No)
	}
	if err != nil {
		s.opt.Logger.Error("war room", "ticket_no", c.Ticket.No, "err", err)
	}
}

func has(tl []bot.Event, k bot.EventKind) bool {
	return slices.ContainsFunc(tl, func(e bot.Event) bool { return e.Kind == k })
}

// members are who the war room holds: the team, the lead, the ward's head
// nurse; each once, the lead first (the chat's owner).
func (s *Service) members(t *bot.Ticket) []string {
	var out []string
	for _, u := range append([]string{s.opt.Lead}, append(slices.Clone(s.opt.Team), s.opt.HeadNurses[t.WardCode])...) {
		if u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// Open opens the ticket's war room once: the page to the whole team (one
// message to all of them, so nobody waits on another), the group chat with
// the ticket's card and timeline, and the war_room event, in one
// transaction.
func (s *Service) Open(ctx context.Context, no string) error {
	// Loaded before the transaction: with SQLite the pool has one connection.
	ppl, wards, err := s.load(ctx)
	if err != nil {
		return err
	}
	_, err = s.opt.Tickets.UpdateTicket(ctx, no, func(t *bot.Ticket, tl []bot.Event) (bot.Effects, error) {
		if has(tl, bot.EventWarRoom) || !Needs(t) || !t.Status.Open() {
			return bot.Effects{}, errNothing
		}
		members := s.members(t)
		if len(members) < 2 {
			s.opt.Logger.Warn("war room not opened: a WeCom group needs 2 members (emergency.team, oncall.lead)", "ticket_no", no)
			return bot.Effects{}, errNothing
		}
		names := make([]string, len(members))
		for i, u := range members {
			names[i] = ppl.name(u)
		}
		evs, err := t.Step(s.opt.SLA, tl, bot.Change{Kind: bot.EventWarRoom, Actor: bot.ActorSystem, At: s.opt.Clock.Now(),
			Text: strings.Join(names, "、")})
		if err != nil {
			return bot.Effects{}, err
		}
		f := s.fields(t, ppl, wards)
		chat := truncate(s.text("warroom.name", f), 50)
		f["chat"], f["members"] = chat, strings.Join(names, "、")
		var lines []string
		for _, e := range append(slices.Clone(tl), evs...) {
			lines = append(lines, s.line(e, ppl))
		}
		f["timeline"] = strings.Join(lines, "\n")
		msgs := []bot.Outgoing{{Key: "warroom/" + no + "/open", TicketNo: no, ToChat: ChatID(no), AppChat: true,
			CreateChat: &bot.ChatSpec{Name: chat, Owner: members[0], Members: members},
			Format:     bot.FormatMarkdown, Text: s.text("warroom.card", f)}}
		if len(s.opt.Team) > 0 {
			msgs = append(msgs, bot.Outgoing{Key: "warroom/" + no + "/page", TicketNo: no, ToUsers: slices.Clone(s.opt.Team),
				Format: bot.FormatText, Text: s.text("warroom.page", f)})
		}
		return bot.Effects{Events: evs, Messages: msgs}, nil
	})
	if errors.Is(err, errNothing) {
		return nil
	}
	return err
}

// follow posts a war-room ticket's new events in its chat, and records the
// members who acted for the first time and the fallback plan sent to the
// affected wards.
func (s *Service) follow(ctx context.Context, c bot.Committed) error {
	t := c.Ticket
	ppl, wards, err := s.load(ctx)
	if err != nil {
		return err
	}
	var posts []bot.Outgoing
	for _, e := range c.Events {
		if e.Kind == bot.EventWarRoom {
			continue // the opening card holds it
		}
		posts = append(posts, bot.Outgoing{Key: fmt.Sprintf("warroom/%s/ev/%d", t.No, e.ID), TicketNo: t.No,
			ToChat: ChatID(t.No), AppChat: true, Format: bot.FormatText, Text: s.line(e, ppl)})
	}
	if len(posts) > 0 {
		// Not in the change's transaction: the chat is a view of the
		// timeline, which the database keeps whatever happens here.
		if err := s.opt.Outbox.Enqueue(ctx, posts...); err != nil {
			return err
		}
	}
	if len(s.joiners(t, c.Timeline)) == 0 && !s.fallbackDue(c.Timeline) {
		return nil
	}
	_, err = s.opt.Tickets.UpdateTicket(ctx, t.No, func(t *bot.Ticket, tl []bot.Event) (bot.Effects, error) {
		now := s.opt.Clock.Now()
		var cs []bot.Change
		for _, u := range s.joiners(t, tl) {
			cs = append(cs, bot.Change{Kind: bot.EventJoined, Actor: bot.ActorSystem, At: now, Text: u})
		}
		var msgs []bot.Outgoing
		if s.fallbackDue(tl) && t.Status.Open() {
			var names []string
			for _, w := range affected(t, wards) {
				names = append(names, w.Name)
				if w.ChatID == t.ChatID {
					continue // the reporters' group had it from 备用方案 itself
				}
				msgs = append(msgs, bot.Outgoing{Key: fmt.Sprintf("warroom/%s/fallback/%d/%s", t.No, lastID(tl, bot.EventWorkaround), w.Code),
					TicketNo: t.No, ToChat: w.ChatID, Format: bot.FormatText,
					Text: s.text("warroom.fallback", map[string]any{"no": t.No, "ward": wardName(wards, t.WardCode), "workaround": t.Workaround})})
			}
			if len(names) > 0 {
				cs = append(cs, bot.Change{Kind: bot.EventFallbackSent, Actor: bot.ActorSystem, At: now, Text: strings.Join(names, "、")})
			}
		}
		if len(cs) == 0 {
			return bot.Effects{}, errNothing
		}
		evs, err := t.Step(s.opt.SLA, tl, cs...)
		return bot.Effects{Events: evs, Messages: msgs}, err
	})
	if errors.Is(err, errNothing) {
		return nil
	}
	return err
}

// joiners are the members who acted on the ticket and have no joined event yet.
func (s *Service) joiners(t *bot.Ticket, tl []bot.Event) []string {
	members := s.members(t)
	var out []string
	for _, e := range tl {
		if e.Kind == bot.EventJoined {
			out = slices.DeleteFunc(out, func(u string) bool { return u == e.Detail })
			members = slices.DeleteFunc(members, func(u string) bool { return u == e.Detail })
			continue
		}
		if slices.Contains(members, e.Actor) && !slices.Contains(out, e.Actor) {
			out = append(out, e.Actor)
		}
	}
	return out
}

// fallbackDue reports a workaround not yet sent to the wards.
func (s *Service) fallbackDue(tl []bot.Event) bool {
	w, f := lastID(tl, bot.EventWorkaround), lastID(tl, bot.EventFallbackSent)
	return w > 0 && indexOf(tl, w) > indexOf(tl, f)
}

func lastID(tl []bot.Event, k bot.EventKind) int64 {
	for i := len(tl) - 1; i >= 0; i-- {
		if tl[i].Kind == k {
			return tl[i].ID
		}
	}
	return 0
}

func indexOf(tl []bot.Event, id int64) int {
	if id == 0 {
		return -1
	}
	return slices.IndexFunc(tl, func(e bot.Event) bool { return e.ID == id })
}

// affected are the wards a fault reaches that have a group chat: every ward
// for a hospital-wide fault, else the reporting ward.
func affected(t *bot.Ticket, wards []bot.Ward) []bot.Ward {
	return slices.DeleteFunc(slices.Clone(wards), func(w bot.Ward) bool {
		return w.ChatID == "" || (t.Scope != bot.ScopeHospital && w.Code != t.WardCode)
	})
}

func (s *Service) text(key string, f map[string]any) string { return s.opt.Texts.Text(key, f) }

type people map[string]string // user id → name

func (p people) name(id string) string {
	if n := p[id]; n != "" {
		return n
	}
	return id
}

func (s *Service) people(ctx context.Context) (people, error) {
	out := people{bot.ActorSystem: s.text("warroom.system", nil)}
	for _, r := range []bot.Role{bot.RoleNurse, bot.RoleEngineer, bot.RoleLead, bot.RoleAdmin} {
		ps, err := s.opt.Directory.People(ctx, r)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.UserID] = p.Name
		}
	}
	return out, nil
}

func wardName(wards []bot.Ward, code string) string {
	for _, w := range wards {
		if w.Code == code {
			return w.Name
		}
	}
	return code
}

// load reads the roster's names and the wards.
func (s *Service) load(ctx context.Context) (people, []bot.Ward, error) {
	ppl, err := s.people(ctx)
	if err != nil {
		return nil, nil, err
	}
	wards, err := s.opt.Directory.Wards(ctx)
	return ppl, wards, err
}

func (s *Service) fields(t *bot.Ticket, ppl people, wards []bot.Ward) map[string]any {
	return map[string]any{"no": t.No, "priority": t.Priority, "ward": wardName(wards, t.WardCode), "reporter": ppl.name(t.ReporterID),
		"description": t.Description,
		"class":       s.text("msg.class", map[string]any{"priority": t.Priority, "scope": t.Scope, "severity": t.Severity})}
}

// line is one timeline event as the war room reads it.
func (s *Service) line(e bot.Event, ppl people) string {
	detail := e.Detail
	if e.Kind == bot.EventJoined {
		detail = ppl.name(detail)
	}
	if detail != "" {
		detail = "：" + detail
	}
	return s.text("warroom.line", map[string]any{"at": e.At.In(s.opt.Location).Format("15:04"), "who": ppl.name(e.Actor),
		"kind": s.text("kind."+string(e.Kind), nil), "detail": detail})
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
