// Package upgrade is the upgrade record (tender 三.3): 升级申请 walks an
// engineer through the pre-upgrade checklist (test, risk assessment, backup,
// rollback plan, affected modules and wards, planned window); the lead is
// told and approves by command (升级批准) before the window; approval sends
// the affected wards a downtime notice ahead of it; 升级完成 records result,
// version and impact. Each upgrade is a record (bot.KindUpgrade) on the one
// record state machine; a system's done upgrades are its version history.
package upgrade

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"weibao/bot"
	"weibao/bot/command"
	"weibao/bot/conversation"
)

// Texts is the message catalogue (catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Options are the service's dependencies.
type Options struct {
	Records   bot.RecordStore
	Directory bot.Directory
	Texts     Texts
	Clock     bot.Clock
	Location  *time.Location
	Logger    *slog.Logger
	Lead      string // approves upgrades (oncall.lead)
}

// Service runs the upgrade use cases.
type Service struct{ opt Options }

// New checks the required dependencies and fills defaults.
func New(opt Options) (*Service, error) {
	if opt.Records == nil || opt.Directory == nil || opt.Texts == nil {
		return nil, errors.New("upgrade: Records, Directory and Texts are required")
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

func (s *Service) text(key string, f map[string]any) string { return s.opt.Texts.Text(key, f) }

// SurveyName names the 升级申请 flow among the conversation's surveys.
const SurveyName = "upgrade"

// Record field keys.
const (
	FieldSystem   = "system"
	FieldVersion  = "version"
	FieldContent  = "content"
	FieldTest     = "test"
	FieldRisk     = "risk"
	FieldBackup   = "backup"
	FieldRollback = "rollback"
	FieldModules  = "modules"
	FieldWards    = "wards"
	FieldWindow   = "window"
	FieldStart    = "window_start"
	FieldEnd      = "window_end"
	FieldApproval = "approval" // pending, approved
	FieldApprover = "approved_by"
	FieldResult   = "result"
	FieldImpact   = "impact"
)

// Survey is the 升级申请 flow for the conversation engine.
func (s *Service) Survey() conversation.Survey {
	return conversation.Survey{Words: []string{"升级申请"}, Begin: s.begin, Done: s.done, Check: s.check}
}

func (s *Service) questions(withSystem bool) []conversation.SurveyQuestion {
	q := func(key string, choices ...string) conversation.SurveyQuestion {
		return conversation.SurveyQuestion{Key: key, Label: s.text("upgrade.label."+key, nil), Prompt: s.text("upgrade.ask."+key, nil), Choices: choices}
	}
	var qs []conversation.SurveyQuestion
	if withSystem {
		qs = append(qs, q(FieldSystem))
	}
	test, backup := q(FieldTest, s.text("upgrade.choice.done", nil)), q(FieldBackup, s.text("upgrade.choice.done", nil))
	test.NoteFor, backup.NoteFor = test.Choices, backup.Choices
	return append(qs, q(FieldVersion), q(FieldContent), test, q(FieldRisk), backup, q(FieldRollback), q(FieldModules),
		q(FieldWards), q(FieldWindow))
}

// begin starts 升级申请 [系统] for an engineer.
func (s *Service) begin(ctx context.Context, person *bot.Person, arg string) (conversation.SurveyStart, error) {
	if !person.Role.ActsOnTickets() {
		return conversation.SurveyStart{}, bot.Errorf(bot.ErrForbidden, "err.engineers_only", nil, "%s may not apply for upgrades", person.UserID)
	}
	return conversation.SurveyStart{Subject: arg, Intro: s.text("upgrade.intro", nil), Questions: s.questions(arg == "")}, nil
}

// check vets the answers that must be machine-read (the window, the
// wards) and takes any version string.
func (s *Service) check(ctx context.Context, key, answer string) (string, bool) {
	switch key {
	case FieldVersion:
		return "", true
	case FieldWindow:
		start, _, ok := ParseWindow(answer, s.opt.Location)
		if !ok {
			return "upgrade.hint.window", true
		}
		if !start.After(s.opt.Clock.Now()) {
			return "upgrade.hint.window_past", true
		}
		return "", true
	case FieldWards:
		if _, err := s.wards(ctx, answer); err != nil {
			return "upgrade.hint.wards", true
		}
		return "", true
	}
	return "", false
}

var windowRE = regexp.MustCompile(`^(\d{4}-\d{1,2}-\d{1,2})\s+(\d{1,2}:\d{2})\s*[-~至到]\s*(?:(\d{4}-\d{1,2}-\d{1,2})\s+)?(\d{1,2}:\d{2})$`)

// ParseWindow reads "2026-12-10 22:00-23:30" (an end before the start is
// the next day) or "2026-12-10 22:00-2026-12-11 01:00" in loc.
func ParseWindow(s string, loc *time.Location) (start, end time.Time, ok bool) {
	m := windowRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return time.Time{}, time.Time{}, false
	}
	start, err1 := time.ParseInLocation("2006-1-2 15:04", m[1]+" "+m[2], loc)
	endDay := m[3]
	if endDay == "" {
		endDay = m[1]
	}
	end, err2 := time.ParseInLocation("2006-1-2 15:04", endDay+" "+m[4], loc)
	if err1 != nil || err2 != nil {
		return time.Time{}, time.Time{}, false
	}
	if !end.After(start) && m[3] == "" {
		end = end.AddDate(0, 0, 1)
	}
	if !end.After(start) || end.Sub(start) > 72*time.Hour {
		return time.Time{}, time.Time{}, false
	}
	return start, end, true
}

// wards reads "全院" or ward names or codes separated by 、，, or spaces.
func (s *Service) wards(ctx context.Context, answer string) ([]bot.Ward, error) {
	all, err := s.opt.Directory.Wards(ctx)
	if err != nil {
		return nil, err
	}
	answer = strings.TrimSpace(answer)
	if answer == "全院" || answer == "所有科室" {
		return all, nil
	}
	var out []bot.Ward
	for _, w := range strings.FieldsFunc(answer, func(r rune) bool { return strings.ContainsRune("、，,;； ", r) }) {
		i := slices.IndexFunc(all, func(x bot.Ward) bool { return x.Name == w || x.Code == w })
		if i < 0 {
			return nil, bot.Errorf(bot.ErrInvalid, "upgrade.hint.wards", nil, "unknown ward %q", w)
		}
		if !slices.ContainsFunc(out, func(x bot.Ward) bool { return x.Code == all[i].Code }) {
			out = append(out, all[i])
		}
	}
	if len(out) == 0 {
		return nil, bot.Errorf(bot.ErrInvalid, "upgrade.hint.wards", nil, "no ward")
	}
	return out, nil
}

// done stores the finished checklist as an upgrade record awaiting the
// lead's approval, and tells the lead. Idempotent on the finishing message.
func (s *Service) done(ctx context.Context, res conversation.SurveyResult) (string, error) {
	a := res.Answers
	system := res.Subject
	if system == "" {
		system = a[FieldSystem]
	}
	start, end, ok := ParseWindow(a[FieldWindow], s.opt.Location)
	if !ok {
		return "", bot.Errorf(bot.ErrInvalid, "upgrade.hint.window", nil, "window %q", a[FieldWindow])
	}
	fields := map[string]string{FieldSystem: system, FieldStart: start.UTC().Format(time.RFC3339), FieldEnd: end.UTC().Format(time.RFC3339)}
	for _, k := range []string{FieldVersion, FieldContent, FieldTest, FieldRisk, FieldBackup, FieldRollback, FieldModules, FieldWards, FieldWindow} {
		fields[k] = a[k]
		if n := a[k+conversation.NoteSuffix]; n != "" {
			fields[k] = a[k] + "：" + n
		}
	}
	r, ev, err := bot.NewRecord(bot.Record{Kind: bot.KindUpgrade, Subject: system, Key: "upgrade/" + res.MsgID, Fields: fields, At: start},
		res.UserID, s.opt.Clock.Now())
	if err != nil {
		return "", err
	}
	err = s.opt.Records.CreateRecord(ctx, r, bot.RecordEffects{Events: []bot.RecordEvent{ev}})
	if errors.Is(err, bot.ErrConflict) {
		r, err = s.opt.Records.RecordByKey(ctx, "upgrade/"+res.MsgID)
	}
	if err != nil {
		return "", err
	}
	if _, err := s.ask(ctx, r.No, res.UserID); err != nil {
		return "", err
	}
	return s.text("upgrade.submitted", s.fields(r)), nil
}

// ask marks the record pending approval and sends the lead the request, once.
func (s *Service) ask(ctx context.Context, no, actor string) (*bot.Record, error) {
	return s.opt.Records.UpdateRecord(ctx, no, func(r *bot.Record, _ []bot.RecordEvent) (bot.RecordEffects, error) {
		if r.Fields[FieldApproval] != "" {
			return bot.RecordEffects{}, errNothing
		}
		evs, err := r.Step(bot.RecordChange{Kind: bot.RecordUpdated, Actor: actor, At: s.opt.Clock.Now(),
			Fields: map[string]string{FieldApproval: "pending"}})
		if err != nil || s.opt.Lead == "" {
			return bot.RecordEffects{Events: evs}, err
		}
		f := s.fields(r)
		card := &bot.Card{TaskID: "weibao-upgrade-" + no, Title: s.text("upgrade.card_title", f), Body: s.text("upgrade.ask_lead", f),
			Buttons: []bot.Button{{Key: "upgrade_approve:" + no, Text: s.text("upgrade.button_approve", nil)}}}
		for _, k := range []string{FieldSystem, FieldVersion, FieldWindow, FieldWards, FieldModules, FieldTest, FieldBackup, FieldRollback, FieldRisk} {
			card.Fields = append(card.Fields, bot.CardField{Label: s.text("upgrade.label."+k, nil), Value: r.Fields[k]})
		}
		return bot.RecordEffects{Events: evs, Messages: []bot.Outgoing{{Key: "upgrade/" + no + "/ask", ToUsers: []string{s.opt.Lead}, Card: card}}}, nil
	})
}

var errNothing = errors.New("nothing to do")

// Approve is the lead's 升级批准: before the window only; the affected
// wards get the downtime notice with it.
func (s *Service) Approve(ctx context.Context, actor, no string) (*bot.Record, error) {
	if err := s.lead(ctx, actor); err != nil {
		return nil, err
	}
	wards, err := s.recordWards(ctx, no)
	if err != nil {
		return nil, err
	}
	return s.opt.Records.UpdateRecord(ctx, no, func(r *bot.Record, _ []bot.RecordEvent) (bot.RecordEffects, error) {
		if err := upgradeOpen(r); err != nil {
			return bot.RecordEffects{}, err
		}
		if r.Fields[FieldApproval] == "approved" {
			return bot.RecordEffects{}, bot.Errorf(bot.ErrInvalid, "upgrade.err.approved", map[string]any{"no": no}, "%s already approved", no)
		}
		if start, _ := time.Parse(time.RFC3339, r.Fields[FieldStart]); !start.After(s.opt.Clock.Now()) {
			return bot.RecordEffects{}, bot.Errorf(bot.ErrInvalid, "upgrade.err.too_late", map[string]any{"no": no}, "%s: window started", no)
		}
		evs, err := r.Step(bot.RecordChange{Kind: bot.RecordUpdated, Actor: actor, At: s.opt.Clock.Now(),
			Fields: map[string]string{FieldApproval: "approved", FieldApprover: actor}})
		if err != nil {
			return bot.RecordEffects{}, err
		}
		f := s.fields(r)
		msgs := []bot.Outgoing{{Key: "upgrade/" + no + "/approved", ToUsers: []string{r.CreatedBy}, Format: bot.FormatText,
			Text: s.text("upgrade.approved", f)}}
		for _, w := range wards {
			if w.ChatID != "" {
				msgs = append(msgs, bot.Outgoing{Key: "upgrade/" + no + "/notice/" + w.Code, ToChat: w.ChatID, Format: bot.FormatText,
					Text: s.text("upgrade.notice", f)})
			}
		}
		return bot.RecordEffects{Events: evs, Messages: msgs}, nil
	})
}

// Complete is 升级完成: the result, the version now running and the impact;
// only after approval.
func (s *Service) Complete(ctx context.Context, actor, no, result, version, impact string) (*bot.Record, error) {
	if err := s.engineer(ctx, actor); err != nil {
		return nil, err
	}
	if result == "" || version == "" || impact == "" {
		return nil, bot.Errorf(bot.ErrInvalid, "cmd.usage.upgrade_done", nil, "upgrade done needs result, version and impact")
	}
	return s.opt.Records.UpdateRecord(ctx, no, func(r *bot.Record, _ []bot.RecordEvent) (bot.RecordEffects, error) {
		if err := upgradeOpen(r); err != nil {
			return bot.RecordEffects{}, err
		}
		if r.Fields[FieldApproval] != "approved" {
			return bot.RecordEffects{}, bot.Errorf(bot.ErrInvalid, "upgrade.err.not_approved", map[string]any{"no": no}, "%s not approved", no)
		}
		now := s.opt.Clock.Now()
		evs, err := r.Step(bot.RecordChange{Kind: bot.RecordUpdated, Actor: actor, At: now,
			Fields: map[string]string{FieldResult: result, FieldVersion: version, FieldImpact: impact}},
			bot.RecordChange{Kind: bot.RecordCompleted, Actor: actor, At: now})
		if err != nil || s.opt.Lead == "" {
			return bot.RecordEffects{Events: evs}, err
		}
		return bot.RecordEffects{Events: evs, Messages: []bot.Outgoing{{Key: "upgrade/" + no + "/done", ToUsers: []string{s.opt.Lead},
			Format: bot.FormatText, Text: s.text("upgrade.done_lead", s.fields(r))}}}, nil
	})
}

func upgradeOpen(r *bot.Record) error {
	if r.Kind != bot.KindUpgrade {
		return bot.Errorf(bot.ErrNotFound, "upgrade.err.not_upgrade", map[string]any{"no": r.No}, "%s is no upgrade", r.No)
	}
	if r.Status != bot.RecordOpen {
		return bot.Errorf(bot.ErrInvalid, "upgrade.err.closed", map[string]any{"no": r.No}, "%s is %s", r.No, r.Status)
	}
	return nil
}

// Command runs 升级批准, 升级完成 and 版本 for person and returns the reply.
func (s *Service) Command(ctx context.Context, person *bot.Person, c command.Command) (string, error) {
	switch c.Name {
	case command.UpgradeApprove:
		r, err := s.Approve(ctx, person.UserID, c.RecordNo)
		if err != nil {
			return "", err
		}
		return s.text("upgrade.approved_reply", s.fields(r)), nil
	case command.UpgradeDone:
		r, err := s.Complete(ctx, person.UserID, c.RecordNo, c.Result, c.Version, c.Impact)
		if err != nil {
			return "", err
		}
		return s.text("upgrade.done_reply", s.fields(r)), nil
	case command.Versions:
		return s.HistoryText(ctx, c.Text)
	}
	return "", bot.Errorf(bot.ErrInvalid, "cmd.unknown", nil, "upgrade command %s", c.Name)
}

// History lists a system's completed upgrades, oldest first (version history).
func (s *Service) History(ctx context.Context, system string) ([]*bot.Record, error) {
	return s.opt.Records.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindUpgrade},
		Statuses: []bot.RecordStatus{bot.RecordDone}, Subject: system})
}

