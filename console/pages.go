package console

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"weibao/bot"
)

type timelineRow struct {
	At, Kind, Actor, Change, Detail string
}

func (c *Console) ticketPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	no := r.PathValue("no")
	if !bot.ValidTicketNo(no) {
		c.fail(w, r, bot.ErrNotFound)
		return
	}
	t, err := c.opt.Store.Ticket(ctx, no)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	tl, err := c.opt.Store.Timeline(ctx, no)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	tx, names := c.opt.Texts, c.names(ctx)
	var rows []timelineRow
	for _, e := range tl {
		tr := timelineRow{At: c.clockTime(e.At), Kind: tx.Text("console.event."+string(e.Kind), nil),
			Actor: cmp.Or(names[e.Actor], e.Actor), Detail: e.Detail}
		if e.Actor == bot.ActorSystem {
			tr.Actor = tx.Text("console.ticket.system", nil)
		}
		if e.From != e.To {
			tr.Change = tx.Text("status."+string(e.To), nil)
		}
		rows = append(rows, tr)
	}
	a, err := c.opt.Store.Analysis(ctx, no)
	if err != nil && !errors.Is(err, bot.ErrNotFound) {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "ticket", "board", tx.Text("console.ticket.title", map[string]any{"no": no}), map[string]any{
		"T": t, "Status": tx.Text("status."+string(t.Status), nil), "Reporter": cmp.Or(names[t.ReporterID], t.ReporterID),
		"Assignee": names[t.AssigneeID], "Timeline": rows, "Analysis": a,
	})
}

// day is one cell of the on-call calendar.
type day struct {
	Date            string // 2026-12-04
	Day             int
	Primary, Backup string
	Gap, Today      bool
}

func (c *Console) oncallPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := c.opt.Clock.Now().In(c.opt.Location)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, c.opt.Location)
	if m := r.URL.Query().Get("month"); m != "" {
		p, err := time.ParseInLocation("2006-01", m, c.opt.Location)
		if err != nil {
			http.Error(w, c.opt.Texts.Text("api.bad_field", map[string]any{"field": "month", "form": "period"}), http.StatusBadRequest)
			return
		}
		month = p
	}
	// Leading blanks so that the first falls under its weekday (Monday first).
	var cells []*day
	for range (int(month.Weekday()) + 6) % 7 {
		cells = append(cells, nil)
	}
	for d := month; d.Month() == month.Month(); d = d.AddDate(0, 0, 1) {
		// Who is on call at noon stands for the day.
		oc, err := c.opt.Roster.OnCall(ctx, d.Add(12*time.Hour))
		if err != nil {
			c.fail(w, r, err)
			return
		}
		cell := &day{Date: d.Format("2006-01-02"), Day: d.Day(), Today: d.Format("2006-01-02") == now.Format("2006-01-02")}
		if oc.Primary != nil {
			cell.Primary = oc.Primary.Name
		}
		if oc.Backup != nil {
			cell.Backup = oc.Backup.Name
		}
		cell.Gap = oc.Primary == nil
		cells = append(cells, cell)
	}
	engineers, err := c.opt.Store.People(ctx, bot.RoleEngineer)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, "oncall", "oncall", c.opt.Texts.Text("console.oncall.title", map[string]any{"month": month.Format("2006-01")}), map[string]any{
		"Cells": cells, "Prev": month.AddDate(0, -1, 0).Format("2006-01"), "Next": month.AddDate(0, 1, 0).Format("2006-01"),
		"Engineers": engineers, "Today": now.Format("2006-01-02"), "Weekdays": strings.Fields(c.opt.Texts.Text("console.oncall.weekdays", nil)),
	})
}

// bar is one bar of a chart, its length in the chart's units.
type bar struct {
	Label string
	N     int
	Y     int // top
	W, NX int // the bar's width and where its count is written
}

// chart is a titled bar chart.
type chart struct {
	Title  string
	Bars   []bar
	Height int
}

