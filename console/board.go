package console

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"weibao/bot"
)

// row is one open ticket on the live board.
type row struct {
	No, Priority, Ward, Category, Status, Assignee string
	// Level colours the row by the running clock: breached, near (under a
	// quarter of its time left), warn (under half), ok, or idle (no clock
	// runs: paused, or waiting for the reporter).
	Level string
	Clock string
	// Due and Start (Unix ms) let the page count down between redraws.
	Due, Start int64
	ClockName  string
	left       time.Duration
}

// levelOf is the colour of a clock started at start, due at due, at now.
func levelOf(start, due, now time.Time) string {
	total, left := due.Sub(start), due.Sub(now)
	switch {
	case left <= 0:
		return "breached"
	case left*4 < total:
		return "near"
	case left*2 < total:
		return "warn"
	}
	return "ok"
}

// runningClock is the SLA clock a ticket is waiting on, if any.
func runningClock(t *bot.Ticket) (bot.SLAClock, time.Time, time.Time) {
	switch {
	case !t.PausedAt.IsZero() || !t.Status.Active():
		return "", time.Time{}, time.Time{}
	case t.Status == bot.StatusNew && !t.Due.Ack.IsZero():
		return bot.ClockAck, t.ReportedAt, t.Due.Ack
	case t.Urgent && t.OnSiteAt.IsZero() && !t.Due.OnSite.IsZero():
		start := t.RemoteFailedAt
		if start.IsZero() {
			start = t.ReportedAt
		}
		return bot.ClockOnSite, start, t.Due.OnSite
	case !t.Due.Resolve.IsZero():
		return bot.ClockResolve, t.ReportedAt, t.Due.Resolve
	}
	return "", time.Time{}, time.Time{}
}

func (c *Console) rows(r *http.Request) ([]row, error) {
	ctx := r.Context()
	ts, err := c.opt.Store.Tickets(ctx, bot.TicketFilter{Statuses: bot.OpenStatuses, Limit: 500})
	if err != nil {
		return nil, err
	}
	names := c.names(ctx)
	wards, cats := map[string]string{}, map[string]string{}
	if ws, err := c.opt.Store.Wards(ctx); err == nil {
		for _, w := range ws {
			wards[w.Code] = w.Name
		}
	}
	if cs, err := c.opt.Store.Categories(ctx); err == nil {
		for _, k := range cs {
			cats[k.Code] = k.Name
		}
	}
	tx := c.opt.Texts
	now := c.opt.Clock.Now()
	out := make([]row, 0, len(ts))
	for _, t := range ts {
		rw := row{No: t.No, Priority: string(t.Priority), Ward: cmp.Or(wards[t.WardCode], t.WardCode),
			Category: cmp.Or(cats[t.Category], t.Category), Status: tx.Text("status."+string(t.Status), nil),
			Assignee: names[t.AssigneeID], Level: "idle", left: 1<<63 - 1}
		clock, start, due := runningClock(t)
		switch {
		case clock != "":
			rw.Level, rw.left = levelOf(start, due, now), due.Sub(now)
			rw.Due, rw.Start, rw.ClockName = due.UnixMilli(), start.UnixMilli(), tx.Text("clock."+string(clock), nil)
			if rw.left > 0 {
				rw.Clock = tx.Text("console.clock.left", map[string]any{"clock": clock, "left": rw.left})
			} else {
				rw.Clock = tx.Text("console.clock.over", map[string]any{"clock": clock, "over": -rw.left})
			}
		case !t.PausedAt.IsZero():
			rw.Clock = tx.Text("console.clock.paused", nil)
		default:
			rw.Clock = tx.Text("console.clock.waiting", nil)
		}
		out = append(out, rw)
	}
	// The most urgent first: least time left, then priority.
	slices.SortStableFunc(out, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.left, b.left), cmp.Compare(a.Priority, b.Priority))
	})
	return out, nil
}

func (c *Console) boardPage(w http.ResponseWriter, r *http.Request) {
	rows, err := c.rows(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "board", "board", c.opt.Texts.Text("console.board.title", nil), rows)
}

// boardRows is the board's table body, which the page fetches again on
// every change the event stream announces.
func (c *Console) boardRows(w http.ResponseWriter, r *http.Request) {
	rows, err := c.rows(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.exec(w, "board", "rows", rows)
}

// events tells the board's browsers the number of each ticket a committed
// change touched (the feed of committed changes, storage.DB.Subscribe).
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	ch := make(chan string, 16)
	c.mu.Lock()
	c.board[ch] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.board, ch)
		c.mu.Unlock()
	}()
	s := startSSE(w)
	for id := 1; ; id++ {
		select {
		case no := <-ch:
			if !s.send(id, map[string]string{"no": no}) {
				return
			}
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		}
	}
}
