package report

import (
	"bytes"
	"html/template"
)

// The printable page: A4, the reader's own Chinese fonts (nothing is
// embedded or fetched, so it opens offline on a hospital PC), print via the
// browser's "Save as PDF".
var pageTmpl = template.Must(template.New("analysis").Parse(`<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
@page { size: A4; margin: 18mm 16mm; }
body { font-family: "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", SimSun, sans-serif;
       font-size: 11pt; line-height: 1.6; color: #111; max-width: 180mm; margin: 0 auto; }
h1 { font-size: 16pt; text-align: center; margin: 0 0 4mm; }
.meta { text-align: center; color: #555; font-size: 9pt; margin-bottom: 6mm; }
h2 { font-size: 12pt; border-left: 3pt solid #333; padding-left: 2mm; margin: 5mm 0 2mm; page-break-after: avoid; }
p { margin: 0 0 1.5mm; white-space: pre-wrap; }
ol { margin: 0; padding-left: 6mm; }
section { page-break-inside: avoid; }
.sign { margin-top: 12mm; display: flex; justify-content: space-between; }
@media print { .noprint { display: none; } }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<div class="meta">{{.Meta}}</div>
{{range .Sections}}<section>
<h2>{{.Title}}</h2>
{{if .List}}<ol>{{range .Lines}}<li>{{.}}</li>{{end}}</ol>{{else}}{{range .Lines}}<p>{{.}}</p>{{end}}{{end}}
</section>
{{end}}<div class="sign"><span>{{.SignEngineer}}</span><span>{{.SignLead}}</span></div>
<p class="noprint" style="margin-top:8mm;color:#777;font-size:9pt">{{.PrintHint}}</p>
</body>
</html>
`))

type pageSection struct {
	Title string
	List  bool
	Lines []string
}

// AnalysisHTML renders a fault analysis report as a printable page.
func (r Renderer) AnalysisHTML(a *Analysis) ([]byte, error) {
	data := struct {
		Title, Meta, SignEngineer, SignLead, PrintHint string
		Sections                                       []pageSection
	}{
		Title: r.t("report.analysis.doc_title", map[string]any{"no": a.Ticket.No}),
		Meta: r.t("report.analysis.meta", map[string]any{"ward": a.Ward, "engineer": r.who(a.Engineer),
			"status": r.t("report.analysis.status."+a.Answers.Status, nil)}),
		SignEngineer: r.t("report.analysis.sign_engineer", nil),
		SignLead:     r.t("report.analysis.sign_lead", nil),
		PrintHint:    r.t("report.analysis.print_hint", nil),
	}
	for i, lines := range r.AnalysisSections(a) {
		data.Sections = append(data.Sections, pageSection{Title: r.SectionTitle(Sections[i]), List: i == 1, Lines: lines})
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, data); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
