package records

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"weibao/bot"
)

// spec is what a kind records: its flow's words and its fields in order
// (each field is one question; its prompt is rec.q.<kind>.<field>, its
// column header rec.field.<kind>.<field>).
type spec struct {
	words    []string
	fields   []string
	choices  map[string][]string // field → catalogue keys of its choices
	noteFor  map[string]string   // field → the choice (key) that needs a note
	optional []string
	// problem is the choice (key) of the field whose answer files a ticket.
	problem map[string]string
	// exportOnly marks a kind another package keeps (upgrades: bot/upgrade):
	// exported here with the rest, never created or asked here.
	exportOnly bool
}

var (
	okBad = []string{"rec.choice.ok", "rec.choice.bad"}
	specs = map[bot.RecordKind]spec{
		bot.KindUpgrade: {exportOnly: true, fields: []string{"version", "content", "test", "risk", "backup", "rollback",
			"modules", "wards", "window", "approval", "approved_by", "result", "impact"}},
		bot.KindBug:         {exportOnly: true, fields: []string{"description", "urgency", "deadline"}},
		bot.KindRequirement: {exportOnly: true, fields: []string{"description", "effort", "included", "confirmation", "confirmed_by", "deadline"}},
		bot.KindInspection: {words: []string{"巡检", "inspect"},
			fields: []string{"content", "result", "anomalies", "feedback", "solution"}, optional: []string{"feedback", "solution"}},
		bot.KindPerformance: {words: []string{"性能分析", "性能优化", "perf"},
			fields:  []string{"findings", "bottlenecks", "actions", "restart"},
			choices: map[string][]string{"restart": {"rec.choice.restart_yes", "rec.choice.restart_no"}},
			noteFor: map[string]string{"restart": "rec.choice.restart_yes"}, optional: []string{"bottlenecks"}},
		bot.KindBackupCheck: {words: []string{"备份检查", "backup"},
			fields:  []string{"logs", "maintenance"},
			choices: map[string][]string{"logs": okBad}, noteFor: map[string]string{"logs": "rec.choice.bad"},
			problem: map[string]string{"logs": "rec.choice.bad"}, optional: []string{"maintenance"}},
		bot.KindRestoreDrill: {words: []string{"恢复演练", "restore"},
			fields:  []string{"content", "duration", "result"},
			choices: map[string][]string{"result": {"rec.choice.success", "rec.choice.failure"}},
			noteFor: map[string]string{"result": "rec.choice.failure"}},
		bot.KindEmergencyDrill: {words: []string{"应急演练", "drill"},
			fields:  []string{"scenario", "participants", "duration", "result", "improvements"},
			choices: map[string][]string{"result": {"rec.choice.success", "rec.choice.partial", "rec.choice.failure"}},
			noteFor: map[string]string{"result": "rec.choice.failure"}, optional: []string{"improvements"}},
	}
)

// itemPrefix starts an inspection's per-item fields: item.<code> is the
// answer ("正常", "异常：磁盘 92%"), item.<code>.ticket the ticket filed.
const itemPrefix = "item."

func isItemKey(k string) bool { return strings.HasPrefix(k, itemPrefix) }

// FlowName is the dialogue's name of kind's flow.
func FlowName(kind bot.RecordKind) string { return "record_" + string(kind) }

// Flows are the engineers' record flows by name, for the dialogue.
func (s *Service) Flows() map[string]bot.Flow {
	out := map[string]bot.Flow{}
	for kind := range specs {
		if specs[kind].exportOnly {
			continue
		}
		out[FlowName(kind)] = bot.Flow{Words: specs[kind].words,
			Begin: func(ctx context.Context, p *bot.Person, arg string) (bot.FlowStart, error) {
				return s.begin(ctx, kind, p, arg)
			},
			Done: func(ctx context.Context, res bot.FlowResult) (string, error) { return s.done(ctx, kind, res) }}
	}
	return out
}

