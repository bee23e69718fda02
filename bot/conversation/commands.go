package conversation

import (
	"context"
	"strings"
	"time"

	"weibao/bot"
	"weibao/bot/command"
	"weibao/bot/dialog"
)

// button turns a card click into the command it stands for.
func (e *Engine) button(ctx context.Context, person *bot.Person, msg bot.Message, r *replier) error {
	action, no, _ := strings.Cut(msg.Button.Key, ":")
	c := parsed{TicketNo: no}
	switch action {
	case "ack":
		c.Name = command.Ack
	case "arrive":
		c.Name = command.Arrive
	case "upgrade_approve":
		c = parsed{Name: command.UpgradeApprove, RecordNo: no}
	case "resolve":
		// A resolve needs its cause and solution, which a button cannot carry.
		if !person.Role.ActsOnTickets() {
			r.say("err.engineers_only", nil)
			return nil
		}
		r.say("cmd.resolve_prompt", map[string]any{"no": no})
		return nil
	default:
		r.say("cmd.unknown_button", nil)
		return nil
	}
	return e.command(ctx, person, msg, c, r)
}

// command runs one parsed command for person.
func (e *Engine) command(ctx context.Context, person *bot.Person, msg bot.Message, c parsed, r *replier) error {
	if c.Name.ActsOnTicket() {
		if !person.Role.ActsOnTickets() {
			r.say("err.engineers_only", nil)
			return nil
		}
		no, err := e.which(ctx, person, msg, c, r)
		if err != nil || no == "" {
			return err
		}
		c.TicketNo = no
		return e.act(ctx, person, msg, c, r)
	}
	switch c.Name {
	case command.Help:
		key := "cmd.help_nurse"
		if person.Role.ActsOnTickets() {
			key = "cmd.help_engineer"
		}
		r.say(key, nil)
		if ws := e.flowWords(); len(ws) > 0 && person.Role.ActsOnTickets() {
			r.say("survey.help_flows", map[string]any{"words": strings.Join(ws, " ")})
		}
	case command.Mine:
		return e.mine(ctx, person, msg, r)
	case command.OnCall:
		return e.onCall(ctx, r)
	case command.Progress:
		return e.progress(ctx, person, msg, c.TicketNo, r)
	case command.Digest:
		return e.digest(ctx, c.Date, r)
	case command.Report:
		if !dialog.Describes(c.Text) {
			r.say("dlg.not_a_report", nil)
			return nil
		}
		return e.startIntake(ctx, person, msg, c.Text, false, r)
	case command.Withdraw:
		return e.withdraw(ctx, person, msg, c, r)
	case command.Phone:
		return e.phoneReport(ctx, person, msg, c, r)
	case command.UpgradeApprove, command.UpgradeDone, command.Versions:
		if e.opt.Upgrades == nil {
			r.say("upgrade.disabled", nil)
			return nil
		}
		text, err := e.opt.Upgrades.Command(ctx, person, c)
		if err != nil {
			return err
		}
		r.raw(text)
	case command.Bug, command.Requirement, command.ConfirmRequirement:
		if e.opt.Register == nil {
			r.say("register.disabled", nil)
			return nil
		}
		text, err := e.opt.Register.Command(ctx, person, c)
		if err != nil {
			return err
		}
		r.raw(text)
	case command.Knowledge:
		if e.opt.Knowledge == nil {
			r.say("kb.disabled", nil)
			return nil
		}
		text, err := e.opt.Knowledge.Command(ctx, person, c)
		if err != nil {
			return err
		}
		r.raw(text)
	default:
		r.say("cmd.unknown", nil)
	}
	return nil
}

// which picks the ticket a command is about: the typed number, else the
// engineer's one active ticket, else the one unclaimed ticket in this
// ward's group (or anywhere, 1:1). Ambiguity is answered, never guessed.
func (e *Engine) which(ctx context.Context, person *bot.Person, msg bot.Message, c parsed, r *replier) (string, error) {
	if c.TicketNo != "" {
		return c.TicketNo, nil
	}
	mine, err := e.opt.Tickets.Active(ctx, person.UserID)
	if err != nil {
		return "", err
	}
	if len(mine) == 1 {
		return mine[0].No, nil
	}
	if len(mine) == 0 {
		ward := ""
		if msg.ChatID != "" {
			if w, err := e.opt.Directory.WardByChat(ctx, msg.ChatID); err == nil {
				ward = w.Code
			}
		}
		free, err := e.opt.Tickets.Unclaimed(ctx, ward)
		if err != nil {
			return "", err
		}
		if len(free) == 1 {
			return free[0].No, nil
		}
		mine = free
	}
	key := "cmd.which_ticket"
	if len(mine) == 0 {
		key = "cmd.no_ticket"
	}
	nos := make([]string, len(mine))
	for i, t := range mine {
		nos[i] = t.No
	}
	r.say(key, map[string]any{"nos": strings.Join(nos, "、"), "example": string(c.Name)})
	return "", nil
}

