// Package xlsx encodes weibao's reports as Excel workbooks (excelize): the
// monthly fault summary with native charts, fault analysis reports and the
// quarterly zip with its index sheet. It is the one place excelize is
// imported. Headers are Chinese from the catalogue, header rows are frozen,
// columns sized, and times are real Excel dates in the hospital's zone.
package xlsx

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/xuri/excelize/v2"

	"weibao/bot"
	"weibao/bot/report"
)

// Encoder implements report.Encoder.
type Encoder struct {
	Texts report.Texts
}

var _ report.Encoder = Encoder{}

func (e Encoder) t(key string, f map[string]any) string { return e.Texts.Text(key, f) }

// wall turns t into its wall-clock time in loc, as UTC: excelize stores the
// absolute instant, and a reader in the hospital expects local time.
func wall(t time.Time, loc *time.Location) any {
	if t.IsZero() {
		return nil
	}
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), 0, time.UTC)
}

// styles are a workbook's cell styles.
type styles struct {
	header, date, datetime, month, pct, num, wrap int
}

func newStyles(f *excelize.File) (styles, error) {
	var s styles
	fmtp := func(v string) *string { return &v }
	for _, x := range []struct {
		dst *int
		st  excelize.Style
	}{
		{&s.header, excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
			Alignment: &excelize.Alignment{Vertical: "center", WrapText: true}}},
		{&s.date, excelize.Style{CustomNumFmt: fmtp("yyyy-mm-dd")}},
		{&s.datetime, excelize.Style{CustomNumFmt: fmtp("yyyy-mm-dd hh:mm")}},
		{&s.month, excelize.Style{CustomNumFmt: fmtp("yyyy-mm")}},
		{&s.pct, excelize.Style{NumFmt: 10}}, // 0.00%
		{&s.num, excelize.Style{CustomNumFmt: fmtp("0.0")}},
		{&s.wrap, excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}}},
	} {
		id, err := f.NewStyle(&x.st)
		if err != nil {
			return s, err
		}
		*x.dst = id
	}
	return s, nil
}

// sheet writes one table: a frozen header row, widths, then rows of cells.
type sheet struct {
	f    *excelize.File
	name string
	st   styles
	row  int
	err  error
}