func (s *Service) begin(ctx context.Context, kind bot.RecordKind, p *bot.Person, arg string) (bot.FlowStart, error) {
	if !p.Role.ActsOnTickets() {
		return bot.FlowStart{}, bot.Errorf(bot.ErrForbidden, "err.engineers_only", nil, "records: %s may not keep records", p.UserID)
	}
	if kind == bot.KindInspection {
		return s.beginInspection(ctx, arg)
	}
	sp := specs[kind]
	var qs []bot.FlowQuestion
	for _, f := range sp.fields {
		qs = append(qs, s.question(kind, sp, f))
	}
	subject := ""
	if kind == bot.KindPerformance {
		q := s.Quarter(s.now())
		subject = fmt.Sprintf("%dQ%d", q.From.Year(), (int(q.From.Month())-1)/3+1)
	}
	return bot.FlowStart{Subject: subject, Questions: qs,
		Intro: s.text("rec.intro", map[string]any{"kind": s.text("rec.kind."+string(kind), nil)})}, nil
}

func (s *Service) question(kind bot.RecordKind, sp spec, field string) bot.FlowQuestion {
	q := bot.FlowQuestion{Key: field, Prompt: s.text("rec.q."+string(kind)+"."+field, nil), Optional: slices.Contains(sp.optional, field)}
	for _, c := range sp.choices[field] {
		q.Choices = append(q.Choices, s.text(c, nil))
	}
	if c, ok := sp.noteFor[field]; ok {
		q.NoteFor = []string{s.text(c, nil)}
	}
	return q
}

// beginInspection picks the system (the one named, else the first not yet
// inspected this month) and its checklist, with monitoring's figures.
func (s *Service) beginInspection(ctx context.Context, arg string) (bot.FlowStart, error) {
	if len(s.opt.Systems) == 0 {
		return bot.FlowStart{}, bot.Errorf(bot.ErrInvalid, "rec.insp.no_systems", nil, "records: no systems to inspect")
	}
	missing, err := s.uninspected(ctx, s.now())
	if err != nil {
		return bot.FlowStart{}, err
	}
	var sys System
	switch {
	case arg != "":
		var ok bool
		if sys, ok = s.system(arg); !ok {
			return bot.FlowStart{}, bot.Errorf(bot.ErrInvalid, "rec.insp.unknown_system", map[string]any{"system": arg, "systems": s.systemList()},
				"records: unknown system %q", arg)
		}
	case len(missing) == 0:
		return bot.FlowStart{}, bot.Errorf(bot.ErrConflict, "rec.insp.month_done", map[string]any{"systems": s.systemList()}, "records: month inspected")
	default:
		sys = missing[0]
	}
	figures := s.figures(ctx, sys)
	var qs []bot.FlowQuestion
	ok, bad := s.text("rec.choice.ok", nil), s.text("rec.choice.bad", nil)
	for _, it := range sys.Items {
		q := bot.FlowQuestion{Key: itemPrefix + it, Choices: []string{ok, bad}, NoteFor: []string{bad}}
		name := s.text("rec.item."+it, nil)
		if fig, has := figures[it]; has {
			q.Note = fig
			q.Prompt = s.text("rec.q.inspection.item_figure", map[string]any{"item": name, "figure": fig})
		} else {
			q.Prompt = s.text("rec.q.inspection.item", map[string]any{"item": name})
		}
		qs = append(qs, q)
	}
	sp := specs[bot.KindInspection]
	for _, f := range []string{"feedback", "solution"} {
		qs = append(qs, s.question(bot.KindInspection, sp, f))
	}
	var names []string
	for _, m := range missing {
		names = append(names, m.Name)
	}
	intro := s.text("rec.insp.intro", map[string]any{"system": sys.Name, "n": len(qs), "month": s.now().In(s.opt.Location).Format("2006-01"),
		"missing": strings.Join(names, "、")})
	if figures["error"] != "" {
		intro += "\n" + s.text("rec.insp.figures_failed", nil)
	} else if len(figures) > 0 {
		intro += "\n" + s.text("rec.insp.figures", nil)
	}
	return bot.FlowStart{Subject: sys.Code, Intro: intro, Questions: qs}, nil
}