func (e *Engine) act(ctx context.Context, person *bot.Person, msg bot.Message, c parsed, r *replier) error {
	tk := e.opt.Tickets
	actor, no := person.UserID, c.TicketNo
	var t *bot.Ticket
	var err error
	switch c.Name {
	case command.Ack, command.Arrive:
		if msg.Button != nil {
			// A card click: its answer also redraws the card.
			t, err = tk.Press(ctx, actor, msg)
		} else if c.Name == command.Ack {
			t, err = tk.Acknowledge(ctx, actor, no)
		} else {
			t, err = tk.Arrive(ctx, actor, no, msg.Location)
		}
	case command.OnSite:
		t, err = tk.RemoteFailed(ctx, actor, no)
	case command.Workaround:
		t, err = tk.Workaround(ctx, actor, no, c.Text)
	case command.Resolve:
		t, err = tk.Resolve(ctx, actor, no, c.Cause, c.Solution)
		if err == nil {
			e.askConfirmation(ctx, t)
		}
	case command.Transfer:
		t, err = tk.Transfer(ctx, actor, no, c.Assignee, c.Text)
	case command.Escalate:
		t, err = tk.Escalate(ctx, actor, no, c.Text)
	case command.Reclass:
		t, err = tk.Reclassify(ctx, actor, no, c.Priority, c.Text)
	case command.Note:
		t, err = tk.Note(ctx, actor, no, c.Text)
	}
	if err != nil {
		return err
	}
	r.say("cmd.done."+string(c.Name), map[string]any{"no": t.No, "status": t.Status, "priority": t.Priority})
	return nil
}

func (e *Engine) mine(ctx context.Context, person *bot.Person, msg bot.Message, r *replier) error {
	var ts []*bot.Ticket
	var err error
	if person.Role.ActsOnTickets() {
		ts, err = e.opt.Tickets.Active(ctx, person.UserID)
		if err == nil {
			var free []*bot.Ticket
			if free, err = e.opt.Tickets.Unclaimed(ctx, ""); err == nil {
				ts = append(ts, free...)
			}
		}
	} else {
		ts, err = e.opt.Tickets.Reported(ctx, person.UserID, bot.OpenStatuses...)
	}
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		r.say("cmd.mine_none", nil)
		return nil
	}
	lines := []string{e.text("cmd.mine_head", map[string]any{"n": len(ts)})}
	for _, t := range ts {
		lines = append(lines, e.opt.Tickets.Line(ctx, t))
	}
	r.raw(strings.Join(lines, "\n"))
	return nil
}

func (e *Engine) onCall(ctx context.Context, r *replier) error {
	if e.opt.Roster == nil {
		r.say("msg.not_enabled", nil)
		return nil
	}
	oc, err := e.opt.Roster.OnCall(ctx, e.now())
	if err != nil {
		return err
	}
	name := func(p *bot.Person) string {
		if p == nil {
			return e.text("msg.nobody", nil)
		}
		return p.Name
	}
	r.say("cmd.oncall", map[string]any{"primary": name(oc.Primary), "backup": name(oc.Backup), "lead": name(oc.Lead)})
	return nil
}

// progress answers 进度 or a bare ticket number: anyone in the ticket's ward
// (its group, its nurses), its reporters and every engineer may ask.
func (e *Engine) progress(ctx context.Context, person *bot.Person, msg bot.Message, no string, r *replier) error {
	if no == "" {
		var ts []*bot.Ticket
		var err error
		if person.Role.ActsOnTickets() {
			ts, err = e.opt.Tickets.Active(ctx, person.UserID)
		} else {
			ts, err = e.opt.Tickets.Reported(ctx, person.UserID, bot.OpenStatuses...)
		}
		if err != nil {
			return err
		}
		if len(ts) == 0 {
			r.say("cmd.mine_none", nil)
			return nil
		}
		no = ts[0].No
	}
	t, err := e.opt.Tickets.Ticket(ctx, no)
	if err != nil {
		return err
	}
	if !person.Role.ActsOnTickets() && t.WardCode != e.contextWard(ctx, person, msg.ChatID) && t.WardCode != person.WardCode {
		rep, err := e.opt.Tickets.Reporters(ctx, t.No)
		if err != nil {
			return err
		}
		if !contains(rep, person.UserID) {
			r.say("msg.progress_other_ward", map[string]any{"no": t.No})
			return nil
		}
	}
	r.raw(e.opt.Tickets.Progress(ctx, t))
	return nil
}