func (e Encoder) newSheet(f *excelize.File, st styles, name string, first bool, headers []string, widths []float64) *sheet {
	s := &sheet{f: f, name: name, st: st, row: 1}
	if first {
		s.err = f.SetSheetName("Sheet1", name)
	} else {
		_, s.err = f.NewSheet(name)
	}
	if s.err != nil {
		return s
	}
	for i, w := range widths {
		col, _ := excelize.ColumnNumberToName(i + 1)
		if s.err = f.SetColWidth(name, col, col, w); s.err != nil {
			return s
		}
	}
	if len(headers) > 0 {
		vals := make([]any, len(headers))
		for i, h := range headers {
			vals[i] = h
		}
		s.put(vals, nil)
		last, _ := excelize.ColumnNumberToName(len(headers))
		s.style("A1", last+"1", st.header)
		if s.err == nil {
			s.err = f.SetPanes(name, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
		}
	}
	return s
}

// put writes a row; styles[i] > 0 styles cell i.
func (s *sheet) put(vals []any, styles []int) {
	if s.err != nil {
		return
	}
	cell, _ := excelize.CoordinatesToCellName(1, s.row)
	if s.err = s.f.SetSheetRow(s.name, cell, &vals); s.err != nil {
		return
	}
	for i, id := range styles {
		if id > 0 {
			c, _ := excelize.CoordinatesToCellName(i+1, s.row)
			s.style(c, c, id)
		}
	}
	s.row++
}

func (s *sheet) style(from, to string, id int) {
	if s.err == nil {
		s.err = s.f.SetCellStyle(s.name, from, to, id)
	}
}

func minutes(d time.Duration) any {
	if d == 0 {
		return nil
	}
	return d.Minutes()
}

func ratio(c bot.ClockStats) any {
	if c.Due == 0 {
		return nil
	}
	return float64(c.Met) / float64(c.Due)
}

func finish(f *excelize.File) ([]byte, error) {
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Monthly encodes the monthly summary: a summary sheet with the compliance
// trend and its line chart, one sheet per view (category and ward with a
// column chart), and the fixes used per category.
func (e Encoder) Monthly(m *report.Monthly) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return nil, err
	}
	r := report.Renderer{Texts: e.Texts}
	sum := e.newSheet(f, st, e.t("report.sheet.summary", nil), true,
		[]string{e.t("report.col.month", nil), e.t("report.col.count", nil), e.t("report.col.ack_rate", nil),
			e.t("report.col.resolve_rate", nil), e.t("report.col.onsite_rate", nil)},
		[]float64{14, 10, 14, 14, 14})
	for _, p := range m.Trend {
		sum.put([]any{wall(p.Month, m.Location), p.Count, ratio(p.SLA.Ack), ratio(p.SLA.Resolve), ratio(p.SLA.OnSite)},
			[]int{st.month, 0, st.pct, st.pct, st.pct})
	}
	last := sum.row - 1
	sum.row++
	for _, kv := range [][2]any{
		{e.t("report.col.period", nil), wall(m.Month, m.Location)},
		{e.t("report.col.generated", nil), wall(m.AsOf, m.Location)},
		{e.t("report.col.count", nil), m.Total.Count},
		{e.t("report.col.resolved", nil), m.Total.Resolved},
		{e.t("report.col.ack_p50", nil), minutes(m.Total.AckP50)},
		{e.t("report.col.ack_p90", nil), minutes(m.Total.AckP90)},
		{e.t("report.col.resolve_p50", nil), minutes(m.Total.ResolveP50)},
		{e.t("report.col.resolve_p90", nil), minutes(m.Total.ResolveP90)},
		{e.t("report.col.ack_rate", nil), ratio(m.Total.SLA.Ack)},
		{e.t("report.col.resolve_rate", nil), ratio(m.Total.SLA.Resolve)},
		{e.t("report.col.onsite_rate", nil), ratio(m.Total.SLA.OnSite)},
	} {
		style := 0
		switch sum.row - last - 1 {
		case 1:
			style = st.month
		case 2:
			style = st.datetime
		case 5, 6, 7, 8:
			style = st.num
		case 9, 10, 11:
			style = st.pct
		}
		sum.put([]any{kv[0], kv[1]}, []int{st.header, style})
	}
	if sum.err != nil {
		return nil, sum.err
	}
	if err := e.chart(f, sum.name, "G2", excelize.Line, e.t("report.chart.trend", nil), last,
		[][2]string{{"C", e.t("report.col.ack_rate", nil)}, {"D", e.t("report.col.resolve_rate", nil)}, {"E", e.t("report.col.onsite_rate", nil)}}); err != nil {
		return nil, err
	}
	headers := []string{"", e.t("report.col.count", nil), e.t("report.col.resolved", nil), e.t("report.col.ack_p50", nil),
		e.t("report.col.ack_p90", nil), e.t("report.col.resolve_p50", nil), e.t("report.col.resolve_p90", nil),
		e.t("report.col.ack_rate", nil), e.t("report.col.resolve_rate", nil), e.t("report.col.onsite_rate", nil)}
	for _, v := range m.Views {
		headers[0] = e.t("report.col.group."+string(v.Dim), nil)
		s := e.newSheet(f, st, r.DimTitle(v.Dim), false, headers, []float64{22, 10, 10, 14, 14, 14, 14, 12, 12, 12})
		for _, row := range v.Rows {
			s.put([]any{row.Label, row.Count, row.Resolved, minutes(row.AckP50), minutes(row.AckP90), minutes(row.ResolveP50),
				minutes(row.ResolveP90), ratio(row.SLA.Ack), ratio(row.SLA.Resolve), ratio(row.SLA.OnSite)},
				[]int{0, 0, 0, st.num, st.num, st.num, st.num, st.pct, st.pct, st.pct})
		}
		if s.err != nil {
			return nil, s.err
		}
		if (v.Dim == bot.DimCategory || v.Dim == bot.DimWard) && len(v.Rows) > 0 {
			title := e.t("report.chart."+string(v.Dim), nil)
			if err := e.chart(f, s.name, "L2", excelize.Col, title, s.row-1, [][2]string{{"B", e.t("report.col.count", nil)}}); err != nil {
				return nil, err
			}
		}
	}
	fx := e.newSheet(f, st, e.t("report.sheet.fixes", nil), false,
		[]string{e.t("report.col.group.category", nil), e.t("report.col.solution", nil), e.t("report.col.times", nil)}, []float64{22, 60, 10})
	for _, x := range m.Fixes {
		fx.put([]any{x.Category, x.Solution, x.N}, []int{0, st.wrap})
	}
	if fx.err != nil {
		return nil, fx.err
	}
	f.SetActiveSheet(0)
	return finish(f)
}