// HistoryText renders History as the reply to 版本 <系统>.
func (s *Service) HistoryText(ctx context.Context, system string) (string, error) {
	rs, err := s.History(ctx, system)
	if err != nil {
		return "", err
	}
	if len(rs) == 0 {
		return s.text("upgrade.history_none", map[string]any{"system": system}), nil
	}
	lines := []string{s.text("upgrade.history_head", map[string]any{"system": system, "n": len(rs)})}
	for _, r := range rs {
		lines = append(lines, s.text("upgrade.history_line", s.fields(r)))
	}
	return strings.Join(lines, "\n"), nil
}

func (s *Service) recordWards(ctx context.Context, no string) ([]bot.Ward, error) {
	r, err := s.opt.Records.Record(ctx, no)
	if err != nil {
		return nil, err
	}
	if err := upgradeOpen(r); err != nil {
		return nil, err
	}
	return s.wards(ctx, r.Fields[FieldWards])
}

func (s *Service) lead(ctx context.Context, actor string) error {
	p, err := s.opt.Directory.Person(ctx, actor)
	if err != nil || !p.Active || (p.Role != bot.RoleLead && p.Role != bot.RoleAdmin) {
		return bot.Errorf(bot.ErrForbidden, "upgrade.err.lead_only", nil, "%s may not approve upgrades", actor)
	}
	return nil
}

func (s *Service) engineer(ctx context.Context, actor string) error {
	p, err := s.opt.Directory.Person(ctx, actor)
	if err != nil || !p.Active || !p.Role.ActsOnTickets() {
		return bot.Errorf(bot.ErrForbidden, "err.engineers_only", nil, "%s may not record upgrades", actor)
	}
	return nil
}

func (s *Service) fields(r *bot.Record) map[string]any {
	f := map[string]any{"no": r.No, "system": r.Subject}
	for k, v := range r.Fields {
		f[k] = v
	}
	if !r.DoneAt.IsZero() {
		f["done_at"] = r.DoneAt.In(s.opt.Location).Format("2006-01-02")
	}
	return f
}