func (e *Engine) digest(ctx context.Context, date string, r *replier) error {
	if e.opt.Digester == nil {
		r.say("msg.not_enabled", nil)
		return nil
	}
	day := e.now().In(e.opt.Location).AddDate(0, 0, -1)
	switch date {
	case "", "昨天", "yesterday":
	case "今天", "today":
		day = e.now().In(e.opt.Location)
	default:
		d, err := time.ParseInLocation("2006-01-02", date, e.opt.Location)
		if err != nil {
			r.say("cmd.usage.digest", nil)
			return nil
		}
		day = d
	}
	md, err := e.opt.Digester.Digest(ctx, day)
	if err != nil {
		return err
	}
	r.out = append(r.out, bot.Outgoing{Key: "reply/" + r.msg.ID + "/digest", ReplyTo: r.msg.ID, Route: r.msg.Route, ToChat: r.msg.ChatID,
		ToUsers: direct(r.msg), Format: bot.FormatMarkdown, Text: md})
	return nil
}

func direct(m bot.Message) []string {
	if m.ChatID != "" {
		return nil
	}
	return []string{m.From}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// withdraw is 撤销 / 取消 [no]: a reporter's own ticket (the one she has open
// when she types no number), or for an engineer any ticket (see which).
func (e *Engine) withdraw(ctx context.Context, person *bot.Person, msg bot.Message, c parsed, r *replier) error {
	no := c.TicketNo
	switch {
	case no != "":
	case person.Role.ActsOnTickets():
		n, err := e.which(ctx, person, msg, c, r)
		if err != nil || n == "" {
			return err
		}
		no = n
	default:
		ts, err := e.opt.Tickets.Reported(ctx, person.UserID, bot.ActiveStatuses...)
		if err != nil {
			return err
		}
		switch len(ts) {
		case 0:
			r.say("msg.nothing_to_withdraw", nil)
			return nil
		case 1:
			no = ts[0].No
		default:
			r.say("msg.which_withdraw", map[string]any{"nos": ticketNos(ts)})
			return nil
		}
	}
	t, err := e.opt.Tickets.Withdraw(ctx, person.UserID, no, &msg)
	if err != nil {
		return err
	}
	if person.Role.ActsOnTickets() && t.Status == bot.StatusCancelled {
		r.say("cmd.done.withdraw", map[string]any{"no": t.No})
	}
	return nil
}

// phoneReport is 电话报修 <ward> <text>: the engineer who took the call is
// asked the nurse's questions, for that ward, and is the ticket's reporter.
func (e *Engine) phoneReport(ctx context.Context, person *bot.Person, msg bot.Message, c parsed, r *replier) error {
	if !person.Role.ActsOnTickets() {
		r.say("err.engineers_only", nil)
		return nil
	}
	ws, err := e.opt.Directory.Wards(ctx)
	if err != nil {
		return err
	}
	var ward *bot.Ward
	names := make([]string, len(ws))
	for i := range ws {
		names[i] = ws[i].Name
		if strings.EqualFold(ws[i].Name, c.Ward) || strings.EqualFold(ws[i].Code, c.Ward) {
			ward = &ws[i]
		}
	}
	if ward == nil {
		r.say("msg.phone_unknown_ward", map[string]any{"ward": c.Ward, "options": strings.Join(names, "、")})
		return nil
	}
	caller := *person
	caller.WardCode = ward.Code
	return e.startIntake(ctx, &caller, msg, c.Text, true, r)
}

// stranger takes an unknown sender in a mapped ward group as a reporter of
// that ward, and asks the lead once (the outbox keeps one message per key)
// to add the person to the roster; someone the roster no longer has
// (removed, or gone from her WeCom department) is taken the same way, so a
// ward group never refuses a report. It returns nil when the sender stays
// unknown: a 1:1 message or an unmapped group.
func (e *Engine) stranger(ctx context.Context, msg bot.Message, known *bot.Person, r *replier) *bot.Person {
	if msg.ChatID == "" {
		return nil
	}
	w, err := e.opt.Directory.WardByChat(ctx, msg.ChatID)
	if err != nil {
		return nil
	}
	// Someone no longer on the roster (left the department) is named as the
	// roster knew her; no WeCom user lookup yet: otherwise the user id.
	name := msg.From
	if known != nil {
		name = known.Name
	}
	p := &bot.Person{UserID: msg.From, Name: name, Role: bot.RoleNurse, WardCode: w.Code, Active: true}
	leads, err := e.opt.Directory.People(ctx, bot.RoleLead)
	if err != nil {
		e.opt.Logger.Warn("lead not loaded", "err", err)
		return p
	}
	for _, l := range leads {
		if l.Active {
			r.out = append(r.out, bot.Outgoing{Key: "roster/stranger/" + msg.From + "/" + l.UserID, ToUsers: []string{l.UserID},
				Format: bot.FormatText, Text: e.text("msg.stranger_lead", map[string]any{"user": msg.From, "ward": w.Name})})
			break
		}
	}
	return p
}

// ticketNos lists tickets by number for a "which one?" question.
func ticketNos(ts []*bot.Ticket) string {
	nos := make([]string, len(ts))
	for i, t := range ts {
		nos[i] = t.No
	}
	return strings.Join(nos, "、")
}
