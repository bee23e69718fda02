package records

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"weibao/bot"
)

// Encoder writes one table as a workbook (package xlsx).
type Encoder interface {
	Table(sheet string, headers []string, rows [][]string) ([]byte, error)
}

// File is an exported workbook.
type File struct {
	Name string
	Data []byte
	Note string // what it holds, for the quarterly package's index
}

var periodRE = regexp.MustCompile(`^(\d{4})-(\d{2})$|^(\d{4})Q([1-4])$`)

// Period reads "2026-12" (a month) or "2026Q4" (a quarter) in the
// service's zone.
func (s *Service) Period(p string) (bot.Span, error) {
	m := periodRE.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(p)))
	if m == nil {
		return bot.Span{}, bot.Errorf(bot.ErrInvalid, "err.record_period", map[string]any{"period": p}, "records: period %q is neither 2026-12 nor 2026Q4", p)
	}
	if m[1] != "" {
		y, _ := strconv.Atoi(m[1])
		mo, _ := strconv.Atoi(m[2])
		if mo < 1 || mo > 12 {
			return bot.Span{}, bot.Errorf(bot.ErrInvalid, "err.record_period", map[string]any{"period": p}, "records: month %d", mo)
		}
		return s.Month(time.Date(y, time.Month(mo), 1, 12, 0, 0, 0, s.opt.Location)), nil
	}
	y, _ := strconv.Atoi(m[3])
	q, _ := strconv.Atoi(m[4])
	return s.Quarter(time.Date(y, time.Month(3*q-2), 1, 12, 0, 0, 0, s.opt.Location)), nil
}

// Export renders kind's records of span (cancelled ones left out) as a
// workbook with Chinese headers.
func (s *Service) Export(ctx context.Context, kind bot.RecordKind, span bot.Span) (File, error) {
	if !kind.Valid() {
		return File{}, bot.Errorf(bot.ErrInvalid, "err.record_kind", map[string]any{"kind": kind}, "records: unknown kind %q", kind)
	}
	rs, err := s.opt.Store.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{kind},
		Statuses: []bot.RecordStatus{bot.RecordOpen, bot.RecordDone}, From: span.From, To: span.To})
	if err != nil {
		return File{}, err
	}
	fields := specs[kind].fields
	if _, ok := specs[kind]; !ok {
		// A kind another use case keeps (upgrades, the registers): the
		// fields its records have, by name.
		seen := map[string]bool{}
		for _, r := range rs {
			for k := range r.Fields {
				if !seen[k] {
					seen[k] = true
					fields = append(fields, k)
				}
			}
		}
		slices.Sort(fields)
	}
	names, err := s.names(ctx)
	if err != nil {
		return File{}, err
	}
	h := func(k string) string { return s.text("rec.col."+k, nil) }
	headers := []string{h("no"), h("time"), h("subject"), h("by"), h("status")}
	for _, f := range fields {
		headers = append(headers, s.name("rec.field."+string(kind)+"."+f, f))
	}
	if kind == bot.KindInspection {
		for _, it := range DefaultItems {
			headers = append(headers, s.text("rec.item."+it, nil))
		}
	}
	headers = append(headers, h("tickets"))
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		row := []string{r.No, r.At.In(s.opt.Location).Format("2006-01-02 15:04"), s.subjectName(r), names(r.CreatedBy),
			s.text("rec.status."+string(r.Status), nil)}
		for _, f := range fields {
			row = append(row, r.Fields[f])
		}
		if kind == bot.KindInspection {
			for _, it := range DefaultItems {
				row = append(row, r.Fields[itemPrefix+it])
			}
		}
		rows = append(rows, append(row, strings.Join(r.Tickets, "、")))
	}
	kindName := s.name("rec.kind."+string(kind), string(kind))
	data, err := s.opt.Encoder.Table(kindName, headers, rows)
	if err != nil {
		return File{}, fmt.Errorf("export %s: %w", kind, err)
	}
	label := s.label(span)
	return File{Name: s.text("rec.export.file", map[string]any{"kind": kindName, "period": label}) + ".xlsx", Data: data,
		Note: s.text("rec.export.note", map[string]any{"kind": kindName, "period": label, "n": len(rows)})}, nil
}

// ExportFile is Export for the API: period is "2026-12" or "2026Q4".
func (s *Service) ExportFile(ctx context.Context, kind bot.RecordKind, period string) (string, []byte, error) {
	span, err := s.Period(period)
	if err != nil {
		return "", nil, err
	}
	f, err := s.Export(ctx, kind, span)
	return f.Name, f.Data, err
}

// label names span: 2026-12 for a month, 2026Q4 for a quarter.
func (s *Service) label(span bot.Span) string {
	from := span.From.In(s.opt.Location)
	if span.To.In(s.opt.Location).Sub(from) > 32*24*time.Hour {
		return fmt.Sprintf("%dQ%d", from.Year(), (int(from.Month())-1)/3+1)
	}
	return from.Format("2006-01")
}

// QuarterFiles are every kind's workbook of the quarter, under the
// package's records folder, plus the emergency contacts.
func (s *Service) QuarterFiles(ctx context.Context, span bot.Span) ([]File, error) {
	dir := s.text("rec.export.dir", nil) + "/"
	var out []File
	for _, k := range bot.RecordKinds {
		f, err := s.Export(ctx, k, span)
		if err != nil {
			return nil, err
		}
		f.Name = dir + f.Name
		out = append(out, f)
	}
	team, err := s.EmergencyTeam(ctx)
	if err != nil {
		return nil, err
	}
	if len(team) > 0 {
		rows := make([][]string, len(team))
		for i, p := range team {
			rows[i] = []string{p.Name, s.text("rec.role."+string(p.Role), nil), p.Mobile}
		}
		title := s.text("rec.team", nil)
		data, err := s.opt.Encoder.Table(title, []string{s.text("rec.col.name", nil), s.text("rec.col.role", nil), s.text("rec.col.mobile", nil)}, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Name: dir + title + ".xlsx", Data: data, Note: s.text("rec.team_note", map[string]any{"n": len(team)})})
	}
	return out, nil
}

// name is key's text, or fallback when the catalogue has none.
func (s *Service) name(key, fallback string) string {
	if s.opt.Catalog.Has(key) {
		return s.text(key, nil)
	}
	return fallback
}

// names looks people's names up (the user id for someone unknown).
func (s *Service) names(ctx context.Context) (func(string) string, error) {
	ps, err := s.opt.Directory.People(ctx, "")
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, p := range ps {
		m[p.UserID] = p.Name
	}
	return func(id string) string {
		if n := m[id]; n != "" {
			return n
		}
		return id
	}, nil
}
