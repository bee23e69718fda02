// Package ticketing is the use-case layer of weibao: reporting a fault and
// every action on a ticket (acknowledge, arrive, resolve, confirm…). Each
// action is authorised by roster role, goes through the ticket's one state
// machine (bot.Ticket.Apply) inside store.UpdateTicket, recomputes the SLA
// deadlines, and writes the messages it causes (replies, pages, @-mentions,
// card updates) to the outbox in the same transaction. What follows a commit
// (timers, outbox wake-up, fault analyses) subscribes to storage's feed.
package ticketing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"
	"unicode"

	"weibao/bot"
	"weibao/catalog"
)

// Store is what ticketing needs from the database (storage.DB).
type Store interface {
	bot.TicketStore
	// CreateTicketFunc numbers t, then builds its effects with fn in the
	// creating transaction.
	CreateTicketFunc(ctx context.Context, t *bot.Ticket, fn func(t *bot.Ticket) (bot.Effects, error)) error
	// Reporters returns the reporter and everyone linked to the ticket.
	Reporters(ctx context.Context, no string) ([]string, error)
	// ReportedTickets lists tickets a person reported or was linked to.
	ReportedTickets(ctx context.Context, userID string, statuses ...bot.Status) ([]*bot.Ticket, error)
	// RedrawableCards lists the ticket's 1:1 cards still pending or sent
	// since the given time that no typed command has redrawn yet.
	RedrawableCards(ctx context.Context, no string, since time.Time) ([]bot.Outgoing, error)
}

// Classifier turns the five dimensions into priority, SLA class and urgency
// (classify.Rules).
type Classifier interface {
	Classify(c bot.Classification) (bot.Classification, string)
	WithPriority(c bot.Classification, p bot.Priority) bot.Classification
}

// Options are the service's dependencies.
type Options struct {
	Store      Store
	Directory  bot.Directory
	SLA        bot.Deadliner
	Roster     bot.Roster
	Classifier Classifier
	Catalog    *catalog.Catalog
	Clock      bot.Clock
	Location   *time.Location // for the times people read; default Asia/Shanghai
	Logger     *slog.Logger
	// Hours is the SLA calendar's working time: a P3/P4 reported outside it
	// waits for the morning without an @ in the ward group. Nil: always working.
	Hours Hours
}

// Hours is the working-time calendar (calendar.Calendar).
type Hours interface {
	// Next returns the first working instant at or after t.
	Next(t time.Time) time.Time
}

// Service runs the use cases.
type Service struct{ opt Options }

// New checks the required dependencies.
func New(opt Options) (*Service, error) {
	if opt.Store == nil || opt.Directory == nil || opt.SLA == nil || opt.Roster == nil || opt.Classifier == nil || opt.Catalog == nil {
		return nil, errors.New("ticketing: Store, Directory, SLA, Roster, Classifier and Catalog are required")
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			return nil, err
		}
		opt.Location = loc
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{opt: opt}, nil
}

// Catalog returns the text catalogue the service renders with.
func (s *Service) Catalog() *catalog.Catalog { return s.opt.Catalog }

// Classifier returns the classification rules in use.
func (s *Service) Classifier() Classifier { return s.opt.Classifier }

func (s *Service) text(key string, f map[string]any) string { return s.opt.Catalog.Text(key, f) }

// IntakeInput is a fault report, complete enough to ticket.
type IntakeInput struct {
	Reporter    string
	ChatID      string // the group it came from; "" for 1:1
	WardCode    string
	Category    string
	Description string
	// Class carries the five dimensions; the classifier sets the rest.
	Class       bot.Classification
	Attachments []bot.Attachment
	// Note is added to the reported event's timeline (e.g. "超时自动登记").
	Note string
	// Triage marks Class as the bot's guess for an engineer to confirm
	// (待分诊): no phone rings for it until he does.
	Triage bool
	// ReplyTo is the message the ticket answers (reply routing); nil for none.
	ReplyTo *bot.Message
	// Unconfirmed marks what the reporter has not answered yet: a fast-path
	// ticket exists before its questions, and its messages say 未确认 there
	// instead of the assumption the classifier used.
	Unconfirmed Unconfirmed
	// ByPhone is a fault an engineer logs for a ward that phoned it in
	// (电话报修): he is the reporter, shown as taking the call.
	ByPhone bool
}

// Unconfirmed names the questions not answered yet.
type Unconfirmed struct{ Scope, Category, Severity bool }

// people is a name lookup loaded before a transaction.
type people map[string]bot.Person

func (p people) name(id string) string {
	if x, ok := p[id]; ok && x.Name != "" {
		return x.Name
	}
	return id
}

func (s *Service) people(ctx context.Context) (people, error) {
	all, err := s.opt.Directory.People(ctx, "")
	if err != nil {
		return nil, err
	}
	m := people{}
	for _, p := range all {
		m[p.UserID] = p
	}
	return m, nil
}

