package report

import (
	"context"
	"time"

	"weibao/bot"
)

// The download API's view of the reports: finished files with their names.

// Content types of the downloads.
const (
	TypeXLSX     = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	TypeZip      = "application/zip"
	TypeHTML     = "text/html; charset=utf-8"
	TypeMarkdown = "text/markdown; charset=utf-8"
)

// MonthlyFile is the workbook of the month holding month.
func (s *Service) MonthlyFile(ctx context.Context, month time.Time) (name string, data []byte, err error) {
	m, b, err := s.MonthlyWorkbook(ctx, month)
	if err != nil {
		return "", nil, err
	}
	return s.MonthlyName(m.Month), b, nil
}

// QuarterlyFile is the package of the quarter holding q.
func (s *Service) QuarterlyFile(ctx context.Context, q time.Time) (name string, data []byte, err error) {
	qu, b, err := s.QuarterlyZip(ctx, q)
	if err != nil {
		return "", nil, err
	}
	return s.QuarterName(qu.Span), b, nil
}

// AnalysisFile renders ticket no's analysis report as "markdown", "html" or "xlsx".
func (s *Service) AnalysisFile(ctx context.Context, no, format string) (name, contentType string, data []byte, err error) {
	a, err := s.AnalysisReport(ctx, no)
	if err != nil {
		return "", "", nil, err
	}
	base := s.r.t("report.file.analysis", map[string]any{"no": no})
	switch format {
	case "", "markdown", "md":
		return base + ".md", TypeMarkdown, []byte(s.r.AnalysisMarkdown(a) + "\n"), nil
	case "html":
		b, err := s.r.AnalysisHTML(a)
		return base + ".html", TypeHTML, b, err
	case "xlsx":
		b, err := s.AnalysisXLSX(a)
		return base + ".xlsx", TypeXLSX, b, err
	}
	return "", "", nil, bot.Errorf(bot.ErrInvalid, "api.bad_field", map[string]any{"field": "format", "form": "analysis_format"},
		"format: %q is not markdown, html or xlsx", format)
}
