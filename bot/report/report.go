// Package report builds weibao's reports for the project lead from the
// ticket timeline: the daily digest, the monthly fault summary (tender 二.3
// "按月对日常故障进行分类汇总"), fault analysis reports for department-level,
// hospital-wide and P1 faults, and the quarterly package (tender 六). Reports
// are typed values built from a narrow Source (the database's aggregates) and
// rendered as WeCom markdown and printable HTML here; workbooks are encoded by
// package xlsx.
package report

import (
	"context"
	"fmt"
	"sort"
	"time"

	"weibao/bot"
)

// Source is what reports read. storage.DB implements it; every method runs
// an indexed aggregate or returns a short list, except EachTicket, which
// streams.
type Source interface {
	Counts(ctx context.Context, c bot.Cohort, s bot.Span) ([]bot.Count, error)
	OpenTickets(ctx context.Context, at time.Time, priorities []bot.Priority, limit int) ([]*bot.Ticket, error)
	AwaitingConfirmation(ctx context.Context, at time.Time, limit int) ([]*bot.Ticket, error)
	EventsOf(ctx context.Context, kind bot.EventKind, s bot.Span) ([]bot.Event, error)
	DueCompliance(ctx context.Context, s bot.Span, asOf time.Time) (bot.Compliance, error)
	Breaches(ctx context.Context, s bot.Span, asOf time.Time, limit int) ([]bot.Breach, error)
	GroupStats(ctx context.Context, s bot.Span, d bot.Dimension, asOf time.Time) ([]bot.GroupStats, error)
	SpanStats(ctx context.Context, bounds []time.Time, asOf time.Time) ([]bot.GroupStats, error)
	Fixes(ctx context.Context, s bot.Span, perCategory int) ([]bot.Fix, error)
	EachTicket(ctx context.Context, s bot.Span, fn func(*bot.Ticket) error) error
	Ticket(ctx context.Context, no string) (*bot.Ticket, error)
	Timeline(ctx context.Context, no string) ([]bot.Event, error)
	Analysis(ctx context.Context, no string) (*bot.FaultAnalysis, error)
	Analyses(ctx context.Context, s bot.Span) ([]*bot.FaultAnalysis, error)
}

// Directory names wards, categories and people (bot.Directory's subset).
type Directory interface {
	Person(ctx context.Context, userID string) (*bot.Person, error)
	People(ctx context.Context, role bot.Role) ([]bot.Person, error)
	Wards(ctx context.Context) ([]bot.Ward, error)
	Categories(ctx context.Context) ([]bot.Category, error)
}

// Texts renders catalogue entries (*catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Names turns codes into the names people read. Unknown codes show as
// themselves: a ward removed from the configuration still names old tickets.
type Names struct {
	Wards      map[string]string
	Categories map[string]string
	People     map[string]string
}

func (n Names) Ward(code string) string     { return or(n.Wards[code], code) }
func (n Names) Category(code string) string { return or(n.Categories[code], code) }
func (n Names) Person(id string) string     { return or(n.People[id], id) }

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Roster is who is on call and when duty changes (*roster.Roster).
type Roster interface {
	bot.Roster
	// Next is the first change of duty after at and who is on call then;
	// ok is false when none is near.
	Next(ctx context.Context, at time.Time) (when time.Time, oc bot.OnCall, ok bool, err error)
}

// listLimit bounds every list in a digest: a phone screen, not an archive.
const listLimit = 20

// Builder builds reports. Days and months are civil ones in Location.
type Builder struct {
	Source   Source
	Dir      Directory
	Roster   Roster // optional: the digest's on-call line
	Texts    Texts
	Location *time.Location
	Clock    bot.Clock
}