// figures reads CPU, memory and disk from monitoring, as notes to confirm;
// "error" says the read failed (the checklist is asked plainly then).
func (s *Service) figures(ctx context.Context, sys System) map[string]string {
	out := map[string]string{}
	if s.opt.Metrics == nil || sys.Instance == "" {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u, err := s.opt.Metrics.Usage(ctx, sys.Instance, sys.Windows)
	if err != nil {
		s.opt.Logger.Warn("inspection figures", "system", sys.Code, "err", err)
		out["error"] = err.Error()
		return out
	}
	for it, v := range map[string]*float64{"cpu": u.CPU, "memory": u.Memory, "disk": u.Disk} {
		if v != nil && slices.Contains(sys.Items, it) {
			out[it] = s.text("rec.figure."+it, map[string]any{"pct": fmt.Sprintf("%.1f", *v)})
		}
	}
	return out
}

func (s *Service) systemList() string {
	out := make([]string, len(s.opt.Systems))
	for i, x := range s.opt.Systems {
		out[i] = fmt.Sprintf("%d %s", i+1, x.Name)
	}
	return strings.Join(out, " / ")
}

// uninspected are the systems with no complete inspection in t's month.
func (s *Service) uninspected(ctx context.Context, t time.Time) ([]System, error) {
	m := s.Month(t)
	rs, err := s.opt.Store.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindInspection},
		Statuses: []bot.RecordStatus{bot.RecordDone}, From: m.From, To: m.To})
	if err != nil {
		return nil, err
	}
	var out []System
	for _, sys := range s.opt.Systems {
		if !slices.ContainsFunc(rs, func(r *bot.Record) bool { return r.Subject == sys.Code }) {
			out = append(out, sys)
		}
	}
	return out, nil
}

// answer renders a choice answer with its note: "异常：磁盘 92%".
func answer(a map[string]string, key string) string {
	v, note := a[key], a[key+bot.NoteSuffix]
	if note == "" {
		return v
	}
	return v + "：" + note
}

