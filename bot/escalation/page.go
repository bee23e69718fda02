package escalation

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"weibao/bot"
	"weibao/sla/pager"
)

// PageIDPrefix starts every page id sent to providers: "p" and the page
// record's id in base 36, well under Alibaba's 15-byte OutId.
const PageIDPrefix = "p"

// PageID is the id providers echo for page record id.
func PageID(id int64) string { return PageIDPrefix + strconv.FormatInt(id, 36) }

// place sends the pages decided for a committed escalation, each channel in
// turn (a call, then an SMS), and puts every attempt on the timeline. The
// page record is claimed first: a replica that finds it already created
// leaves the page to its creator, and the pager's call guard stops a second
// call for the same page id in any case. A crash between the claim and the
// call loses that page; the next escalation step covers it.
func (e *Engine) place(ctx context.Context, t *bot.Ticket, reqs []pageReq) {
	for _, r := range reqs {
		if err := e.placeOne(ctx, t, r); err != nil {
			e.pageFails.WithLabelValues("error").Inc()
			e.opt.Logger.Error("page", "ticket", t.No, "level", r.level, "user", r.person.UserID, "err", err)
		}
	}
}

func (e *Engine) placeOne(ctx context.Context, t *bot.Ticket, r pageReq) error {
	now := e.opt.Clock.Now()
	rec, created, err := e.opt.Pages.OpenPage(ctx, bot.PageRecord{Key: t.No + "/" + r.key + "/" + r.person.UserID,
		TicketNo: t.No, UserID: r.person.UserID, Level: r.level, CreatedAt: now})
	if err != nil {
		return err
	}
	if !created {
		return nil
	}
	f := map[string]any{"no": t.No, "name": displayName(r.person), "level": r.level}
	var details []string
	if r.person.Mobile == "" {
		e.pageFails.WithLabelValues("no_mobile").Inc()
		details = append(details, e.opt.Texts.Text("sla.detail.no_mobile", f))
	} else {
		p := pager.Page{ID: PageID(rec.ID), TicketNumber: t.No, Mobile: r.person.Mobile, Text: r.text,
			Params: []pager.Param{{Name: "no", Value: t.No}, {Name: "level", Value: strconv.Itoa(r.level)}}}
		delivered := false
		for _, ch := range r.channels {
			p.Channels = []pager.Channel{ch}
			attempts, err := e.opt.Pager.Page(ctx, p)
			if err != nil && len(attempts) == 0 {
				attempts = []pager.Attempt{{Channel: ch, At: e.opt.Clock.Now(), Outcome: pager.OutcomeFailed, Err: err}}
			}
			recs := make([]bot.PageAttempt, len(attempts))
			for i, a := range attempts {
				recs[i] = bot.PageAttempt{PageID: rec.ID, Provider: a.Provider, Channel: string(a.Channel), Outcome: string(a.Outcome),
					MessageID: a.MessageID, At: a.At}
				if a.Err != nil {
					recs[i].Error = a.Err.Error()
				}
				delivered = delivered || a.Outcome == pager.OutcomeSent
				details = append(details, e.opt.Texts.Text("sla.detail.paged", mergeFields(f, map[string]any{
					"channel": a.Channel, "outcome": a.Outcome, "provider": a.Provider})))
			}
			if err := e.opt.Pages.AddPageAttempts(ctx, recs...); err != nil {
				e.opt.Logger.Error("record page attempts", "ticket", t.No, "page_id", p.ID, "err", err)
			}
		}
		if !delivered {
			e.pageFails.WithLabelValues("undelivered").Inc()
		}
	}
	return e.note(ctx, t.No, bot.EventPaged, details)
}

// note appends system events to a ticket's timeline, whatever its version.
// A ticket closed meanwhile refuses them; the page table keeps the record.
func (e *Engine) note(ctx context.Context, no string, kind bot.EventKind, details []string) error {
	if len(details) == 0 {
		return nil
	}
	at := e.opt.Clock.Now()
	_, err := e.opt.Tickets.UpdateTicket(ctx, no, func(t *bot.Ticket, timeline []bot.Event) (bot.Effects, error) {
		cs := make([]bot.Change, len(details))
		for i, d := range details {
			cs[i] = bot.Change{Kind: kind, Actor: bot.ActorSystem, At: at, Text: d}
		}
		evs, err := t.Step(SLA{Policy: e.opt.SLA}, timeline, cs...)
		return bot.Effects{Events: evs}, err
	})
	if errors.Is(err, bot.ErrInvalid) {
		e.opt.Logger.Info("timeline note refused", "ticket", no, "kind", kind, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("note %s on %s: %w", kind, no, err)
	}
	return nil
}

// Once is the pager's call guard: a fast claim (Redis SETNX) backed by the
// database, which survives a flushed Redis. A key is first only if both say
// so; a Redis error falls back to the database alone.
type Once struct {
	// Fast is SETNX with a TTL; nil uses the database only.
	Fast func(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// DB claims a key until it expires (storage.DB.ClaimKey).
	DB    func(ctx context.Context, key string, now, expires time.Time) (bool, error)
	Clock bot.Clock
}

var _ pager.Once = (*Once)(nil)

// First claims key for the first caller only.
func (o *Once) First(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if o.Fast != nil {
		first, err := o.Fast(ctx, key, ttl)
		if err == nil && !first {
			return false, nil
		}
	}
	now := o.Clock.Now()
	return o.DB(ctx, key, now, now.Add(ttl))
}