// Names loads the directory's names.
func (b *Builder) Names(ctx context.Context) (Names, error) {
	n := Names{Wards: map[string]string{}, Categories: map[string]string{}, People: map[string]string{}}
	wards, err := b.Dir.Wards(ctx)
	if err != nil {
		return n, err
	}
	for _, w := range wards {
		n.Wards[w.Code] = w.Name
	}
	cats, err := b.Dir.Categories(ctx)
	if err != nil {
		return n, err
	}
	for _, c := range cats {
		n.Categories[c.Code] = c.Name
	}
	people, err := b.Dir.People(ctx, "")
	if err != nil {
		return n, err
	}
	for _, p := range people {
		n.People[p.UserID] = p.Name
	}
	n.People[bot.ActorSystem] = b.Texts.Text("report.system", nil)
	return n, nil
}

// DaySpan is the civil day holding t.
func DaySpan(t time.Time, loc *time.Location) bot.Span {
	t = t.In(loc)
	from := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	return bot.Span{From: from, To: from.AddDate(0, 0, 1)}
}

// MonthSpan is the civil month holding t.
func MonthSpan(t time.Time, loc *time.Location) bot.Span {
	t = t.In(loc)
	from := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
	return bot.Span{From: from, To: from.AddDate(0, 1, 0)}
}

// QuarterSpan is the calendar quarter holding t.
func QuarterSpan(t time.Time, loc *time.Location) bot.Span {
	t = t.In(loc)
	m := time.Month((int(t.Month())-1)/3*3 + 1)
	from := time.Date(t.Year(), m, 1, 0, 0, 0, 0, loc)
	return bot.Span{From: from, To: from.AddDate(0, 3, 0)}
}

// asOf is the end of s, or now when s has not ended yet.
func (b *Builder) asOf(s bot.Span) time.Time {
	if now := b.Clock.Now(); now.Before(s.To) {
		return now
	}
	return s.To
}

// Priorities in display order.
var Priorities = []bot.Priority{bot.P1, bot.P2, bot.P3, bot.P4}

// ByPriority counts per priority, P1 first.
type ByPriority [4]int

func (p *ByPriority) add(pr bot.Priority, n int) {
	for i, x := range Priorities {
		if x == pr {
			p[i] += n
		}
	}
}

// Sum is the total of every priority.
func (p ByPriority) Sum() int { return p[0] + p[1] + p[2] + p[3] }

// WardLine is one ward's day.
type WardLine struct {
	Ward                string
	New, Resolved, Open ByPriority
}

// BreachLine is one SLA breach as the lead reads it.
type BreachLine struct {
	TicketNo string
	Ward     string
	Priority bot.Priority
	Clock    bot.SLAClock
	Late     time.Duration // wall time past the deadline, to the stop or to the report's time
	Running  bool          // the clock had not stopped by then
	Who      string        // the engineer assigned, "" when nobody had taken it
}

// TicketLine is one ticket in a list.
type TicketLine struct {
	No       string
	Ward     string
	Category string
	Priority bot.Priority
	Status   bot.Status
	Since    time.Time // reported (open lists) or resolved (awaiting confirmation)
	Who      string
}

// EventLine is one timeline event in a list.
type EventLine struct {
	TicketNo string
	At       time.Time
	Who      string
}

// Digest is the lead's daily digest for one day.
type Digest struct {
	Day      time.Time // local midnight
	AsOf     time.Time
	Location *time.Location
	Wards    []WardLine
	Total    WardLine
	SLA      bot.Compliance
	Breaches []BreachLine
	Urgent   []TicketLine // P1/P2 still open
	Awaiting []TicketLine // waiting for the reporter's confirmation
	Reopened []EventLine
	OnCall   []OnCallLine
}

// OnCallLine is who was on call at one point of the day.
type OnCallLine struct {
	At              time.Time
	Primary, Backup string
}

// Quiet reports a day with nothing to act on.
func (d *Digest) Quiet() bool {
	return d.Total.New.Sum() == 0 && d.Total.Resolved.Sum() == 0 && d.Total.Open.Sum() == 0 && len(d.Breaches) == 0 &&
		len(d.Awaiting) == 0 && len(d.Reopened) == 0
}