// chart adds a native chart over rows 2..last: categories in column A,
// one series per (column, name).
func (e Encoder) chart(f *excelize.File, sheet, at string, typ excelize.ChartType, title string, last int, series [][2]string) error {
	if last < 2 {
		return nil
	}
	q := "'" + sheet + "'!"
	c := &excelize.Chart{Type: typ, Title: excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: title}}},
		Format: excelize.GraphicOptions{ScaleX: 1.2, ScaleY: 1.2}, Legend: excelize.ChartLegend{Position: "bottom"}}
	for _, s := range series {
		c.Series = append(c.Series, excelize.ChartSeries{Name: s[1],
			Categories: fmt.Sprintf("%s$A$2:$A$%d", q, last), Values: fmt.Sprintf("%s$%s$2:$%s$%d", q, s[0], s[0], last)})
	}
	return f.AddChart(sheet, at, c)
}

// Analysis encodes a fault analysis report: its sections, then its steps.
func (e Encoder) Analysis(a *report.Analysis) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return nil, err
	}
	r := report.Renderer{Texts: e.Texts}
	s := e.newSheet(f, st, e.t("report.sheet.analysis", nil), true,
		[]string{e.t("report.col.section", nil), e.t("report.col.content", nil)}, []float64{20, 90})
	s.put([]any{e.t("report.col.ticket", nil), a.Ticket.No}, nil)
	s.put([]any{e.t("report.col.reported", nil), wall(a.Ticket.ReportedAt, a.Location)}, []int{0, st.datetime})
	s.put([]any{e.t("report.col.resolved_at", nil), wall(a.Ticket.ResolvedAt, a.Location)}, []int{0, st.datetime})
	for i, lines := range r.AnalysisSections(a) {
		text := ""
		for j, l := range lines {
			if j > 0 {
				text += "\n"
			}
			text += l
		}
		s.put([]any{r.SectionTitle(report.Sections[i]), text}, []int{st.header, st.wrap})
	}
	if s.err != nil {
		return nil, s.err
	}
	steps := e.newSheet(f, st, e.t("report.sheet.steps", nil), false,
		[]string{e.t("report.col.time", nil), e.t("report.col.action", nil), e.t("report.col.actor", nil), e.t("report.col.detail", nil)},
		[]float64{18, 14, 12, 70})
	for _, x := range a.Steps {
		steps.put([]any{wall(x.At, a.Location), e.t("kind."+string(x.Kind), nil), x.Who, x.Detail}, []int{st.datetime, 0, 0, st.wrap})
	}
	if steps.err != nil {
		return nil, steps.err
	}
	return finish(f)
}

// entry is one file of the quarterly zip, for the index.
type entry struct{ name, note string }

// Quarterly writes the quarterly zip.
func (e Encoder) Quarterly(ctx context.Context, w io.Writer, q *report.Quarter, docs []report.Doc,
	faults func(ctx context.Context, fn func(*bot.Ticket) error) error) error {
	zw := zip.NewWriter(w)
	var index []entry
	// Names are UTF-8 (flagged as such); times are the package's, in the
	// hospital's zone, not 1980.
	create := func(name string) (io.Writer, error) {
		return zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: q.Made.In(q.Location)})
	}
	add := func(name, note string, data []byte) error {
		fw, err := create(name)
		if err != nil {
			return err
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
		index = append(index, entry{name, note})
		return nil
	}
	qno := (int(q.Span.From.Month())-1)/3 + 1
	// The fault list streams: one row in memory at a time.
	name := e.t("report.file.faults", map[string]any{"year": q.Span.From.Year(), "q": qno}) + ".xlsx"
	fw, err := create(name)
	if err != nil {
		return err
	}
	n, err := e.faultList(ctx, fw, q, faults)
	if err != nil {
		return fmt.Errorf("fault list: %w", err)
	}
	index = append(index, entry{name, e.t("report.index.faults", map[string]any{"n": n})})
	for _, m := range q.Months {
		b, err := e.Monthly(m)
		if err != nil {
			return err
		}
		name := e.t("report.dir.monthly", nil) + "/" + e.t("report.file.monthly", map[string]any{"month": m.Month.Format("2006-01")}) + ".xlsx"
		if err := add(name, e.t("report.index.monthly", map[string]any{"month": m.Month.Format("2006-01"), "n": m.Total.Count}), b); err != nil {
			return err
		}
	}
	for _, d := range docs {
		if err := add(d.Name, d.Note, d.Data); err != nil {
			return err
		}
	}
	idx, err := e.index(q, qno, index, len(q.Analyses))
	if err != nil {
		return err
	}
	fw, err = create(e.t("report.file.index", nil) + ".xlsx")
	if err != nil {
		return err
	}
	if _, err := fw.Write(idx); err != nil {
		return err
	}
	return zw.Close()
}

