package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"weibao/bot"
)

// Outbox queues messages that no ticket change caused (bot.Outbox's Enqueue).
type Outbox interface {
	Enqueue(ctx context.Context, msgs ...bot.Outgoing) error
}

// Doc is one file of the quarterly package.
type Doc struct {
	Name string // path inside the zip
	Data []byte
	Note string // what it is, for the index sheet
}

// Encoder writes workbooks and the quarterly zip (package xlsx).
type Encoder interface {
	Monthly(m *Monthly) ([]byte, error)
	Analysis(a *Analysis) ([]byte, error)
	// Quarterly writes the zip: an index sheet, the fault list streamed from
	// faults, the monthly workbooks and docs.
	Quarterly(ctx context.Context, w io.Writer, q *Quarter, docs []Doc, faults func(ctx context.Context, fn func(*bot.Ticket) error) error) error
}

// Analyses keeps the engineer's part of fault analysis reports (storage.DB).
type Analyses interface {
	OpenAnalysis(ctx context.Context, a bot.FaultAnalysis) (bool, error)
	CompleteAnalysis(ctx context.Context, a bot.FaultAnalysis) (bool, error)
	AnalysisReminded(ctx context.Context, no string, at time.Time) error
	PendingAnalyses(ctx context.Context, limit int) ([]*bot.FaultAnalysis, error)
	TicketsNeedingAnalysis(ctx context.Context, since time.Time, limit int) ([]*bot.Ticket, error)
}

// Surveys asks for a guided question-and-answer with a person in chat
// (conversation.SurveyRequests, which queues it for the dialogue). The
// dialogue knows the survey named SurveyName by its SurveyQuestions and
// SurveyDone.
type Surveys interface {
	// StartSurvey asks in working hours; intro comes before the first question.
	StartSurvey(ctx context.Context, name, userID, chatID, subject, intro string) error
}

// SurveyName is the fault analysis survey's name; its subject is the ticket number.
const SurveyName = "fault_analysis"

// Answer keys of the fault analysis survey.
const (
	AnswerCause      = "cause"
	AnswerImpact     = "impact"
	AnswerConclusion = "conclusion"
)

// Question is one survey question with its rendered prompt and the label an
// answer to it may start with ("原因：…").
type Question struct{ Key, Label, Prompt string }

// Options configure a Service.
type Options struct {
	Builder  *Builder
	Texts    Texts
	Files    bot.Files
	Outbox   Outbox
	Encoder  Encoder
	Analyses Analyses
	// Surveys asks the engineer the analysis questions in chat; without it
	// the engineer is sent the questions and answers through the API.
	Surveys Surveys
	// LeadChat is a WeCom group that also gets the digest and reports; optional.
	LeadChat string
	// AnalysisDue is how long the engineer has for the analysis (default 3 days).
	AnalysisDue time.Duration
	// Records adds maintenance records (inspections, upgrades, knowledge
	// base) to the quarterly package; nil until that issue lands.
	Records func(ctx context.Context, s bot.Span) ([]Doc, error)
	Logger  *slog.Logger
}

// Service builds, renders and sends the reports. Messages go to the outbox
// with keys unique per report and period, so a job that runs twice for the
// same period sends once.
type Service struct {
	opt Options
	r   Renderer
}