// Digest builds the digest of the civil day holding day.
func (b *Builder) Digest(ctx context.Context, day time.Time) (*Digest, error) {
	span := DaySpan(day, b.Location)
	asOf := b.asOf(span)
	names, err := b.Names(ctx)
	if err != nil {
		return nil, err
	}
	d := &Digest{Day: span.From, AsOf: asOf, Location: b.Location}
	wards := map[string]*WardLine{}
	line := func(code string) *WardLine {
		if w, ok := wards[code]; ok {
			return w
		}
		w := &WardLine{Ward: names.Ward(code)}
		wards[code] = w
		return w
	}
	for _, c := range []struct {
		cohort bot.Cohort
		span   bot.Span
		pick   func(w *WardLine) *ByPriority
	}{
		{bot.CohortReported, span, func(w *WardLine) *ByPriority { return &w.New }},
		{bot.CohortResolved, span, func(w *WardLine) *ByPriority { return &w.Resolved }},
		{bot.CohortOpen, bot.Span{From: span.From, To: asOf}, func(w *WardLine) *ByPriority { return &w.Open }},
	} {
		counts, err := b.Source.Counts(ctx, c.cohort, c.span)
		if err != nil {
			return nil, err
		}
		for _, n := range counts {
			c.pick(line(n.WardCode)).add(n.Priority, n.N)
			c.pick(&d.Total).add(n.Priority, n.N)
		}
	}
	for _, w := range wards {
		d.Wards = append(d.Wards, *w)
	}
	sort.Slice(d.Wards, func(i, j int) bool { return d.Wards[i].Ward < d.Wards[j].Ward })
	if d.SLA, err = b.Source.DueCompliance(ctx, span, asOf); err != nil {
		return nil, err
	}
	breaches, err := b.Source.Breaches(ctx, span, asOf, listLimit)
	if err != nil {
		return nil, err
	}
	for _, x := range breaches {
		end, running := x.Stop, x.Stop.IsZero()
		if running || end.After(asOf) {
			end, running = asOf, true
		}
		d.Breaches = append(d.Breaches, BreachLine{TicketNo: x.TicketNo, Ward: names.Ward(x.WardCode), Priority: x.Priority,
			Clock: x.Clock, Late: max(end.Sub(x.Due), 0).Truncate(time.Minute), Running: running, Who: nameOr(names, x.AssigneeID)})
	}
	sort.SliceStable(d.Breaches, func(i, j int) bool { return d.Breaches[i].Late > d.Breaches[j].Late })
	urgent, err := b.Source.OpenTickets(ctx, asOf, []bot.Priority{bot.P1, bot.P2}, listLimit)
	if err != nil {
		return nil, err
	}
	for _, t := range urgent {
		d.Urgent = append(d.Urgent, ticketLine(names, t, t.ReportedAt))
	}
	awaiting, err := b.Source.AwaitingConfirmation(ctx, asOf, listLimit)
	if err != nil {
		return nil, err
	}
	for _, t := range awaiting {
		d.Awaiting = append(d.Awaiting, ticketLine(names, t, t.ResolvedAt))
	}
	reopened, err := b.Source.EventsOf(ctx, bot.EventReopened, span)
	if err != nil {
		return nil, err
	}
	for _, e := range reopened {
		d.Reopened = append(d.Reopened, EventLine{TicketNo: e.TicketNo, At: e.At, Who: names.Person(e.Actor)})
	}
	if b.Roster != nil {
		// The roster's real shifts: who was on call as the day began, then
		// at each change of duty within the day.
		at := span.From
		oc, err := b.Roster.OnCall(ctx, at)
		if err != nil {
			return nil, fmt.Errorf("digest: on call at %s: %w", at.Format(time.RFC3339), err)
		}
		for {
			d.OnCall = append(d.OnCall, onCallLine(at, oc))
			next, noc, ok, err := b.Roster.Next(ctx, at)
			if err != nil {
				return nil, fmt.Errorf("digest: duty after %s: %w", at.Format(time.RFC3339), err)
			}
			if !ok || !next.Before(span.To) {
				break
			}
			at, oc = next, noc
		}
	}
	return d, nil
}

