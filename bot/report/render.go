package report

import (
	"fmt"
	"strings"
	"time"

	"weibao/bot"
)

// Renderer renders reports as WeCom markdown (short lines: the lead reads
// them on a phone). Every word comes from the catalogue.
type Renderer struct{ Texts Texts }

func (r Renderer) t(key string, f map[string]any) string { return r.Texts.Text(key, f) }

// Ratio renders a clock's compliance: "18/20（90%）", or "无到期" when no
// deadline fell due.
func (r Renderer) Ratio(c bot.ClockStats) string {
	if c.Due == 0 {
		return r.t("report.ratio_none", nil)
	}
	return r.t("report.ratio", map[string]any{"met": c.Met, "due": c.Due, "pct": Percent(c)})
}

// Percent is met/due in whole percent, rounded down so 99.6% never shows as 100%.
func Percent(c bot.ClockStats) int {
	if c.Due == 0 {
		return 0
	}
	return c.Met * 100 / c.Due
}

// OptDuration is d for a template field (the catalogue renders it), or "—"
// when there is no figure.
func (r Renderer) OptDuration(d time.Duration) any {
	if d == 0 {
		return "—"
	}
	return d
}

func (r Renderer) who(name string) string { return or(name, r.t("report.nobody", nil)) }

func stamp(t time.Time, loc *time.Location) string { return t.In(loc).Format("01-02 15:04") }