// point is one month of the compliance trend.
type point struct {
	Label   string
	Percent int // -1 when no clock was due
	X, Y    int
}

func (c *Console) reportsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := c.opt.Clock.Now().In(c.opt.Location)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, c.opt.Location)
	var bounds []time.Time
	for i := -5; i <= 1; i++ {
		bounds = append(bounds, month.AddDate(0, i, 0))
	}
	spans, err := c.opt.Store.SpanStats(ctx, bounds, now)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var trend []point
	var line string
	for i, s := range spans {
		met := s.SLA.Ack.Met + s.SLA.Resolve.Met + s.SLA.OnSite.Met
		due := s.SLA.Ack.Due + s.SLA.Resolve.Due + s.SLA.OnSite.Due
		p := point{Label: c.opt.Texts.Text("console.reports.month", map[string]any{"m": int(bounds[i].Month())}), Percent: -1, X: 30 + i*50}
		if due > 0 {
			p.Percent = met * 100 / due
			p.Y = 110 - p.Percent
			line += fmt.Sprintf("%d,%d ", p.X, p.Y)
		}
		trend = append(trend, p)
	}
	span := bot.Span{From: month, To: month.AddDate(0, 1, 0)}
	byCat, err := c.bars(r, span, bot.DimCategory)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	byWard, err := c.bars(r, span, bot.DimWard)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	q := (int(now.Month()) - 1) / 3
	c.render(w, r, "reports", "reports", c.opt.Texts.Text("console.reports.title", nil), map[string]any{
		"Trend": trend, "Line": line, "Charts": []chart{
			{Title: c.opt.Texts.Text("console.reports.by_category", nil), Bars: byCat, Height: len(byCat) * 24},
			{Title: c.opt.Texts.Text("console.reports.by_ward", nil), Bars: byWard, Height: len(byWard) * 24}},
		"Date": now.Format("2006-01-02"), "Month": now.Format("2006-01"), "Quarter": fmt.Sprintf("%dQ%d", now.Year(), q+1),
	})
}

// bars counts this span's tickets by d, largest first, named as people
// read them.
func (c *Console) bars(r *http.Request, s bot.Span, d bot.Dimension) ([]bar, error) {
	ctx := r.Context()
	stats, err := c.opt.Store.GroupStats(ctx, s, d, c.opt.Clock.Now())
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	if d == bot.DimWard {
		ws, err := c.opt.Store.Wards(ctx)
		if err != nil {
			return nil, err
		}
		for _, w := range ws {
			names[w.Code] = w.Name
		}
	} else {
		cs, err := c.opt.Store.Categories(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range cs {
			names[k.Code] = k.Name
		}
	}
	slices.SortStableFunc(stats, func(a, b bot.GroupStats) int { return cmp.Compare(b.Count, a.Count) })
	top := 1
	for _, s := range stats {
		top = max(top, s.Count)
	}
	var out []bar
	for i, s := range stats {
		w := s.Count * 170 / top
		out = append(out, bar{Label: cmp.Or(names[s.Key], s.Key), N: s.Count, Y: i * 24, W: w, NX: 124 + w})
	}
	return out, nil
}

type jobRow struct {
	Job, Started, Result, Error string
}

func (c *Console) supportPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	runs, err := c.opt.Store.Runs(ctx, "", 0, 20)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var jobs []jobRow
	for _, j := range runs {
		jobs = append(jobs, jobRow{Job: j.Job, Started: c.clockTime(j.Started), Result: j.Result, Error: j.Error})
	}
	queued, err := c.opt.Store.QueuedMessages(ctx, []string{"failed", "expired", "pending"}, 0, 50)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	data := map[string]any{"Jobs": jobs, "Outbox": queued, "WeCom": "console.support.wecom_off"}
	if c.opt.WeComState != nil {
		data["WeCom"] = c.opt.WeComState()
	}
	c.render(w, r, "support", "support", c.opt.Texts.Text("console.support.title", nil), data)
}