func onCallLine(at time.Time, oc bot.OnCall) OnCallLine {
	l := OnCallLine{At: at}
	if oc.Primary != nil {
		l.Primary = or(oc.Primary.Name, oc.Primary.UserID)
	}
	if oc.Backup != nil {
		l.Backup = or(oc.Backup.Name, oc.Backup.UserID)
	}
	return l
}

func nameOr(n Names, id string) string {
	if id == "" {
		return ""
	}
	return n.Person(id)
}

func ticketLine(n Names, t *bot.Ticket, since time.Time) TicketLine {
	return TicketLine{No: t.No, Ward: n.Ward(t.WardCode), Category: n.Category(t.Category), Priority: t.Priority,
		Status: t.Status, Since: since, Who: nameOr(n, t.AssigneeID)}
}

// View is the month's tickets grouped by one dimension.
type View struct {
	Dim  bot.Dimension
	Rows []ViewRow
}

// ViewRow is one group: its label as people read it and its figures.
type ViewRow struct {
	Label string
	bot.GroupStats
}

// FixLine is a solution used for a category.
type FixLine struct {
	Category string
	Solution string
	N        int
}

// TrendPoint is one month of the SLA compliance trend.
type TrendPoint struct {
	Month time.Time
	Count int
	SLA   bot.Compliance
}

// Monthly is the monthly fault summary.
type Monthly struct {
	Month    time.Time // local first of the month
	AsOf     time.Time
	Location *time.Location
	Total    bot.GroupStats
	Views    []View // category, type, scope, ward, priority
	Fixes    []FixLine
	Trend    []TrendPoint // the last TrendMonths months, oldest first, this month last
}

// Dimensions the monthly summary is grouped by, in sheet order.
var Dimensions = []bot.Dimension{bot.DimCategory, bot.DimType, bot.DimScope, bot.DimWard, bot.DimPriority}

// TrendMonths is how many months the compliance trend shows.
const TrendMonths = 12

// fixesPerCategory bounds the fixes listed per category.
const fixesPerCategory = 5

// Monthly builds the fault summary of the civil month holding month.
func (b *Builder) Monthly(ctx context.Context, month time.Time) (*Monthly, error) {
	names, err := b.Names(ctx)
	if err != nil {
		return nil, err
	}
	return b.monthly(ctx, month, names)
}

func (b *Builder) monthly(ctx context.Context, month time.Time, names Names) (*Monthly, error) {
	span := MonthSpan(month, b.Location)
	asOf := b.asOf(span)
	m := &Monthly{Month: span.From, AsOf: asOf, Location: b.Location}
	total, err := b.Source.GroupStats(ctx, span, bot.DimAll, asOf)
	if err != nil {
		return nil, err
	}
	if len(total) == 1 {
		m.Total = total[0]
	}
	for _, dim := range Dimensions {
		rows, err := b.Source.GroupStats(ctx, span, dim, asOf)
		if err != nil {
			return nil, err
		}
		v := View{Dim: dim}
		for _, r := range rows {
			v.Rows = append(v.Rows, ViewRow{Label: label(names, b.Texts, dim, r.Key), GroupStats: r})
		}
		if dim == bot.DimPriority { // P1 first, whatever the counts
			sort.Slice(v.Rows, func(i, j int) bool { return v.Rows[i].Key < v.Rows[j].Key })
		} else {
			sort.SliceStable(v.Rows, func(i, j int) bool { return v.Rows[i].Count > v.Rows[j].Count })
		}
		m.Views = append(m.Views, v)
	}
	fixes, err := b.Source.Fixes(ctx, span, fixesPerCategory)
	if err != nil {
		return nil, err
	}
	for _, f := range fixes {
		m.Fixes = append(m.Fixes, FixLine{Category: names.Category(f.Category), Solution: f.Solution, N: f.N})
	}
	var bounds []time.Time
	for i := TrendMonths - 1; i >= -1; i-- {
		bounds = append(bounds, span.From.AddDate(0, -i, 0))
	}
	trend, err := b.Source.SpanStats(ctx, bounds, asOf)
	if err != nil {
		return nil, err
	}
	for i, g := range trend {
		m.Trend = append(m.Trend, TrendPoint{Month: bounds[i], Count: g.Count, SLA: g.SLA})
	}
	return m, nil
}

