package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"weibao/bot"
	"weibao/bot/access"
)

// Reports serves the report downloads (*report.Service).
type Reports interface {
	Digest(ctx context.Context, day time.Time) (string, error)
	MonthlyFile(ctx context.Context, month time.Time) (name string, data []byte, err error)
	QuarterlyFile(ctx context.Context, q time.Time) (name string, data []byte, err error)
	AnalysisFile(ctx context.Context, no, format string) (name, contentType string, data []byte, err error)
	SurveyDone(ctx context.Context, no string, answers map[string]string) error
}

// JobRuns is the scheduler's run history (storage.DB).
type JobRuns interface {
	Runs(ctx context.Context, job string, offset, limit int) ([]bot.JobRun, error)
}

// Files serves stored documents by id (storage.DB): what a file message
// names when WeCom cannot carry it.
type Files interface {
	File(ctx context.Context, id int64) (*bot.StoredFile, error)
}

// ReportOptions configure the report API.
type ReportOptions struct {
	Reports  Reports
	Runs     JobRuns
	Files    Files
	Location *time.Location
	Clock    bot.Clock
}

// RegisterReports adds the report API (after RegisterAccess), by role:
//
//	GET  /api/v1/reports/digest?date=2026-11-25      viewer: the digest (markdown)
//	GET  /api/v1/reports/monthly?month=2026-11       viewer: the monthly summary (xlsx)
//	GET  /api/v1/reports/quarterly?quarter=2026Q4    viewer: the quarterly package (zip)
//	GET  /api/v1/tickets/:no/analysis?format=html    viewer: a fault analysis report (markdown, html, xlsx)
//	POST /api/v1/tickets/:no/analysis                engineer: the answers {"cause","impact","conclusion"} (audited)
//	GET  /api/v1/jobs/runs?job=digest&page=1         viewer: the scheduler's run history, newest first
//	GET  /api/v1/files/:id                           viewer: a stored document a message named
func (s *Server) RegisterReports(opt ReportOptions) {
	if s.auth == nil || opt.Reports == nil {
		return
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	h := &reportHandler{opt: opt, log: s.opt.Logger, texts: s.opt.Texts, access: s.auth.access}
	g := s.engine.Group("/api/v1")
	read := s.authed(access.Viewer)
	g.GET("/reports/digest", read, h.digest)
	g.GET("/reports/monthly", read, h.monthly)
	g.GET("/reports/quarterly", read, h.quarterly)
	g.GET("/tickets/:no/analysis", read, h.analysis)
	g.POST("/tickets/:no/analysis", s.authed(access.Engineer), h.submitAnalysis)
	if opt.Runs != nil {
		g.GET("/jobs/runs", read, h.runs)
	}
	if opt.Files != nil {
		g.GET("/files/:id", read, h.storedFile)
	}
}

type reportHandler struct {
	opt    ReportOptions
	log    *slog.Logger
	texts  Texts
	access *access.Service
}

var errBadPeriod = errors.New("bad period")

// parsePeriod reads "2006-01-02", "2006-01" or "2026Q4" in loc.
func parsePeriod(s string, loc *time.Location) (time.Time, error) {
	if y, q, ok := strings.Cut(strings.ToUpper(s), "Q"); ok {
		yy, err1 := strconv.Atoi(y)
		qq, err2 := strconv.Atoi(q)
		if err1 != nil || err2 != nil || qq < 1 || qq > 4 {
			return time.Time{}, errBadPeriod
		}
		return time.Date(yy, time.Month(qq*3-2), 1, 0, 0, 0, 0, loc), nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errBadPeriod
}

// period reads the query parameter, defaulting to the previous period
// (yesterday, last month, last quarter) when absent.
func (h *reportHandler) period(c *gin.Context, param string, back func(time.Time) time.Time) (time.Time, bool) {
	v := c.Query(param)
	if v == "" {
		return back(h.opt.Clock.Now().In(h.opt.Location)), true
	}
	t, err := parsePeriod(v, h.opt.Location)
	if err != nil {
		badRequest(c, h.texts, badField(param, "period", "%s: %q is not like 2026-11-25, 2026-11 or 2026Q4", param, v))
		return t, false
	}
	return t, true
}

func (h *reportHandler) digest(c *gin.Context) {
	day, ok := h.period(c, "date", func(t time.Time) time.Time { return t.AddDate(0, 0, -1) })
	if !ok {
		return
	}
	text, err := h.opt.Reports.Digest(c.Request.Context(), day)
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "text/markdown; charset=utf-8", []byte(text+"\n"))
}

func (h *reportHandler) monthly(c *gin.Context) {
	m, ok := h.period(c, "month", func(t time.Time) time.Time { return t.AddDate(0, -1, 0) })
	if !ok {
		return
	}
	name, data, err := h.opt.Reports.MonthlyFile(c.Request.Context(), m)
	h.file(c, name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", data, err)
}

func (h *reportHandler) quarterly(c *gin.Context) {
	q, ok := h.period(c, "quarter", func(t time.Time) time.Time { return t.AddDate(0, -3, 0) })
	if !ok {
		return
	}
	name, data, err := h.opt.Reports.QuarterlyFile(c.Request.Context(), q)
	h.file(c, name, "application/zip", data, err)
}

func (h *reportHandler) analysis(c *gin.Context) {
	no := c.Param("no")
	if !bot.ValidTicketNo(no) {
		badRequest(c, h.texts, badField("no", "ticket_no", "no: %q is not a ticket number like F20261125-0001", no))
		return
	}
	name, typ, data, err := h.opt.Reports.AnalysisFile(c.Request.Context(), no, c.Query("format"))
	h.file(c, name, typ, data, err)
}

type answersJSON struct {
	Cause      string `json:"cause"`
	Impact     string `json:"impact"`
	Conclusion string `json:"conclusion"`
}

func (h *reportHandler) submitAnalysis(c *gin.Context) {
	var a answersJSON
	if err := bindStrict(c, &a); err != nil {
		badRequest(c, h.texts, err)
		return
	}
	for _, f := range []struct{ name, v string }{{"cause", a.Cause}, {"impact", a.Impact}, {"conclusion", a.Conclusion}} {
		if strings.TrimSpace(f.v) == "" {
			badRequest(c, h.texts, badField(f.name, "text", "%s: want non-empty text", f.name))
			return
		}
	}
	no := c.Param("no")
	if !bot.ValidTicketNo(no) {
		badRequest(c, h.texts, badField("no", "ticket_no", "no: %q is not a ticket number like F20261125-0001", no))
		return
	}
	ctx := c.Request.Context()
	err := h.opt.Reports.SurveyDone(ctx, no, map[string]string{"cause": a.Cause, "impact": a.Impact, "conclusion": a.Conclusion})
	if err == nil {
		err = h.access.Audit(ctx, Who(c), from(c), "analysis.submit", "tickets/"+no, nil, a)
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *reportHandler) runs(c *gin.Context) {
	p, err := readPage(c, "job")
	if err != nil {
		badRequest(c, h.texts, err)
		return
	}
	runs, err := h.opt.Runs.Runs(c.Request.Context(), c.Query("job"), p.offset(), p.per+1)
	if err != nil {
		h.fail(c, err)
		return
	}
	out := make([]gin.H, len(runs))
	for i, r := range runs {
		out[i] = gin.H{"job": r.Job, "scheduled": r.Scheduled.In(h.opt.Location), "replica": r.Replica,
			"started": r.Started.In(h.opt.Location), "result": r.Result, "error": r.Error}
		if !r.Ended.IsZero() {
			out[i]["ended"] = r.Ended.In(h.opt.Location)
		}
	}
	listPage(c, p, out)
}

func (h *reportHandler) storedFile(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		badRequest(c, h.texts, badField("id", "file_id", "id: %q is not a file number", c.Param("id")))
		return
	}
	f, err := h.opt.Files.File(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return
	}
	typ := mime.TypeByExtension(path.Ext(f.Name))
	if typ == "" || strings.HasPrefix(typ, "text/") {
		typ = "application/octet-stream" // always a download
	}
	h.file(c, f.Name, typ, f.Data, nil)
}

// file answers a download. Report names are Chinese: filename* carries the
// name percent-encoded (RFC 6266); an ASCII filename beside it is what
// clients that read only that one (curl -OJ) save the file as.
func (h *reportHandler) file(c *gin.Context, name, typ string, data []byte, err error) {
	if err != nil {
		h.fail(c, err)
		return
	}
	disposition := "attachment"
	if strings.HasPrefix(typ, "text/") {
		disposition = "inline"
	}
	c.Header("Content-Disposition", fmt.Sprintf("%s; filename=%q; filename*=UTF-8''%s", disposition, asciiName(name), url.PathEscape(name)))
	c.Data(http.StatusOK, typ, data)
}

func (h *reportHandler) fail(c *gin.Context, err error) { answerErr(c, h.texts, h.log, err) }

// asciiName is name with what is not plain ASCII dropped, prefixed
// "weibao-" when anything was: 运维月报-2026-11.xlsx → weibao-2026-11.xlsx.
func asciiName(name string) string {
	kept := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '/' {
			return -1
		}
		return r
	}, name)
	if kept == name {
		return name
	}
	return "weibao-" + strings.TrimLeft(kept, "-_. ")
}