// done stores a finished flow as a complete record, files a ticket for
// each problem it found (linked both ways) and tells the lead. It is
// idempotent on the finishing message: a retry finds the record under its
// key and files only what is not filed yet.
func (s *Service) done(ctx context.Context, kind bot.RecordKind, res bot.FlowResult) (string, error) {
	in := bot.Record{Kind: kind, Subject: res.Subject, Key: "flow/" + res.UserID + "/" + res.MsgID, Fields: map[string]string{}}
	var problems []problem
	if kind == bot.KindInspection {
		sys, ok := s.system(res.Subject)
		if !ok {
			return "", bot.Errorf(bot.ErrInvalid, "rec.insp.unknown_system", map[string]any{"system": res.Subject, "systems": s.systemList()},
				"records: system %q is gone", res.Subject)
		}
		problems = s.inspectionFields(sys, res.Answers, in.Fields)
	} else {
		sp := specs[kind]
		for _, f := range sp.fields {
			in.Fields[f] = answer(res.Answers, f)
			if c, ok := sp.problem[f]; ok && res.Answers[f] == s.text(c, nil) {
				problems = append(problems, problem{key: f, typ: bot.TypeServer,
					what: s.text("rec.field."+string(kind)+"."+f, nil), note: res.Answers[f+bot.NoteSuffix]})
			}
		}
	}
	r, err := s.create(ctx, res.UserID, in, nil)
	if err != nil {
		return "", err
	}
	kindName := s.text("rec.kind."+string(kind), nil)
	subject := ""
	if n := s.subjectName(r); n != "" {
		subject = s.text("rec.subject", map[string]any{"name": n})
	}
	for _, p := range problems {
		field := p.key + ".ticket"
		if kind != bot.KindInspection {
			field = "ticket"
		}
		if r.Fields[field] != "" {
			continue // filed before a retry
		}
		desc := s.text("rec.ticket", map[string]any{"kind": kindName, "no": r.No, "subject": subject, "what": p.what, "note": p.note})
		no, err := s.opt.FileTicket(ctx, Anomaly{Reporter: res.UserID, Type: p.typ, Description: desc, Key: p.key})
		if err != nil {
			return "", fmt.Errorf("record %s: file ticket for %s: %w", r.No, p.key, err)
		}
		if r, err = s.step(ctx, res.UserID, r.No, nil,
			bot.RecordChange{Kind: bot.RecordLinked, TicketNo: no, Text: p.key},
			bot.RecordChange{Kind: bot.RecordUpdated, Fields: map[string]string{field: no}}); err != nil {
			return "", err
		}
	}
	f := map[string]any{"kind": kindName, "no": r.No, "subject": subject, "tickets": strings.Join(r.Tickets, "、"), "n": len(problems)}
	reply := s.text("rec.saved", f)
	if len(r.Tickets) > 0 {
		reply += "\n" + s.text("rec.saved_tickets", f)
	}
	if kind == bot.KindInspection {
		if missing, err := s.uninspected(ctx, s.now()); err == nil {
			var names []string
			for _, m := range missing {
				if m.Code != r.Subject {
					names = append(names, m.Name)
				}
			}
			if len(names) > 0 {
				reply += "\n" + s.text("rec.insp.next", map[string]any{"missing": strings.Join(names, "、")})
			}
		}
	}
	if r.Status != bot.RecordOpen {
		return reply, nil
	}
	var lead []bot.Outgoing
	if len(problems) > 0 {
		f["problems"] = problemList(problems)
		key := "rec.lead_problems"
		if kind == bot.KindBackupCheck {
			key = "rec.backup.lead_failed" // escalated at once (一.3)
		}
		if lead, err = s.toLead(ctx, "record/"+r.No+"/lead", s.text(key, f)); err != nil {
			return "", err
		}
	}
	if _, err := s.step(ctx, res.UserID, r.No, func(*bot.Record) []bot.Outgoing { return lead },
		bot.RecordChange{Kind: bot.RecordCompleted}); err != nil && !errors.Is(err, bot.ErrInvalid) {
		return "", err
	}
	return reply, nil
}

// problem is something a record found that needs a ticket.
type problem struct {
	key, what, note string
	typ             bot.FaultType
}

func problemList(ps []problem) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.what + "：" + p.note
	}
	return strings.Join(out, "；")
}

// inspectionFields fills an inspection's fields from its checklist answers
// (the tender's 内容, 结果, 异常情况, 反馈, 解决方案) and returns the anomalies.
func (s *Service) inspectionFields(sys System, a map[string]string, fs map[string]string) []problem {
	bad := s.text("rec.choice.bad", nil)
	var names []string
	var ps []problem
	for _, it := range sys.Items {
		k := itemPrefix + it
		if _, ok := a[k]; !ok {
			continue
		}
		name := s.text("rec.item."+it, nil)
		names = append(names, name)
		fs[k] = answer(a, k)
		if a[k] == bad {
			ps = append(ps, problem{key: k, what: name, note: a[k+bot.NoteSuffix], typ: sys.Type})
		}
	}
	fs["content"] = strings.Join(names, "、")
	fs["result"] = s.text("rec.insp.result", map[string]any{"ok": len(names) - len(ps), "bad": len(ps)})
	fs["anomalies"] = problemList(ps)
	fs["feedback"], fs["solution"] = a["feedback"], a["solution"]
	return ps
}

// subjectName is what a record is about, as people read it.
func (s *Service) subjectName(r *bot.Record) string {
	if sys, ok := s.system(r.Subject); ok && r.Kind == bot.KindInspection {
		return sys.Name
	}
	return r.Subject
}