// label names a group key: wards and categories by the directory, the
// classification's codes by the catalogue.
func label(n Names, tx Texts, d bot.Dimension, key string) string {
	switch d {
	case bot.DimWard:
		return n.Ward(key)
	case bot.DimCategory:
		return n.Category(key)
	case bot.DimType:
		return tx.Text("type."+key, nil)
	case bot.DimScope:
		return tx.Text("scope."+key, nil)
	}
	return key
}

// Step is one line of an analysis report's handling steps.
type Step struct {
	At     time.Time
	Kind   bot.EventKind
	Who    string
	Detail string
}

// Analysis is a fault analysis report (tender 二.3): the ticket, its
// timeline, and the engineer's answers.
type Analysis struct {
	Ticket   *bot.Ticket
	Location *time.Location
	Ward     string
	Category string
	Engineer string
	Reporter string
	Steps    []Step
	Answers  bot.FaultAnalysis // Status pending until the engineer answered
}

// Analysis builds the fault analysis report of ticket no.
func (b *Builder) Analysis(ctx context.Context, no string) (*Analysis, error) {
	names, err := b.Names(ctx)
	if err != nil {
		return nil, err
	}
	return b.analysis(ctx, no, names)
}

func (b *Builder) analysis(ctx context.Context, no string, names Names) (*Analysis, error) {
	t, err := b.Source.Ticket(ctx, no)
	if err != nil {
		return nil, err
	}
	fa, err := b.Source.Analysis(ctx, no)
	if err != nil {
		return nil, err
	}
	tl, err := b.Source.Timeline(ctx, no)
	if err != nil {
		return nil, err
	}
	a := &Analysis{Ticket: t, Location: b.Location, Ward: names.Ward(t.WardCode), Category: names.Category(t.Category),
		Engineer: nameOr(names, or(fa.EngineerID, t.AssigneeID)), Reporter: names.Person(t.ReporterID), Answers: *fa}
	for _, e := range tl {
		switch e.Kind {
		case bot.EventReminded, bot.EventRated, bot.EventAttached, bot.EventPaged:
			continue // bookkeeping and delivery receipts, not handling steps
		}
		detail := e.Detail
		if e.Kind == bot.EventLinked {
			detail = names.Person(detail) // the linked reporter's user id
		}
		a.Steps = append(a.Steps, Step{At: e.At, Kind: e.Kind, Who: names.Person(e.Actor), Detail: detail})
	}
	return a, nil
}

// Quarter is the quarterly package's content (tender 六).
type Quarter struct {
	Span     bot.Span
	Location *time.Location
	Names    Names
	Months   []*Monthly
	Analyses []*Analysis
	Records  int // maintenance record files added to the package
	Made     time.Time
}

// Quarter builds the package of the calendar quarter holding q. The fault
// list itself is streamed by the encoder through Faults.
func (b *Builder) Quarter(ctx context.Context, q time.Time) (*Quarter, error) {
	names, err := b.Names(ctx)
	if err != nil {
		return nil, err
	}
	span := QuarterSpan(q, b.Location)
	out := &Quarter{Span: span, Location: b.Location, Names: names, Made: b.Clock.Now()}
	for m := span.From; m.Before(span.To); m = m.AddDate(0, 1, 0) {
		mo, err := b.monthly(ctx, m, names)
		if err != nil {
			return nil, err
		}
		out.Months = append(out.Months, mo)
	}
	fas, err := b.Source.Analyses(ctx, span)
	if err != nil {
		return nil, err
	}
	for _, fa := range fas {
		a, err := b.analysis(ctx, fa.TicketNo, names)
		if err != nil {
			return nil, err
		}
		out.Analyses = append(out.Analyses, a)
	}
	return out, nil
}

// Faults streams the tickets reported in s.
func (b *Builder) Faults(s bot.Span) func(ctx context.Context, fn func(*bot.Ticket) error) error {
	return func(ctx context.Context, fn func(*bot.Ticket) error) error { return b.Source.EachTicket(ctx, s, fn) }
}