// Intake (报修) creates and classifies a ticket and pages the on-call engineer
// (level 0: a card with 接单/到场/已解决 and an @-mention in the ward group),
// all in the creating transaction, then tells the reporter the number, the
// classification in plain words, who is coming and by when.
func (s *Service) Intake(ctx context.Context, in IntakeInput) (*bot.Ticket, error) {
	now := s.opt.Clock.Now()
	class, reason := s.opt.Classifier.Classify(in.Class)
	ward, err := s.opt.Directory.Ward(ctx, in.WardCode)
	wardName := in.WardCode
	if err == nil {
		wardName = ward.Name
	}
	cat := s.category(ctx, in.Category)
	ppl, err := s.people(ctx)
	if err != nil {
		return nil, err
	}
	oc, err := s.opt.Roster.OnCall(ctx, now)
	if err != nil {
		// A broken roster must not stop the report: the lead is paged by
		// the escalation engine's later levels, and the ticket exists.
		s.opt.Logger.Error("on-call lookup failed", "err", err)
	}
	engineer := oc.Primary
	if engineer == nil {
		engineer = oc.Lead
	}
	t, reported, err := bot.NewTicket(bot.Ticket{ReporterID: in.Reporter, WardCode: in.WardCode, ChatID: in.ChatID,
		Category: in.Category, Description: in.Description, Classification: class, Triage: in.Triage}, in.Reporter, now)
	if err != nil {
		return nil, err
	}
	if in.ByPhone {
		in.Note = strings.TrimSpace(s.text("msg.phone_note", map[string]any{"ward": wardName}) + "\n" + in.Note)
	}
	if in.Note != "" {
		reported.Detail = strings.TrimSpace(reported.Detail + "\n" + in.Note)
	}
	// Night rule: a P3/P4 that is not 7×24 waits for working hours; nobody is
	// @-mentioned in the ward group at 3 a.m. for it, and the engineer on
	// call then is told in the morning hand-over (Morning).
	morning, night := s.morning(class, now)
	err = s.opt.Store.CreateTicketFunc(ctx, t, func(t *bot.Ticket) (bot.Effects, error) {
		reported.TicketNo = t.No
		var cs []bot.Change
		for _, a := range in.Attachments {
			cs = append(cs, bot.Change{Kind: bot.EventAttached, Actor: in.Reporter, At: now, Text: a.Kind + " " + a.URL})
		}
		if engineer != nil {
			cs = append(cs, bot.Change{Kind: bot.EventPaged, Actor: bot.ActorSystem, At: now, Text: s.text("sla.detail.paged",
				map[string]any{"channel": "wecom", "name": ppl.name(engineer.UserID), "outcome": "queued", "provider": "wecom"})})
		}
		evs, err := t.Step(s.opt.SLA, []bot.Event{reported}, cs...)
		fx := bot.Effects{Events: append([]bot.Event{reported}, evs...)}
		if err != nil {
			return fx, err
		}
		f := s.fields(t, ppl)
		f["ward"], f["category"], f["reason"] = wardName, cat.Name, reason
		s.unconfirmed(t, f, in.Unconfirmed)
		if in.ByPhone {
			f["reporter"] = s.text("msg.phone_reporter", f)
		}
		// The nurse's answer.
		key := "msg.reported"
		if engineer == nil {
			key = "msg.reported_no_oncall"
		} else {
			f["engineer"] = engineer.Name
		}
		reply := s.text(key, f)
		if night {
			f["morning"] = s.clock(morning)
			reply += "\n" + s.text("msg.reported_night", f)
		}
		if cat.SelfHelp != "" {
			reply += "\n" + s.text("msg.self_help", map[string]any{"tip": cat.SelfHelp})
		}
		fx.Messages = append(fx.Messages, s.toPerson(t, in.Reporter, in.ReplyTo, "reported", reply))
		if engineer != nil {
			fx.Messages = append(fx.Messages, s.page(t, engineer.UserID, f, "page"))
			if t.ChatID != "" && !night {
				fx.Messages = append(fx.Messages, bot.Outgoing{Key: key4(t, "page_group", engineer.UserID), ToChat: t.ChatID,
					Mentions: []string{engineer.UserID}, Format: bot.FormatText, Text: s.text("msg.page_group", f)})
			}
		}
		return fx, nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// unconfirmed says 未确认 for what the reporter has not answered yet.
func (s *Service) unconfirmed(t *bot.Ticket, f map[string]any, u Unconfirmed) {
	if u.Category {
		f["category"] = s.text("msg.unconfirmed", nil)
	}
	if u.Scope || u.Severity {
		c := map[string]any{"priority": t.Priority, "scope": t.Scope, "severity": t.Severity}
		if u.Scope {
			c["scope"] = "unconfirmed"
		}
		if u.Severity {
			c["severity"] = "unconfirmed"
		}
		f["class"] = s.text("msg.class", c)
	}
}

// page is the level-0 paging card to one engineer.
func (s *Service) page(t *bot.Ticket, userID string, f map[string]any, kind string) bot.Outgoing {
	return bot.Outgoing{Key: key4(t, kind, userID), ToUsers: []string{userID}, Card: &bot.Card{
		TaskID: TaskID(t, kind, userID),
		Title:  s.text("card.page_title", f),
		Body:   t.Description,
		Fields: []bot.CardField{
			{Label: s.text("card.field_no", nil), Value: t.No},
			{Label: s.text("card.field_ward", nil), Value: fmt.Sprint(f["ward"])},
			{Label: s.text("card.field_reporter", nil), Value: fmt.Sprint(f["reporter"])},
			{Label: s.text("card.field_class", nil), Value: fmt.Sprint(f["class"])},
			{Label: s.text("card.field_due", nil), Value: fmt.Sprint(f["due"])},
		},
		Buttons: []bot.Button{
			{Key: "ack:" + t.No, Text: s.text("card.button_ack", nil)},
			{Key: "arrive:" + t.No, Text: s.text("card.button_arrive", nil)},
			{Key: "resolve:" + t.No, Text: s.text("card.button_resolve", nil)},
		},
	}}
}

// TaskID names one paging card. WeCom refuses a task id an app used before
// (errcode 42014), so each card of a ticket (page, repage, transfer,
// escalation; one per recipient) gets its own, within WeCom's alphabet
// [0-9A-Za-z_-@] and 128 bytes. A click carries it back.
func TaskID(t *bot.Ticket, kind, userID string) string {
	id := fmt.Sprintf("weibao-%s-%d-%s-", t.No, t.Version, kind)
	for _, r := range userID {
		if r < 128 && (r == '_' || r == '-' || r == '@' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			id += string(r)
		}
	}
	if len(id) > 128 {
		id = id[:128]
	}
	return id
}

// key4 is an idempotency key unique to one change of one ticket and one
// recipient: a handler retried after a crash queues the same keys again.
func key4(t *bot.Ticket, kind, recipient string) string {
	return fmt.Sprintf("%s/%s/%d/%s", t.No, kind, t.Version, recipient)
}

// toPerson answers one person: in the ticket's group with an @-mention, or
// 1:1; as a reply to replyTo, through its route, unless that is nil.
func (s *Service) toPerson(t *bot.Ticket, userID string, replyTo *bot.Message, kind, text string) bot.Outgoing {
	m := bot.Outgoing{Key: key4(t, kind, userID), Format: bot.FormatText, Text: text}
	if replyTo != nil {
		m.ReplyTo, m.Route = replyTo.ID, replyTo.Route
	}
	if t.ChatID != "" {
		m.ToChat, m.Mentions = t.ChatID, []string{userID}
	} else {
		m.ToUsers = []string{userID}
	}
	return m
}

// toReporters tells everyone who reported the fault: one group message
// @-mentioning them all, plus a direct message to anyone who reported 1:1.
func (s *Service) toReporters(t *bot.Ticket, reporters []string, kind, text string) []bot.Outgoing {
	if t.ChatID != "" {
		return []bot.Outgoing{{Key: key4(t, kind, "group"), ToChat: t.ChatID, Mentions: reporters, Format: bot.FormatText, Text: text}}
	}
	out := make([]bot.Outgoing, len(reporters))
	for i, r := range reporters {
		out[i] = bot.Outgoing{Key: key4(t, kind, r), ToUsers: []string{r}, Format: bot.FormatText, Text: text}
	}
	return out
}

func (s *Service) category(ctx context.Context, code string) bot.Category {
	cats, err := s.opt.Directory.Categories(ctx)
	if err == nil {
		for _, c := range cats {
			if c.Code == code {
				return c
			}
		}
	}
	return bot.Category{Code: code, Name: code}
}

func (s *Service) wardName(ctx context.Context, code string) string {
	if w, err := s.opt.Directory.Ward(ctx, code); err == nil {
		return w.Name
	}
	return code
}

// fields are the template fields every ticket message may use.
func (s *Service) fields(t *bot.Ticket, ppl people) map[string]any {
	f := map[string]any{
		"no": t.No, "priority": t.Priority, "status": t.Status, "scope": t.Scope, "severity": t.Severity,
		"reporter": ppl.name(t.ReporterID), "assignee": ppl.name(t.AssigneeID), "ward": t.WardCode,
		"class":   s.text("msg.class", map[string]any{"priority": t.Priority, "scope": t.Scope, "severity": t.Severity}),
		"ack_due": s.clock(t.Due.Ack), "resolve_due": s.clock(t.Due.Resolve), "onsite_due": s.clock(t.Due.OnSite),
		"due": s.text("msg.due_resolve", map[string]any{"resolve_due": s.clock(t.Due.Resolve)}),
	}
	if !t.Due.Ack.IsZero() && t.AcknowledgedAt.IsZero() {
		f["due"] = s.text("msg.due_pair", map[string]any{"ack_due": s.clock(t.Due.Ack), "resolve_due": s.clock(t.Due.Resolve)})
	}
	if t.Triage {
		f["class"] = s.text("msg.class_triage", map[string]any{"class": f["class"]})
	}
	return f
}

// clock renders a deadline as people read it: "14:35", or "11月27日 09:10"
// when not today.
func (s *Service) clock(at time.Time) string {
	if at.IsZero() {
		return "—"
	}
	now := s.opt.Clock.Now().In(s.opt.Location)
	l := at.In(s.opt.Location)
	if l.YearDay() == now.YearDay() && l.Year() == now.Year() {
		return l.Format("15:04")
	}
	return l.Format("1月2日 15:04")
}

// authorize returns the actor if the roster lets them act on tickets.
func (s *Service) authorize(ctx context.Context, actor string) (*bot.Person, error) {
	p, err := s.opt.Directory.Person(ctx, actor)
	if err != nil || !p.Active || !p.Role.ActsOnTickets() {
		return nil, bot.Errorf(bot.ErrForbidden, "err.engineers_only", nil, "%s may not act on tickets", actor)
	}
	return p, nil
}

// change is one action: it builds the state-machine change from the loaded
// ticket and the messages it causes.
type change struct {
	actor   string
	no      string
	engOnly bool
	build   func(t *bot.Ticket) ([]bot.Change, error)
	msgs    func(t *bot.Ticket, f map[string]any, reporters []string) []bot.Outgoing
	// click is the card button press that asked for the change, if any:
	// its answer redraws the clicked card (see cardDone).
	click *bot.Message
	// card is the catalogue key of the line that replaces the buttons of the
	// ticket's cards when the change is typed instead of clicked (redraw).
	card string
}

func (s *Service) apply(ctx context.Context, c change) (*bot.Ticket, error) {
	if c.engOnly {
		if _, err := s.authorize(ctx, c.actor); err != nil {
			return nil, err
		}
	}
	if !bot.ValidTicketNo(c.no) {
		return nil, bot.Errorf(bot.ErrNotFound, "err.not_found", map[string]any{"no": c.no}, "bad ticket number %q", c.no)
	}
	// Loaded before the transaction: with SQLite the pool has one connection.
	reporters, err := s.opt.Store.Reporters(ctx, c.no)
	if err != nil {
		return nil, err
	}
	ppl, err := s.people(ctx)
	if err != nil {
		return nil, err
	}
	cur, err := s.opt.Store.Ticket(ctx, c.no)
	if err != nil {
		return nil, err
	}
	wardName, catName := s.wardName(ctx, cur.WardCode), s.category(ctx, cur.Category).Name
	var cards []bot.Outgoing
	if c.card != "" && c.click == nil {
		if cards, err = s.opt.Store.RedrawableCards(ctx, c.no, s.now().Add(-cardCodeTTL)); err != nil {
			return nil, err
		}
	}
	t, err := s.opt.Store.UpdateTicket(ctx, c.no, func(t *bot.Ticket, timeline []bot.Event) (bot.Effects, error) {
		changes, err := c.build(t)
		if err != nil {
			return bot.Effects{}, err
		}
		var fx bot.Effects
		if fx.Events, err = t.Step(s.opt.SLA, timeline, changes...); err != nil {
			return bot.Effects{}, err
		}
		if c.msgs != nil {
			f := s.fields(t, ppl)
			f["ward"], f["category"] = wardName, catName
			f["actor"] = ppl.name(c.actor)
			fx.Messages = c.msgs(t, f, reporters)
			if c.click != nil && c.click.Button != nil {
				fx.Messages = append(fx.Messages, s.cardDone(t, c.click, f))
			} else if c.card != "" {
				fx.Messages = append(fx.Messages, s.redraw(t, cards, s.text(c.card, f))...)
			}
		}
		return fx, nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (s *Service) now() time.Time { return s.opt.Clock.Now() }

// cardDone redraws the clicked paging card with a line saying who did what
// instead of its buttons, in the click's answer (the click's response code
// for the app, the click's own reply for the robot).
func (s *Service) cardDone(t *bot.Ticket, click *bot.Message, f map[string]any) bot.Outgoing {
	key := "card.acked"
	if t.Status == bot.StatusOnSite {
		key = "card.arrived"
	}
	return bot.Outgoing{Key: key4(t, "card", click.From), ReplyTo: click.ID, Route: click.Route,
		CardUpdate: &bot.CardUpdate{TaskID: click.Button.TaskID, Replaced: s.text(key, f)}}
}

// cardCodeTTL is how long the response code message/send returns for a card
// can update it (doc 94945).
const cardCodeTTL = 72 * time.Hour

// redraw replaces the buttons of the ticket's cards with text after an
// action typed as a command (or a phone key press): each update uses the
// card's own message/send response code, which the sender looks up by task
// id. A code works once, so each card is redrawn by one command at most;
// cards older than the code's 72 h stay as they are.
func (s *Service) redraw(t *bot.Ticket, cards []bot.Outgoing, text string) []bot.Outgoing {
	out := make([]bot.Outgoing, 0, len(cards))
	for _, c := range cards {
		out = append(out, bot.Outgoing{Key: fmt.Sprintf("%s/redraw/%d", c.Key, t.Version), TicketNo: t.No, ToUsers: c.ToUsers,
			CardUpdate: &bot.CardUpdate{TaskID: c.Card.TaskID, UserIDs: c.ToUsers, Replaced: text}})
	}
	return out
}

// Acknowledge is 接单 typed as a command (also the phone key press).
func (s *Service) Acknowledge(ctx context.Context, actor, no string) (*bot.Ticket, error) {
	return s.acknowledge(ctx, actor, no, nil)
}

func (s *Service) acknowledge(ctx context.Context, actor, no string, click *bot.Message) (*bot.Ticket, error) {
	return s.apply(ctx, change{actor: actor, no: no, engOnly: true, click: click, card: "card.acked",
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			return []bot.Change{{Kind: bot.EventAcknowledged, Actor: actor, At: s.now()}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			return s.toReporters(t, rep, "ack", s.text("msg.acknowledged", f))
		}})
}

// Press is a click on a paging card's 接单 or 到场 button (click.Button.Key
// "ack:<no>" or "arrive:<no>"): the action, and the card redrawn in the
// click's answer, in one transaction.
func (s *Service) Press(ctx context.Context, actor string, click bot.Message) (*bot.Ticket, error) {
	if click.Button == nil {
		return nil, bot.Errorf(bot.ErrInvalid, "cmd.unknown_button", nil, "press without a button")
	}
	action, no, _ := strings.Cut(click.Button.Key, ":")
	switch action {
	case "ack":
		return s.acknowledge(ctx, actor, no, &click)
	case "arrive":
		return s.arrive(ctx, actor, no, click.Location, &click)
	}
	return nil, bot.Errorf(bot.ErrInvalid, "cmd.unknown_button", nil, "unknown button %q", click.Button.Key)
}

// Arrive is 到场, optionally with the engineer's location: the distance from
// the ward's campus is recorded on the timeline.
func (s *Service) Arrive(ctx context.Context, actor, no string, loc *bot.Location) (*bot.Ticket, error) {
	return s.arrive(ctx, actor, no, loc, nil)
}

func (s *Service) arrive(ctx context.Context, actor, no string, loc *bot.Location, click *bot.Message) (*bot.Ticket, error) {
	detail := ""
	if loc != nil {
		if t, err := s.opt.Store.Ticket(ctx, no); err == nil {
			if w, err := s.opt.Directory.Ward(ctx, t.WardCode); err == nil && w.CampusCode != "" {
				if c, err := s.opt.Directory.Campus(ctx, w.CampusCode); err == nil {
					detail = s.text("msg.distance", map[string]any{"campus": c.Name, "m": int(math.Round(Distance(c.Lat, c.Lng, loc.Lat, loc.Lng)))})
				}
			}
		}
	}
	return s.apply(ctx, change{actor: actor, no: no, engOnly: true, click: click, card: "card.arrived",
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			return []bot.Change{{Kind: bot.EventArrived, Actor: actor, At: s.now(), Text: detail}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			return s.toReporters(t, rep, "arrive", s.text("msg.arrived", f))
		}})
}

// Distance is the great-circle distance in metres.
func Distance(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371000.0
	rad := math.Pi / 180
	dlat, dlng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlng/2)*math.Sin(dlng/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

// RemoteFailed is 远程无法解决: the 2 h on-site clock starts.
func (s *Service) RemoteFailed(ctx context.Context, actor, no string) (*bot.Ticket, error) {
	return s.apply(ctx, change{actor: actor, no: no, engOnly: true,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			var cs []bot.Change
			if t.Status == bot.StatusNew {
				cs = append(cs, bot.Change{Kind: bot.EventAcknowledged, Actor: actor, At: s.now()})
			}
			return append(cs, bot.Change{Kind: bot.EventRemoteFailed, Actor: actor, At: s.now()}), nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			return s.toReporters(t, rep, "onsite", s.text("msg.remote_failed", f))
		}})
}

// Workaround is 备用方案: sent to the reporters and the ward group.
func (s *Service) Workaround(ctx context.Context, actor, no, text string) (*bot.Ticket, error) {
	return s.apply(ctx, change{actor: actor, no: no, engOnly: true,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			var cs []bot.Change
			if t.Status == bot.StatusNew {
				cs = append(cs, bot.Change{Kind: bot.EventAcknowledged, Actor: actor, At: s.now()})
			}
			return append(cs, bot.Change{Kind: bot.EventWorkaround, Actor: actor, At: s.now(), Text: text}), nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			f["text"] = t.Workaround
			return s.toReporters(t, rep, "workaround", s.text("msg.workaround", f))
		}})
}

// Resolve is 已解决 with cause and solution; every reporter is asked to
// confirm (1 已解决 / 2 仍有问题).
func (s *Service) Resolve(ctx context.Context, actor, no, cause, solution string) (*bot.Ticket, error) {
	t, err := s.apply(ctx, change{actor: actor, no: no, engOnly: true, card: "card.resolved",
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			return []bot.Change{{Kind: bot.EventResolved, Actor: actor, At: s.now(), Cause: cause, Solution: solution}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			f["cause"], f["solution"] = t.Cause, t.Solution
			return s.toReporters(t, rep, "resolve", s.text("msg.resolved", f))
		}})
	return t, err
}

// findEngineer resolves "eng2", "@eng2" or "刘工" to an active engineer or lead.
func (s *Service) findEngineer(ctx context.Context, who string) (*bot.Person, error) {
	who = strings.TrimPrefix(strings.TrimSpace(who), "@")
	var match *bot.Person
	for _, role := range []bot.Role{bot.RoleEngineer, bot.RoleLead} {
		ps, err := s.opt.Directory.People(ctx, role)
		if err != nil {
			return nil, err
		}
		for i := range ps {
			if ps[i].UserID == who || ps[i].Name == who {
				match = &ps[i]
			}
		}
	}
	if match == nil {
		return nil, bot.Errorf(bot.ErrNotFound, "err.no_such_engineer", map[string]any{"who": who}, "no engineer %q", who)
	}
	return match, nil
}

// Transfer is 转派: the new assignee gets the paging card.
func (s *Service) Transfer(ctx context.Context, actor, no, to, reason string) (*bot.Ticket, error) {
	p, err := s.findEngineer(ctx, to)
	if err != nil {
		return nil, err
	}
	ppl, err := s.people(ctx) // before the transaction: with SQLite the pool has one connection
	if err != nil {
		return nil, err
	}
	return s.apply(ctx, change{actor: actor, no: no, engOnly: true,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			text := s.text("tl.assigned", map[string]any{"to": ppl.name(p.UserID)})
			if t.AssigneeID != "" {
				text = s.text("tl.reassigned", map[string]any{"from": ppl.name(t.AssigneeID), "to": ppl.name(p.UserID)})
			}
			return []bot.Change{{Kind: bot.EventAssigned, Actor: actor, At: s.now(), Assignee: p.UserID, Text: withReason(s, text, reason)}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			out := []bot.Outgoing{s.page(t, p.UserID, f, "transfer")}
			if t.ChatID != "" {
				out = append(out, bot.Outgoing{Key: key4(t, "transfer_group", p.UserID), ToChat: t.ChatID, Mentions: []string{p.UserID},
					Format: bot.FormatText, Text: s.text("msg.transferred", f)})
			}
			return out
		}})
}

// Escalate is 升级: the next escalation level, and the lead is told.
func (s *Service) Escalate(ctx context.Context, actor, no, reason string) (*bot.Ticket, error) {
	oc, _ := s.opt.Roster.OnCall(ctx, s.now())
	return s.apply(ctx, change{actor: actor, no: no, engOnly: true,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			text := s.text("tl.escalated", map[string]any{"level": t.EscalationLevel + 1})
			return []bot.Change{{Kind: bot.EventEscalated, Actor: actor, At: s.now(), Level: t.EscalationLevel + 1, Text: withReason(s, text, reason)}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			f["reason"], f["level"] = reason, t.EscalationLevel
			var out []bot.Outgoing
			for _, p := range []*bot.Person{oc.Lead, oc.Backup} {
				if p != nil && p.UserID != actor {
					out = append(out, s.page(t, p.UserID, f, "escalate"))
					out = append(out, bot.Outgoing{Key: key4(t, "escalate_note", p.UserID), ToUsers: []string{p.UserID},
						Format: bot.FormatText, Text: s.text("msg.escalated", f)})
				}
			}
			return out
		}})
}

// Reclassify is 改级 to a priority, with a reason.
func (s *Service) Reclassify(ctx context.Context, actor, no string, p bot.Priority, reason string) (*bot.Ticket, error) {
	return s.apply(ctx, change{actor: actor, no: no, engOnly: true,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			if reason == "" { // checked here: the timeline text around it is never empty
				return nil, bot.Errorf(bot.ErrInvalid, "err.change_needs", map[string]any{"field": "reason"}, "reclassify needs a reason")
			}
			return []bot.Change{{Kind: bot.EventReclassified, Actor: actor, At: s.now(), Text: s.reclassText(t, p, "", "", nil, reason),
				Class: s.opt.Classifier.WithPriority(t.Classification, p)}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			f["reason"] = reason
			return s.toReporters(t, rep, "reclass", s.text("msg.reclassified", f))
		}})
}

// reclassText words a reclassification for the timeline: "优先级 P3 → P1，
// 类别 其他 → 监护设备数据未采集：reason". An empty category or ward is
// unchanged; names maps their codes to names (nil: the codes show).
func (s *Service) reclassText(t *bot.Ticket, p bot.Priority, category, ward string, names map[string]string, reason string) string {
	name := func(code string) string { return cmp.Or(names[code], code) }
	parts := []string{s.text("tl.priority", map[string]any{"from": t.Priority, "to": p})}
	if p == t.Priority {
		parts[0] = s.text("tl.priority_kept", map[string]any{"priority": p})
	}
	if category != "" && category != t.Category {
		parts = append(parts, s.text("tl.category", map[string]any{"from": name(t.Category), "to": name(category)}))
	}
	if ward != "" && ward != t.WardCode {
		parts = append(parts, s.text("tl.ward", map[string]any{"from": name(t.WardCode), "to": name(ward)}))
	}
	return withReason(s, strings.Join(parts, "，"), reason)
}

// labels maps every category's and ward's code to its name.
func (s *Service) labels(ctx context.Context) map[string]string {
	m := map[string]string{}
	if cats, err := s.opt.Directory.Categories(ctx); err == nil {
		for _, c := range cats {
			m[c.Code] = c.Name
		}
	}
	if wards, err := s.opt.Directory.Wards(ctx); err == nil {
		for _, w := range wards {
			m[w.Code] = w.Name
		}
	}
	return m
}

func withReason(s *Service, text, reason string) string {
	if reason == "" {
		return text
	}
	return s.text("tl.with_reason", map[string]any{"text": text, "reason": reason})
}

// Note is 备注: a timeline entry, no message.
func (s *Service) Note(ctx context.Context, actor, no, text string) (*bot.Ticket, error) {
	return s.apply(ctx, change{actor: actor, no: no, engOnly: true,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			return []bot.Change{{Kind: bot.EventNoted, Actor: actor, At: s.now(), Text: text}}, nil
		}})
}

// Answers are what a reporter said after her fast-path ticket was created;
// an empty field was not answered and keeps the ticket's value.
type Answers struct {
	WardCode string
	Scope    bot.Scope
	Category string
	Severity bot.Severity
}

// Amend completes a fast-path ticket with the reporter's later answers
// (ward, scope, category, clinical impact): one reclassification through
// the state machine, deadlines recomputed, nobody paged again. The
// priority never drops below the ticket's (a fast-path P1 stays P1), so a
// nurse's later "仅使用不便" cannot slow the response the fast path began.
// Answers that change nothing change nothing. She is told the result (in
// answer to replyTo) when she just answered, or when the ticket changed.
func (s *Service) Amend(ctx context.Context, reporter, no string, replyTo *bot.Message, a Answers) (*bot.Ticket, error) {
	if err := s.reporterOnly(ctx, reporter, no); err != nil {
		return nil, err
	}
	var cat bot.Category
	if a.Category != "" {
		cat = s.category(ctx, a.Category)
	}
	wardName := ""
	if a.WardCode != "" {
		wardName = s.wardName(ctx, a.WardCode)
	}
	names := s.labels(ctx) // before the transaction: with SQLite the pool has one connection
	var changed, kept bool
	return s.apply(ctx, change{actor: reporter, no: no,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			changed, kept = false, false
			in := t.Classification
			if a.Scope != "" {
				in.Scope = a.Scope
			}
			if a.Severity != "" {
				in.Severity = a.Severity
			}
			if a.Category != "" && a.Category != t.Category && cat.Type != "" {
				in.Type, in.Difficulty = cat.Type, cat.Difficulty
			}
			class, _ := s.opt.Classifier.Classify(in)
			if class.Priority > t.Priority { // "P3" > "P1": less urgent
				class, kept = s.opt.Classifier.WithPriority(class, t.Priority), true
			}
			if class == t.Classification && (a.Category == "" || a.Category == t.Category) && (a.WardCode == "" || a.WardCode == t.WardCode) {
				return nil, nil
			}
			changed = true
			return []bot.Change{{Kind: bot.EventReclassified, Actor: reporter, At: s.now(),
				Text:  s.reclassText(t, class.Priority, a.Category, a.WardCode, names, s.text("msg.amend_reason", nil)),
				Class: class, Category: a.Category, WardCode: a.WardCode}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			if !changed && replyTo == nil {
				return nil
			}
			if wardName != "" {
				f["ward"] = wardName
			}
			if cat.Name != "" {
				f["category"] = cat.Name
			}
			text := s.text("msg.amended", f)
			if kept {
				text += "\n" + s.text("msg.amend_kept", f)
			}
			return []bot.Outgoing{s.toPerson(t, reporter, replyTo, "amend", text)}
		}})
}

// Attach keeps a photo or file a reporter sent after the ticket existed.
func (s *Service) Attach(ctx context.Context, reporter, no string, as []bot.Attachment) (*bot.Ticket, error) {
	return s.apply(ctx, change{actor: reporter, no: no,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			var cs []bot.Change
			for _, a := range as {
				cs = append(cs, bot.Change{Kind: bot.EventAttached, Actor: reporter, At: s.now(), Text: a.Kind + " " + a.URL})
			}
			return cs, nil
		}})
}

// Link adds a nurse who reported the same fault again; she hears the
// resolution like the first reporter.
func (s *Service) Link(ctx context.Context, reporter, no string, replyTo *bot.Message) (*bot.Ticket, error) {
	return s.apply(ctx, change{actor: reporter, no: no,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			return []bot.Change{{Kind: bot.EventLinked, Actor: reporter, At: s.now(), Text: reporter}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			return []bot.Outgoing{s.toPerson(t, reporter, replyTo, "linked", s.text("msg.linked", f))}
		}})
}

// isReporter is the check for the reporter's own actions.
func isReporter(rep []string, user string) bool {
	for _, r := range rep {
		if r == user {
			return true
		}
	}
	return false
}

func (s *Service) reporterOnly(ctx context.Context, user, no string) error {
	rep, err := s.opt.Store.Reporters(ctx, no)
	if err != nil {
		return err
	}
	if user != bot.ActorSystem && !isReporter(rep, user) {
		return bot.Errorf(bot.ErrForbidden, "err.reporters_only", map[string]any{"no": no}, "%s did not report %s", user, no)
	}
	return nil
}

// Confirm is the reporter's "1 已解决": the ticket is confirmed and closed,
// and a 1–5 rating is asked once. actor bot.ActorSystem auto-confirms.
// replyTo is the message that answered (the reply then uses its route).
func (s *Service) Confirm(ctx context.Context, actor, no string, replyTo *bot.Message) (*bot.Ticket, error) {
	if err := s.reporterOnly(ctx, actor, no); err != nil {
		return nil, err
	}
	return s.apply(ctx, change{actor: actor, no: no,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			text := ""
			if actor == bot.ActorSystem {
				text = s.text("tl.auto_confirmed", nil)
			}
			now := s.now()
			return []bot.Change{{Kind: bot.EventConfirmed, Actor: actor, At: now, Text: text},
				{Kind: bot.EventClosed, Actor: actor, At: now}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			if actor == bot.ActorSystem {
				return s.toReporters(t, rep, "autoconfirm", s.text("msg.auto_confirmed", f))
			}
			var out []bot.Outgoing
			if t.AssigneeID != "" {
				out = append(out, bot.Outgoing{Key: key4(t, "confirm_eng", t.AssigneeID), ToUsers: []string{t.AssigneeID},
					Format: bot.FormatText, Text: s.text("msg.confirmed_engineer", f)})
			}
			return append(out, s.toPerson(t, actor, replyTo, "confirm", s.text("msg.confirmed", f)))
		}})
}

// Reopen is the reporter's "2 仍有问题": the resolve clock starts again and
// the engineer is paged again.
func (s *Service) Reopen(ctx context.Context, actor, no, reason string, replyTo *bot.Message) (*bot.Ticket, error) {
	if err := s.reporterOnly(ctx, actor, no); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = s.text("msg.reopen_reason", nil)
	}
	return s.apply(ctx, change{actor: actor, no: no,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			return []bot.Change{{Kind: bot.EventReopened, Actor: actor, At: s.now(), Text: reason}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			out := []bot.Outgoing{s.toPerson(t, actor, replyTo, "reopen", s.text("msg.reopened", f))}
			if t.AssigneeID != "" {
				page := s.page(t, t.AssigneeID, f, "repage")
				page.Card.Title = s.text("card.reopen_title", f)
				out = append(out, page)
				if t.ChatID != "" {
					out = append(out, bot.Outgoing{Key: key4(t, "reopen_group", t.AssigneeID), ToChat: t.ChatID,
						Mentions: []string{t.AssigneeID}, Format: bot.FormatText, Text: s.text("msg.reopen_group", f)})
				}
			}
			return out
		}})
}

// Rate records the reporter's 1–5 satisfaction, once.
func (s *Service) Rate(ctx context.Context, actor, no string, rating int) (*bot.Ticket, error) {
	if err := s.reporterOnly(ctx, actor, no); err != nil {
		return nil, err
	}
	return s.apply(ctx, change{actor: actor, no: no,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			return []bot.Change{{Kind: bot.EventRated, Actor: actor, At: s.now(), Rating: rating}}, nil
		}})
}

// AutoConfirm confirms every ticket resolved longer than window ago whose
// reporters never answered, and records that it was automatic. It returns
// how many it confirmed; a ticket that fails is retried on the next sweep.
func (s *Service) AutoConfirm(ctx context.Context, window time.Duration) (int, error) {
	ts, err := s.opt.Store.Tickets(ctx, bot.TicketFilter{Statuses: []bot.Status{bot.StatusResolved}})
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, t := range ts {
		if t.ResolvedAt.IsZero() || s.now().Sub(t.ResolvedAt) < window {
			continue
		}
		if _, err := s.Confirm(ctx, bot.ActorSystem, t.No, nil); err != nil {
			errs = append(errs, fmt.Errorf("auto-confirm %s: %w", t.No, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// Withdraw is 撤销 / 取消 <no>. The reporter withdraws her own ticket while
// nobody has accepted it: it is cancelled (its timers stop with it) and the
// paged engineer's cards say so. Once an engineer has accepted it, only he
// knows whether work is under way: the request goes to him as a message and
// a timeline note, and his own 撤销 <no> cancels it. An engineer or the lead
// may withdraw any active ticket.
func (s *Service) Withdraw(ctx context.Context, actor, no string, replyTo *bot.Message) (*bot.Ticket, error) {
	p, err := s.opt.Directory.Person(ctx, actor)
	engineer := err == nil && p.Active && p.Role.ActsOnTickets()
	if !engineer {
		if err := s.reporterOnly(ctx, actor, no); err != nil {
			return nil, err
		}
	}
	cur, err := s.Ticket(ctx, no)
	if err != nil {
		return nil, err
	}
	if !engineer && (cur.Status != bot.StatusNew || !cur.AcknowledgedAt.IsZero()) {
		return s.askWithdraw(ctx, actor, no, replyTo)
	}
	reason := s.text("msg.withdraw_reason", nil)
	if engineer {
		reason = s.text("msg.withdraw_reason_engineer", nil)
	}
	return s.apply(ctx, change{actor: actor, no: no, card: "card.withdrawn",
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			return []bot.Change{{Kind: bot.EventCancelled, Actor: actor, At: s.now(), Text: reason}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			out := s.toReporters(t, rep, "withdraw", s.text("msg.withdrawn", f))
			if t.AssigneeID != "" && t.AssigneeID != actor {
				out = append(out, bot.Outgoing{Key: key4(t, "withdraw_eng", t.AssigneeID), ToUsers: []string{t.AssigneeID},
					Format: bot.FormatText, Text: s.text("msg.withdrawn_engineer", f)})
			}
			return out
		}})
}

// askWithdraw passes a reporter's 撤销 of an accepted ticket to its engineer.
func (s *Service) askWithdraw(ctx context.Context, reporter, no string, replyTo *bot.Message) (*bot.Ticket, error) {
	return s.apply(ctx, change{actor: reporter, no: no,
		build: func(t *bot.Ticket) ([]bot.Change, error) {
			if !t.Status.Active() {
				return nil, bot.Errorf(bot.ErrInvalid, "err.transition", map[string]any{"no": t.No, "status": t.Status, "kind": bot.EventCancelled},
					"ticket %s: cannot withdraw when %s", t.No, t.Status)
			}
			return []bot.Change{{Kind: bot.EventNoted, Actor: reporter, At: s.now(), Text: s.text("msg.withdraw_requested_note", nil)}}, nil
		},
		msgs: func(t *bot.Ticket, f map[string]any, rep []string) []bot.Outgoing {
			out := []bot.Outgoing{s.toPerson(t, reporter, replyTo, "withdraw_ask", s.text("msg.withdraw_asked", f))}
			if t.AssigneeID != "" {
				out = append(out, bot.Outgoing{Key: key4(t, "withdraw_ask_eng", t.AssigneeID), ToUsers: []string{t.AssigneeID},
					Format: bot.FormatText, Text: s.text("msg.withdraw_request", f)})
			}
			return out
		}})
}