func (e Encoder) index(q *report.Quarter, qno int, files []entry, analyses int) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return nil, err
	}
	s := e.newSheet(f, st, e.t("report.sheet.index", nil), true,
		[]string{e.t("report.col.seq", nil), e.t("report.col.file", nil), e.t("report.col.note", nil)}, []float64{8, 60, 50})
	for i, x := range files {
		s.put([]any{i + 1, x.name, x.note}, nil)
	}
	s.row++
	s.put([]any{e.t("report.col.quarter", nil), fmt.Sprintf("%dQ%d", q.Span.From.Year(), qno)}, []int{st.header})
	s.put([]any{e.t("report.col.from", nil), wall(q.Span.From, q.Location)}, []int{st.header, st.date})
	s.put([]any{e.t("report.col.to", nil), wall(q.Span.To.AddDate(0, 0, -1), q.Location)}, []int{st.header, st.date})
	s.put([]any{e.t("report.col.analyses", nil), analyses}, []int{st.header})
	if q.Records == 0 {
		s.put([]any{e.t("report.col.records", nil), e.t("report.index.no_records", nil)}, []int{st.header})
	}
	if s.err != nil {
		return nil, s.err
	}
	return finish(f)
}

// faultList streams the quarter's tickets into a workbook and returns how many.
func (e Encoder) faultList(ctx context.Context, w io.Writer, q *report.Quarter, faults func(ctx context.Context, fn func(*bot.Ticket) error) error) (int, error) {
	f := excelize.NewFile()
	defer f.Close()
	st, err := newStyles(f)
	if err != nil {
		return 0, err
	}
	sheet := e.t("report.sheet.faults", nil)
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return 0, err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return 0, err
	}
	cols := []struct {
		key   string
		width float64
	}{{"ticket", 16}, {"reported", 17}, {"ward", 12}, {"category", 18}, {"type", 10}, {"scope", 14}, {"severity", 14},
		{"priority", 8}, {"status", 12}, {"engineer", 10}, {"acknowledged", 17}, {"resolved_at", 17}, {"ack_minutes", 12},
		{"resolve_minutes", 12}, {"ack_late", 10}, {"resolve_late", 10}, {"cause", 30}, {"solution", 30}}
	header := make([]any, len(cols))
	for i, c := range cols {
		header[i] = excelize.Cell{StyleID: st.header, Value: e.t("report.col."+c.key, nil)}
		if err := sw.SetColWidth(i+1, i+1, c.width); err != nil {
			return 0, err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return 0, err
	}
	if err := sw.SetRow("A1", header); err != nil {
		return 0, err
	}
	loc, n := q.Location, 0
	date := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return excelize.Cell{StyleID: st.datetime, Value: wall(t, loc)}
	}
	mins := func(from, to time.Time) any {
		if to.IsZero() || to.Before(from) {
			return nil
		}
		return excelize.Cell{StyleID: st.num, Value: to.Sub(from).Minutes()}
	}
	yes := e.t("report.yes", nil)
	late := func(d time.Duration, due, stop time.Time) any {
		if d > 0 || (!due.IsZero() && !stop.IsZero() && stop.After(due)) {
			return yes
		}
		return nil
	}
	row := make([]any, len(cols))
	err = faults(ctx, func(t *bot.Ticket) error {
		n++
		row[0], row[1], row[2], row[3] = t.No, date(t.ReportedAt), q.Names.Ward(t.WardCode), q.Names.Category(t.Category)
		row[4], row[5], row[6] = e.t("type."+string(t.Type), nil), e.t("scope."+string(t.Scope), nil), e.t("severity."+string(t.Severity), nil)
		row[7], row[8], row[9] = string(t.Priority), e.t("status."+string(t.Status), nil), q.Names.Person(t.AssigneeID)
		row[10], row[11] = date(t.AcknowledgedAt), date(t.ResolvedAt)
		row[12], row[13] = mins(t.ReportedAt, t.AcknowledgedAt), mins(t.ReportedAt, t.ResolvedAt)
		row[14], row[15] = late(t.Late.Ack, t.Due.Ack, t.AcknowledgedAt), late(t.Late.Resolve, t.Due.Resolve, t.ResolvedAt)
		row[16], row[17] = t.Cause, t.Solution
		cell, _ := excelize.CoordinatesToCellName(1, n+1)
		return sw.SetRow(cell, row)
	})
	if err != nil {
		return 0, err
	}
	if err := sw.Flush(); err != nil {
		return 0, err
	}
	return n, f.Write(w)
}