func (r Renderer) priorities(p ByPriority) string {
	var parts []string
	for i, n := range p {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", Priorities[i], n))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return r.t("report.paren", map[string]any{"text": strings.Join(parts, "，")})
}

// DigestMarkdown renders the daily digest.
func (r Renderer) DigestMarkdown(d *Digest) string {
	var b strings.Builder
	line := func(key string, f map[string]any) { b.WriteString(r.t(key, f)); b.WriteByte('\n') }
	line("digest.title", map[string]any{"date": d.Day.Format("2006-01-02"), "weekday": r.t(fmt.Sprintf("report.weekday_%d", d.Day.Weekday()), nil)})
	if d.Quiet() {
		line("digest.all_clear", nil)
		r.onCall(&b, d)
		return strings.TrimRight(b.String(), "\n")
	}
	line("digest.summary", map[string]any{"new": d.Total.New.Sum(), "resolved": d.Total.Resolved.Sum(), "open": d.Total.Open.Sum()})
	b.WriteByte('\n')
	line("digest.by_ward", nil)
	for _, w := range d.Wards {
		line("digest.ward_line", map[string]any{"ward": w.Ward, "new": w.New.Sum(), "detail": r.priorities(w.New),
			"resolved": w.Resolved.Sum(), "open": w.Open.Sum()})
	}
	b.WriteByte('\n')
	line("digest.sla", map[string]any{"ack": r.Ratio(d.SLA.Ack), "resolve": r.Ratio(d.SLA.Resolve), "onsite": r.Ratio(d.SLA.OnSite)})
	if len(d.Breaches) > 0 {
		line("digest.breaches", map[string]any{"n": len(d.Breaches)})
		for _, x := range d.Breaches {
			running := ""
			if x.Running {
				running = r.t("digest.running", nil)
			}
			line("digest.breach_line", map[string]any{"no": x.TicketNo, "ward": x.Ward, "priority": x.Priority,
				"clock": x.Clock, "late": x.Late, "running": running, "who": r.who(x.Who)})
		}
	}
	if len(d.Urgent) > 0 {
		b.WriteByte('\n')
		line("digest.urgent", map[string]any{"n": len(d.Urgent)})
		for _, t := range d.Urgent {
			line("digest.urgent_line", map[string]any{"no": t.No, "ward": t.Ward, "priority": t.Priority, "status": t.Status,
				"since": stamp(t.Since, d.Location), "who": r.who(t.Who)})
		}
	}
	if len(d.Awaiting) > 0 {
		b.WriteByte('\n')
		line("digest.awaiting", map[string]any{"n": len(d.Awaiting)})
		for _, t := range d.Awaiting {
			line("digest.awaiting_line", map[string]any{"no": t.No, "ward": t.Ward, "since": stamp(t.Since, d.Location), "who": r.who(t.Who)})
		}
	}
	if len(d.Reopened) > 0 {
		b.WriteByte('\n')
		line("digest.reopened", map[string]any{"n": len(d.Reopened)})
		for _, e := range d.Reopened {
			line("digest.reopened_line", map[string]any{"no": e.TicketNo, "at": stamp(e.At, d.Location), "who": e.Who})
		}
	}
	r.onCall(&b, d)
	return strings.TrimRight(b.String(), "\n")
}

func (r Renderer) onCall(b *strings.Builder, d *Digest) {
	if len(d.OnCall) == 0 {
		return
	}
	var parts []string
	for _, l := range d.OnCall {
		parts = append(parts, r.t("digest.oncall_part", map[string]any{"at": l.At.In(d.Location).Format("15:04"),
			"primary": or(l.Primary, r.t("digest.roster_gap", nil)), "backup": or(l.Backup, "—")}))
	}
	b.WriteString("\n" + r.t("digest.oncall", map[string]any{"lines": strings.Join(parts, "；")}) + "\n")
}

// DimTitle is the heading of a monthly view.
func (r Renderer) DimTitle(d bot.Dimension) string { return r.t("report.dim."+string(d), nil) }

// MonthlyMarkdown renders the monthly summary's message; the workbook holds the detail.
func (r Renderer) MonthlyMarkdown(m *Monthly) string {
	var b strings.Builder
	line := func(key string, f map[string]any) { b.WriteString(r.t(key, f)); b.WriteByte('\n') }
	line("report.monthly.title", map[string]any{"year": m.Month.Year(), "month": int(m.Month.Month())})
	if m.Total.Count == 0 {
		line("report.monthly.none", nil)
		return strings.TrimRight(b.String(), "\n")
	}
	line("report.monthly.summary", map[string]any{"n": m.Total.Count, "resolved": m.Total.Resolved})
	line("report.monthly.sla", map[string]any{"ack": r.Ratio(m.Total.SLA.Ack), "resolve": r.Ratio(m.Total.SLA.Resolve),
		"onsite": r.Ratio(m.Total.SLA.OnSite)})
	line("report.monthly.times", map[string]any{"ack50": r.OptDuration(m.Total.AckP50), "ack90": r.OptDuration(m.Total.AckP90),
		"res50": r.OptDuration(m.Total.ResolveP50), "res90": r.OptDuration(m.Total.ResolveP90)})
	for _, v := range m.Views {
		b.WriteByte('\n')
		b.WriteString("**" + r.DimTitle(v.Dim) + "**\n")
		for _, row := range v.Rows {
			line("report.monthly.row", map[string]any{"label": row.Label, "n": row.Count,
				"res50": r.OptDuration(row.ResolveP50), "resolve": r.Ratio(row.SLA.Resolve)})
		}
	}
	if len(m.Fixes) > 0 {
		b.WriteByte('\n')
		line("report.monthly.fixes", nil)
		var cat string
		var parts []string
		flush := func() {
			if cat != "" {
				line("report.monthly.fix_line", map[string]any{"category": cat, "fixes": strings.Join(parts, "；")})
			}
		}
		for _, f := range m.Fixes {
			if f.Category != cat {
				flush()
				cat, parts = f.Category, nil
			}
			parts = append(parts, r.t("report.monthly.fix", map[string]any{"solution": f.Solution, "n": f.N}))
		}
		flush()
	}
	return strings.TrimRight(b.String(), "\n")
}

// Section titles of a fault analysis report, in order (tender 二.3).
var Sections = []string{"event", "steps", "cause", "impact", "fix", "summary"}

// AnalysisSections returns each section's title and lines.
func (r Renderer) AnalysisSections(a *Analysis) [][]string {
	t, loc := a.Ticket, a.Location
	pending := r.t("report.analysis.pending", map[string]any{"due": a.Answers.DueAt.In(loc).Format("2006-01-02 15:04")})
	answer := func(s string) string { return or(s, pending) }
	event := []string{
		r.t("report.analysis.event", map[string]any{"ward": a.Ward, "category": a.Category, "scope": t.Scope, "type": t.Type,
			"severity": t.Severity, "priority": t.Priority}),
		r.t("report.analysis.reported", map[string]any{"at": t.ReportedAt.In(loc).Format("2006-01-02 15:04"), "reporter": a.Reporter,
			"engineer": r.who(a.Engineer)}),
		t.Description,
	}
	var steps []string
	for _, s := range a.Steps {
		detail := ""
		if s.Detail != "" && s.Kind != bot.EventReported {
			detail = "：" + s.Detail
		}
		steps = append(steps, r.t("report.analysis.step", map[string]any{"at": s.At.In(loc).Format("01-02 15:04"), "kind": s.Kind,
			"who": s.Who, "detail": detail}))
	}
	cause := []string{answer(a.Answers.Cause)}
	if t.Cause != "" {
		cause = append(cause, r.t("report.analysis.recorded_cause", map[string]any{"cause": t.Cause}))
	}
	impact := []string{r.t("report.analysis.scope", map[string]any{"scope": t.Scope, "severity": t.Severity}), answer(a.Answers.Impact)}
	fix := []string{r.t("report.analysis.symptom", map[string]any{"text": t.Description})}
	if t.Workaround != "" {
		fix = append(fix, r.t("report.analysis.workaround", map[string]any{"text": t.Workaround}))
	}
	fix = append(fix, r.t("report.analysis.solution", map[string]any{"text": or(t.Solution, "—")}))
	if !t.ResolvedAt.IsZero() {
		fix = append(fix, r.t("report.analysis.duration", map[string]any{"at": t.ResolvedAt.In(loc).Format("2006-01-02 15:04"),
			"took": t.ResolvedAt.Sub(t.ReportedAt)}))
	}
	return [][]string{event, steps, cause, impact, fix, {answer(a.Answers.Conclusion)}}
}

// SectionTitle is a report section's heading.
func (r Renderer) SectionTitle(name string) string { return r.t("report.analysis.section."+name, nil) }

// AnalysisMarkdown renders a fault analysis report.
func (r Renderer) AnalysisMarkdown(a *Analysis) string {
	var b strings.Builder
	b.WriteString(r.t("report.analysis.title", map[string]any{"no": a.Ticket.No}) + "\n")
	for i, lines := range r.AnalysisSections(a) {
		b.WriteString("\n**" + r.SectionTitle(Sections[i]) + "**\n")
		for _, l := range lines {
			if i == 1 {
				l = "- " + l
			}
			b.WriteString(l + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
