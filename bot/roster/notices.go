package roster

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"weibao/bot"
)

// Texts renders catalogue entries (*catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// RunNotices queues the roster's notices through enqueue every minute,
// from now on, until ctx ends: the hand-overs of the last hour and the gaps
// of the next day. Their keys make every replica's copy one message. A
// failed minute is logged and tried again the next.
func (r *Roster) RunNotices(ctx context.Context, now func() time.Time, texts Texts,
	enqueue func(context.Context, ...bot.Outgoing) error, log *slog.Logger) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		msgs, err := r.Notices(ctx, now(), time.Hour, 24*time.Hour, texts)
		if err == nil && len(msgs) > 0 {
			err = enqueue(ctx, msgs...)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("roster notices", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Notices returns the messages the roster owes at now: a hand-over message
// to the outgoing and incoming engineers for a change of duty within the
// last window, and a warning to the lead for a gap now or within ahead.
// Their keys name the instant they are about, so calling Notices again (on
// every replica, every minute, after a restart) queues each message once.
func (r *Roster) Notices(ctx context.Context, now time.Time, window, ahead time.Duration, texts Texts) ([]bot.Outgoing, error) {
	d, err := r.Doc(ctx)
	if err != nil {
		return nil, err
	}
	if len(d.Primary) == 0 && len(d.Overrides) == 0 {
		// No roster at all: every page goes to the lead by design, which
		// main logs at start; there is no gap to announce.
		return nil, nil
	}
	var out []bot.Outgoing
	for _, at := range d.changes(now.Add(-window), now, r.loc) {
		before, after := d.duty(at.Add(-time.Nanosecond), r.loc), d.duty(at, r.loc)
		if before == after {
			continue
		}
		was, err := r.resolve(ctx, d, before)
		if err != nil {
			return nil, err
		}
		is, err := r.resolve(ctx, d, after)
		if err != nil {
			return nil, err
		}
		f := map[string]any{"at": at.In(r.loc).Format(Layout), "from": name(was.Primary), "to": name(is.Primary),
			"backup": name(is.Backup)}
		text := texts.Text("sla.oncall.handover", f)
		told := map[string]bool{}
		for _, p := range []*bot.Person{was.Primary, is.Primary, is.Backup} {
			if p != nil && !told[p.UserID] {
				told[p.UserID] = true
				out = append(out, bot.Outgoing{Key: "oncall/handover/" + stamp(at) + "/" + p.UserID,
					ToUsers: []string{p.UserID}, Format: bot.FormatText, Text: text})
			}
		}
	}
	// A gap now, or starting at a change within ahead, is reported once per
	// gap start.
	starts := append([]time.Time{now}, d.changes(now, now.Add(ahead), r.loc)...)
	for i, at := range starts {
		oc, err := r.resolve(ctx, d, d.duty(at, r.loc))
		if err != nil {
			return nil, err
		}
		if oc.Primary != nil || oc.Lead == nil {
			continue
		}
		from := at
		if i == 0 {
			from = r.gapStart(d, now)
		}
		key := "oncall/gap/" + stamp(from) + "/" + oc.Lead.UserID
		out = append(out, bot.Outgoing{Key: key, ToUsers: []string{oc.Lead.UserID}, Format: bot.FormatText,
			Text: texts.Text("sla.oncall.gap", map[string]any{"at": from.In(r.loc).Format(Layout)})})
	}
	return out, nil
}

// gapStart is the last change of duty at or before now (or the zero instant
// when the roster never changed), so a gap in progress keeps one key.
func (r *Roster) gapStart(d Doc, now time.Time) time.Time {
	cs := d.changes(now.Add(-60*24*time.Hour), now, r.loc)
	if len(cs) == 0 {
		return time.Unix(0, 0)
	}
	return cs[len(cs)-1]
}

func stamp(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func name(p *bot.Person) string {
	if p == nil {
		return "—"
	}
	if p.Name != "" {
		return p.Name
	}
	return p.UserID
}
