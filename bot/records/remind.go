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

// Remind queues the reminders due on now's day: the month's inspection from
// day 20 (engineers) and on its last working day (the lead), the quarter's
// performance review in its last month, the backup check and the restore
// drill when their interval has passed, and the end of the contract period.
// The daily job calls it; every message is keyed by its period and window,
// so a second run the same day queues nothing new. Reminders go out on
// working days only.
func (s *Service) Remind(ctx context.Context, now time.Time) error {
	day := now.In(s.opt.Location)
	if s.opt.Workdays != nil && !s.opt.Workdays.IsWorkday(day) {
		return nil
	}
	var msgs []bot.Outgoing
	var errs []error
	add := func(ms []bot.Outgoing, err error) {
		msgs = append(msgs, ms...)
		errs = append(errs, err)
	}
	add(s.remindInspection(ctx, day))
	add(s.remindPerformance(ctx, day))
	for _, k := range []bot.RecordKind{bot.KindBackupCheck, bot.KindRestoreDrill} {
		add(s.remindInterval(ctx, k, day))
	}
	add(s.remindContract(ctx, day))
	if len(msgs) > 0 {
		errs = append(errs, s.opt.Outbox.Enqueue(ctx, msgs...))
	}
	return errors.Join(errs...)
}

// lastWorkday reports whether no working day follows day in its month.
func (s *Service) lastWorkday(day time.Time) bool {
	for d := day.AddDate(0, 0, 1); d.Month() == day.Month(); d = d.AddDate(0, 0, 1) {
		if s.opt.Workdays == nil || s.opt.Workdays.IsWorkday(d) {
			return false
		}
	}
	return true
}

func (s *Service) remindInspection(ctx context.Context, day time.Time) ([]bot.Outgoing, error) {
	if len(s.opt.Systems) == 0 || day.Day() < 20 {
		return nil, nil
	}
	missing, err := s.uninspected(ctx, day)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	names := make([]string, len(missing))
	for i, m := range missing {
		names[i] = m.Name
	}
	month := day.Format("2006-01")
	f := map[string]any{"month": month, "missing": strings.Join(names, "、")}
	out, err := s.toEngineers(ctx, "remind/inspection/"+day.Format("2006-01-02"), s.text("rec.remind.inspection", f))
	if err != nil || !s.lastWorkday(day) {
		return out, err
	}
	lead, err := s.toLead(ctx, "remind/inspection/"+month+"/lead", s.text("rec.remind.inspection_lead", f))
	return append(out, lead...), err
}

func (s *Service) remindPerformance(ctx context.Context, day time.Time) ([]bot.Outgoing, error) {
	q := s.Quarter(day)
	last := q.To.AddDate(0, -1, 0)
	if day.Before(last) {
		return nil, nil
	}
	rs, err := s.opt.Store.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindPerformance},
		Statuses: []bot.RecordStatus{bot.RecordDone}, From: q.From, To: q.To, Limit: 1})
	if err != nil || len(rs) > 0 {
		return nil, err
	}
	label := fmt.Sprintf("%dQ%d", q.From.Year(), (int(q.From.Month())-1)/3+1)
	f := map[string]any{"quarter": label}
	out, err := s.toEngineers(ctx, fmt.Sprintf("remind/performance/%s/%d", label, s.window(last, day)), s.text("rec.remind.performance", f))
	if err != nil || !s.lastWorkday(day) {
		return out, err
	}
	lead, err := s.toLead(ctx, "remind/performance/"+label+"/lead", s.text("rec.remind.performance_lead", f))
	return append(out, lead...), err
}

// window numbers the RemindEvery-long windows since from: a reminder goes
// out once in each, on its first working day.
func (s *Service) window(from, day time.Time) int {
	return int(day.Sub(from) / s.opt.RemindEvery)
}

// remindInterval reminds the engineers when kind's last complete record is
// older than its interval (or there is none since the contract began).
func (s *Service) remindInterval(ctx context.Context, kind bot.RecordKind, day time.Time) ([]bot.Outgoing, error) {
	every := s.opt.BackupCheckEvery
	if kind == bot.KindRestoreDrill {
		every = s.opt.RestoreDrillEvery
	}
	rs, err := s.opt.Store.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{kind}, Statuses: []bot.RecordStatus{bot.RecordDone}})
	if err != nil {
		return nil, err
	}
	since := s.opt.ContractStart
	last := ""
	if len(rs) > 0 {
		at := rs[len(rs)-1].At
		since, last = at, at.In(s.opt.Location).Format("2006-01-02")
	}
	if since.IsZero() {
		since = day.Add(-every) // no record and no contract start: due now
	}
	// Due on the day, whatever the hour the last one was done.
	l := since.In(s.opt.Location)
	due := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, s.opt.Location).Add(every)
	if day.Before(due) {
		return nil, nil
	}
	f := map[string]any{"kind": s.text("rec.kind."+string(kind), nil), "last": last, "days": int(every.Hours() / 24)}
	key := "rec.remind.interval"
	if last == "" {
		key = "rec.remind.interval_none"
	}
	return s.toEngineers(ctx, fmt.Sprintf("remind/%s/%s/%d", kind, due.UTC().Format("20060102"), s.window(due, day)), s.text(key, f))
}

func (s *Service) remindContract(ctx context.Context, day time.Time) ([]bot.Outgoing, error) {
	if s.opt.ContractEnd.IsZero() || !day.Before(s.opt.ContractEnd) {
		return nil, nil
	}
	end := s.opt.ContractEnd.In(s.opt.Location)
	left := int(end.Sub(day).Hours()/24) + 1
	ns := slices.Sorted(slices.Values(s.opt.ContractNotice))
	for _, n := range ns {
		if left <= n {
			f := map[string]any{"end": end.AddDate(0, 0, -1).Format("2006-01-02"), "days": left}
			return s.toLead(ctx, fmt.Sprintf("remind/contract/%s/%d", end.Format("20060102"), n), s.text("rec.remind.contract", f))
		}
	}
	return nil, nil
}