// NewService returns a Service.
func NewService(opt Options) *Service {
	if opt.AnalysisDue <= 0 {
		opt.AnalysisDue = 72 * time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Builder.Texts == nil {
		opt.Builder.Texts = opt.Texts
	}
	return &Service{opt: opt, r: Renderer{Texts: opt.Texts}}
}

// Renderer returns the service's renderer.
func (s *Service) Renderer() Renderer { return s.r }

func (s *Service) now() time.Time { return s.opt.Builder.Clock.Now() }

// ErrNoLead means nobody active has the role lead.
var ErrNoLead = bot.Errorf(bot.ErrNotFound, "report.no_lead", nil, "no active person with role lead")

func (s *Service) lead(ctx context.Context) (*bot.Person, error) {
	people, err := s.opt.Builder.Dir.People(ctx, bot.RoleLead)
	if err != nil {
		return nil, err
	}
	if len(people) == 0 {
		return nil, ErrNoLead
	}
	return &people[0], nil
}

// toLead queues text (and file, if any) to the lead and to the lead's group.
func (s *Service) toLead(ctx context.Context, key, text string, file *bot.FileRef) error {
	lead, err := s.lead(ctx)
	if err != nil {
		return err
	}
	msgs := []bot.Outgoing{{Key: key + "/" + lead.UserID, ToUsers: []string{lead.UserID}, Format: bot.FormatMarkdown, Text: text}}
	if file != nil {
		msgs = append(msgs, bot.Outgoing{Key: key + "/file/" + lead.UserID, ToUsers: []string{lead.UserID}, File: file})
	}
	if s.opt.LeadChat != "" {
		msgs = append(msgs, bot.Outgoing{Key: key + "/chat", ToChat: s.opt.LeadChat, Format: bot.FormatMarkdown, Text: text})
		if file != nil {
			msgs = append(msgs, bot.Outgoing{Key: key + "/file/chat", ToChat: s.opt.LeadChat, File: file})
		}
	}
	return s.opt.Outbox.Enqueue(ctx, msgs...)
}

// Digest renders the digest of the civil day holding day (the chat command
// 日报/digest; conversation's Digester).
func (s *Service) Digest(ctx context.Context, day time.Time) (string, error) {
	d, err := s.opt.Builder.Digest(ctx, day)
	if err != nil {
		return "", err
	}
	return s.r.DigestMarkdown(d), nil
}

// SendDigest sends the lead the digest of the civil day holding day.
func (s *Service) SendDigest(ctx context.Context, day time.Time) error {
	text, err := s.Digest(ctx, day)
	if err != nil {
		return err
	}
	return s.toLead(ctx, "digest/"+DaySpan(day, s.opt.Builder.Location).From.Format("2006-01-02"), text, nil)
}

// MonthlyName is the monthly workbook's file name.
func (s *Service) MonthlyName(m time.Time) string {
	return s.r.t("report.file.monthly", map[string]any{"month": m.Format("2006-01")}) + ".xlsx"
}

// MonthlyWorkbook builds the summary of the month holding month and its workbook.
func (s *Service) MonthlyWorkbook(ctx context.Context, month time.Time) (*Monthly, []byte, error) {
	m, err := s.opt.Builder.Monthly(ctx, month)
	if err != nil {
		return nil, nil, err
	}
	b, err := s.opt.Encoder.Monthly(m)
	if err != nil {
		return nil, nil, fmt.Errorf("monthly workbook: %w", err)
	}
	return m, b, nil
}

// SendMonthly sends the lead the summary of the month holding month, with its workbook.
func (s *Service) SendMonthly(ctx context.Context, month time.Time) error {
	m, b, err := s.MonthlyWorkbook(ctx, month)
	if err != nil {
		return err
	}
	ref, err := s.opt.Files.PutFile(ctx, s.MonthlyName(m.Month), b)
	if err != nil {
		return err
	}
	return s.toLead(ctx, "monthly/"+m.Month.Format("2006-01"), s.r.MonthlyMarkdown(m), &ref)
}

// QuarterName is the quarterly package's file name.
func (s *Service) QuarterName(q bot.Span) string {
	return s.r.t("report.file.quarterly", map[string]any{"year": q.From.Year(), "q": (int(q.From.Month())-1)/3 + 1}) + ".zip"
}

// QuarterlyZip builds the package of the quarter holding q.
func (s *Service) QuarterlyZip(ctx context.Context, q time.Time) (*Quarter, []byte, error) {
	qu, err := s.opt.Builder.Quarter(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	var docs []Doc
	for _, a := range qu.Analyses {
		d, err := s.analysisDocs(a)
		if err != nil {
			return nil, nil, err
		}
		docs = append(docs, d...)
	}
	if s.opt.Records != nil {
		recs, err := s.opt.Records(ctx, qu.Span)
		if err != nil {
			return nil, nil, fmt.Errorf("quarterly records: %w", err)
		}
		docs = append(docs, recs...)
		qu.Records = len(recs)
	}
	var buf bytes.Buffer
	if err := s.opt.Encoder.Quarterly(ctx, &buf, qu, docs, s.opt.Builder.Faults(qu.Span)); err != nil {
		return nil, nil, fmt.Errorf("quarterly package: %w", err)
	}
	return qu, buf.Bytes(), nil
}

// analysisDocs renders one analysis as the package's markdown, page and workbook.
func (s *Service) analysisDocs(a *Analysis) ([]Doc, error) {
	dir := s.r.t("report.dir.analyses", nil) + "/" + a.Ticket.No
	page, err := s.r.AnalysisHTML(a)
	if err != nil {
		return nil, err
	}
	book, err := s.opt.Encoder.Analysis(a)
	if err != nil {
		return nil, err
	}
	note := s.r.t("report.analysis.title_plain", map[string]any{"no": a.Ticket.No, "ward": a.Ward})
	return []Doc{
		{Name: dir + ".html", Data: page, Note: note},
		{Name: dir + ".md", Data: []byte(s.r.AnalysisMarkdown(a) + "\n"), Note: note},
		{Name: dir + ".xlsx", Data: book, Note: note},
	}, nil
}

// SendQuarterly sends the lead the package of the quarter holding q.
func (s *Service) SendQuarterly(ctx context.Context, q time.Time) error {
	qu, b, err := s.QuarterlyZip(ctx, q)
	if err != nil {
		return err
	}
	name := s.QuarterName(qu.Span)
	ref, err := s.opt.Files.PutFile(ctx, name, b)
	if err != nil {
		return err
	}
	text := s.r.t("report.quarterly.message", map[string]any{"name": name, "months": len(qu.Months), "analyses": len(qu.Analyses)})
	return s.toLead(ctx, "quarterly/"+qu.Span.From.Format("2006-01"), text, &ref)
}

// AnalysisReport builds ticket no's analysis report; ErrNotFound when the
// ticket needs none or it was never opened.
func (s *Service) AnalysisReport(ctx context.Context, no string) (*Analysis, error) {
	return s.opt.Builder.Analysis(ctx, no)
}

// AnalysisXLSX encodes an analysis report as a workbook.
func (s *Service) AnalysisXLSX(a *Analysis) ([]byte, error) { return s.opt.Encoder.Analysis(a) }

// SurveyQuestions are the fault analysis questions, rendered.
func (s *Service) SurveyQuestions() []Question {
	return []Question{
		{AnswerCause, s.r.t("report.survey.label.cause", nil), s.r.t("report.survey.cause", nil)},
		{AnswerImpact, s.r.t("report.survey.label.impact", nil), s.r.t("report.survey.impact", nil)},
		{AnswerConclusion, s.r.t("report.survey.label.conclusion", nil), s.r.t("report.survey.conclusion", nil)},
	}
}

// AnalysisOpen reports whether the ticket's fault analysis still waits for
// the engineer's answers: once given (in chat or through the API) the
// survey is not asked again.
func (s *Service) AnalysisOpen(ctx context.Context, no string) (bool, error) {
	a, err := s.opt.Builder.Source.Analysis(ctx, no)
	if errors.Is(err, bot.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return a.Status == bot.AnalysisPending, nil
}

// Committed is the service's subscription to storage's feed: a committed
// resolve opens the ticket's fault analysis when it needs one. A resolve
// whose analysis failed to open here is made up by SweepAnalyses.
func (s *Service) Committed(ctx context.Context, c bot.Committed) {
	if c.Ticket == nil || !c.Has(bot.EventResolved) {
		return
	}
	if err := s.OnResolved(ctx, c.Ticket); err != nil {
		s.opt.Logger.Warn("fault analysis not opened", "ticket_no", c.Ticket.No, "err", err)
	}
}

// OnResolved opens the fault analysis of a resolved ticket that needs one and
// asks its engineer; called from the feed (Committed) and by the sweep, so a
// missed call is made up.
func (s *Service) OnResolved(ctx context.Context, t *bot.Ticket) error {
	if !bot.NeedsAnalysis(t) || t.ResolvedAt.IsZero() {
		return nil
	}
	engineer := t.AssigneeID
	opened, err := s.opt.Analyses.OpenAnalysis(ctx, bot.FaultAnalysis{TicketNo: t.No, EngineerID: engineer,
		OpenedAt: s.now(), DueAt: t.ResolvedAt.Add(s.opt.AnalysisDue)})
	if err != nil || !opened {
		return err
	}
	s.opt.Logger.Info("fault analysis opened", "ticket_no", t.No, "engineer", engineer)
	return s.ask(ctx, t.No, engineer, t.ResolvedAt.Add(s.opt.AnalysisDue), 0)
}

// ask sends the engineer the request (the n-th reminder when n > 0) and
// starts the survey.
func (s *Service) ask(ctx context.Context, no, engineer string, due time.Time, n int) error {
	if engineer == "" {
		return nil // nobody worked it; the lead sees it pending in the report
	}
	key := "report.analysis.ask"
	if n > 0 {
		key = "report.analysis.remind"
	}
	f := map[string]any{"no": no, "due": due.In(s.opt.Builder.Location).Format("01-02 15:04")}
	text := s.r.t(key, f)
	if s.opt.Surveys != nil {
		// The request and its first question go out together, in the
		// engineer's working hours: a fix at 02:46 is asked in the morning.
		return s.opt.Surveys.StartSurvey(ctx, SurveyName, engineer, "", no, text)
	}
	var qs []string
	for i, q := range s.SurveyQuestions() {
		qs = append(qs, fmt.Sprintf("%d. %s", i+1, q.Prompt))
	}
	text += "\n" + strings.Join(qs, "\n")
	return s.opt.Outbox.Enqueue(ctx, bot.Outgoing{Key: fmt.Sprintf("analysis/%s/ask/%d/%s", no, n, engineer), TicketNo: no,
		ToUsers: []string{engineer}, Format: bot.FormatText, Text: text})
}

// SurveyDone stores the engineer's answers and delivers the report to the
// lead (the survey's done callback; also the API's submit).
func (s *Service) SurveyDone(ctx context.Context, no string, answers map[string]string) error {
	done, err := s.opt.Analyses.CompleteAnalysis(ctx, bot.FaultAnalysis{TicketNo: no, Cause: answers[AnswerCause],
		Impact: answers[AnswerImpact], Conclusion: answers[AnswerConclusion], DoneAt: s.now()})
	if err != nil || !done {
		return err
	}
	return s.deliverAnalysis(ctx, no)
}

func (s *Service) deliverAnalysis(ctx context.Context, no string) error {
	a, err := s.opt.Builder.Analysis(ctx, no)
	if err != nil {
		return err
	}
	docs, err := s.analysisDocs(a)
	if err != nil {
		return err
	}
	lead, err := s.lead(ctx)
	if err != nil {
		return err
	}
	msgs := []bot.Outgoing{{Key: "analysis/" + no + "/report/" + lead.UserID, TicketNo: no, ToUsers: []string{lead.UserID},
		Format: bot.FormatMarkdown, Text: s.r.AnalysisMarkdown(a)}}
	for _, d := range docs {
		if strings.HasSuffix(d.Name, ".md") {
			continue
		}
		name := s.r.t("report.file.analysis", map[string]any{"no": no}) + d.Name[strings.LastIndexByte(d.Name, '.'):]
		ref, err := s.opt.Files.PutFile(ctx, name, d.Data)
		if err != nil {
			return err
		}
		msgs = append(msgs, bot.Outgoing{Key: "analysis/" + no + "/file/" + name + "/" + lead.UserID, TicketNo: no,
			ToUsers: []string{lead.UserID}, File: &ref})
	}
	// The dialogue thanks a person who answered in chat; answers that came
	// through the API get their confirmation here.
	if a.Answers.EngineerID != "" && s.opt.Surveys == nil {
		msgs = append(msgs, bot.Outgoing{Key: "analysis/" + no + "/thanks/" + a.Answers.EngineerID, TicketNo: no,
			ToUsers: []string{a.Answers.EngineerID}, Format: bot.FormatText, Text: s.r.t("report.analysis.thanks", map[string]any{"no": no})})
	}
	return s.opt.Outbox.Enqueue(ctx, msgs...)
}

// analysisLookback bounds how far back the sweep looks for resolved tickets
// that never got their analysis opened.
const analysisLookback = 30 * 24 * time.Hour

// remindEvery spaces reminders; the sweep runs daily.
const remindEvery = 20 * time.Hour

// SweepAnalyses opens analyses that a missed OnResolved left unopened and
// reminds engineers of pending ones, telling the lead of overdue ones. It is
// the daily "analysis" job.
func (s *Service) SweepAnalyses(ctx context.Context) error {
	now := s.now()
	missing, err := s.opt.Analyses.TicketsNeedingAnalysis(ctx, now.Add(-analysisLookback), 200)
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range missing {
		errs = append(errs, s.OnResolved(ctx, t))
	}
	pending, err := s.opt.Analyses.PendingAnalyses(ctx, 500)
	if err != nil {
		return err
	}
	for _, a := range pending {
		last := a.RemindedAt
		if last.IsZero() {
			last = a.OpenedAt
		}
		if now.Sub(last) < remindEvery {
			continue
		}
		if err := s.ask(ctx, a.TicketNo, a.EngineerID, a.DueAt, a.Reminders+1); err != nil {
			errs = append(errs, err)
			continue
		}
		if now.After(a.DueAt) {
			engineer := a.EngineerID
			if p, err := s.opt.Builder.Dir.Person(ctx, a.EngineerID); err == nil && p.Name != "" {
				engineer = p.Name
			}
			text := s.r.t("report.analysis.overdue", map[string]any{"no": a.TicketNo, "engineer": engineer,
				"due": a.DueAt.In(s.opt.Builder.Location).Format("01-02 15:04")})
			if lead, err := s.lead(ctx); err == nil {
				errs = append(errs, s.opt.Outbox.Enqueue(ctx, bot.Outgoing{Key: fmt.Sprintf("analysis/%s/overdue/%d/%s", a.TicketNo, a.Reminders+1, lead.UserID),
					TicketNo: a.TicketNo, ToUsers: []string{lead.UserID}, Format: bot.FormatText, Text: text}))
			}
		}
		errs = append(errs, s.opt.Analyses.AnalysisReminded(ctx, a.TicketNo, now))
	}
	return errors.Join(errs...)
}
