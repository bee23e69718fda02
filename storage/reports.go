package storage

// Report aggregates. Every query runs in the database over indexed columns
// (report time, resolve time, deadlines, status) and returns aggregates or
// short lists; the quarterly fault list is streamed row by row.
//
// Percentiles are exact nearest-rank values (the ⌈p·n⌉-th smallest), computed
// with the window functions ROW_NUMBER and COUNT OVER, which MariaDB ≥ 10.2,
// MySQL ≥ 8.0 and SQLite ≥ 3.25 all have; MariaDB's PERCENTILE_CONT is not in
// MySQL or SQLite, and interpolated values would differ between them. Only
// the two rows per group at those ranks leave the database.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"weibao/bot"
)

// reportFileRow holds a generated document (workbook, zip, page) that an
// outgoing message refers to by id.
type reportFileRow struct {
	ID        int64  `gorm:"primaryKey"`
	Name      string `gorm:"size:191;not null"`
	Size      int64  `gorm:"not null"`
	Data      []byte `gorm:"type:longblob;not null"`
	CreatedAt time.Time
}

func (reportFileRow) TableName() string { return "report_files" }

// analysisRow is the engineer's part of a fault analysis report.
type analysisRow struct {
	TicketNo   string    `gorm:"primaryKey;size:24"`
	EngineerID string    `gorm:"size:64;not null"`
	Status     string    `gorm:"size:12;not null;index"`
	Cause      string    `gorm:"type:text"`
	Impact     string    `gorm:"type:text"`
	Conclusion string    `gorm:"type:text"`
	OpenedAt   time.Time `gorm:"not null"`
	DueAt      time.Time `gorm:"not null"`
	RemindedAt *time.Time
	Reminders  int
	DoneAt     *time.Time
}

func (analysisRow) TableName() string { return "fault_analyses" }

func (r *analysisRow) toAnalysis() *bot.FaultAnalysis {
	return &bot.FaultAnalysis{TicketNo: r.TicketNo, EngineerID: r.EngineerID, Status: r.Status, Cause: r.Cause,
		Impact: r.Impact, Conclusion: r.Conclusion, OpenedAt: r.OpenedAt.UTC(), DueAt: r.DueAt.UTC(),
		RemindedAt: fromNull(r.RemindedAt), Reminders: r.Reminders, DoneAt: fromNull(r.DoneAt)}
}

// migrateReports adds the reports' tables and the indexes their queries use.
func migrateReports(tx *gorm.DB) error {
	if err := tx.AutoMigrate(&jobRunRow{}, &reportFileRow{}, &analysisRow{}); err != nil {
		return err
	}
	for name, col := range map[string]string{
		"idx_tickets_ack_due": "ack_due_at", "idx_tickets_resolve_due": "resolve_due_at",
		"idx_tickets_onsite_due": "on_site_due_at", "idx_tickets_closed": "closed_at",
	} {
		if tx.Migrator().HasIndex(&ticketRow{}, name) {
			continue
		}
		if err := tx.Exec("CREATE INDEX " + name + " ON tickets (" + col + ")").Error; err != nil {
			return fmt.Errorf("index %s: %w", name, err)
		}
	}
	return nil
}

// excluded tickets are not faults of their own: duplicates merged into
// another ticket and reports cancelled as mistaken.
var excluded = []string{string(bot.StatusCancelled), string(bot.StatusMerged)}

func dimColumn(d bot.Dimension) (string, error) {
	switch d {
	case bot.DimAll:
		return "", nil
	case bot.DimCategory, bot.DimType, bot.DimScope, bot.DimPriority:
		return string(d), nil
	case bot.DimWard:
		return "ward_code", nil
	}
	return "", fmt.Errorf("report: unknown dimension %q", d)
}

// clockColumns are a clock's deadline and stop expressions. The on-site
// clock stops at arrival, or at resolution when nobody had to come.
var clockColumns = []struct {
	clock     bot.SLAClock
	due, stop string
	late      string
}{
	{bot.ClockAck, "ack_due_at", "acknowledged_at", "ack_late_ms"},
	{bot.ClockResolve, "resolve_due_at", "resolved_at", "resolve_late_ms"},
	{bot.ClockOnSite, "on_site_due_at", "COALESCE(on_site_at, resolved_at)", "on_site_late_ms"},
}

// durMS is the SQL for b − a in milliseconds.
func (db *DB) durMS(a, b string) string {
	if db.driver == "mysql" {
		return "(TIMESTAMPDIFF(MICROSECOND, " + a + ", " + b + ") DIV 1000)"
	}
	return "CAST(ROUND((julianday(" + b + ") - julianday(" + a + ")) * 86400000) AS INTEGER)"
}

// rank is the SQL for ⌈n·p/100⌉.
func (db *DB) rank(n string, p int) string {
	div := "/"
	if db.driver == "mysql" {
		div = " DIV "
	}
	return fmt.Sprintf("((%s * %d + 99)%s100)", n, p, div)
}

// Counts counts tickets by ward and priority: reported or resolved in s, or
// open (not yet resolved or closed) at s.To.
func (db *DB) Counts(ctx context.Context, c bot.Cohort, s bot.Span) ([]bot.Count, error) {
	q := db.read.WithContext(ctx).Model(&ticketRow{}).Select("ward_code, priority, COUNT(*) AS n").
		Where("status NOT IN ?", excluded)
	switch c {
	case bot.CohortReported:
		q = q.Where("reported_at >= ? AND reported_at < ?", ms(s.From), ms(s.To))
	case bot.CohortResolved:
		q = q.Where("resolved_at >= ? AND resolved_at < ?", ms(s.From), ms(s.To))
	case bot.CohortOpen:
		q = openAt(q, s.To)
	default:
		return nil, fmt.Errorf("counts: unknown cohort %q", c)
	}
	var rows []struct {
		WardCode, Priority string
		N                  int
	}
	if err := q.Group("ward_code, priority").Order("ward_code, priority").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("counts %s: %w", c, err)
	}
	out := make([]bot.Count, len(rows))
	for i, r := range rows {
		out[i] = bot.Count{WardCode: r.WardCode, Priority: bot.Priority(r.Priority), N: r.N}
	}
	return out, nil
}

// openAt selects tickets still being worked on at t. The OR of indexed
// conditions keeps it off a full scan: a ticket open then is open now, or was
// resolved or closed since.
func openAt(q *gorm.DB, t time.Time) *gorm.DB {
	t = ms(t)
	return q.Where("reported_at < ?", t).
		Where("status IN ? OR resolved_at >= ? OR closed_at >= ?", bot.ActiveStatuses, t, t).
		Where("resolved_at IS NULL OR resolved_at >= ?", t).
		Where("closed_at IS NULL OR closed_at >= ?", t)
}

// OpenTickets lists tickets open at t with one of priorities (all when
// empty), oldest first, at most limit.
func (db *DB) OpenTickets(ctx context.Context, t time.Time, priorities []bot.Priority, limit int) ([]*bot.Ticket, error) {
	q := openAt(db.read.WithContext(ctx).Model(&ticketRow{}).Where("status NOT IN ?", excluded), t)
	if len(priorities) > 0 {
		q = q.Where("priority IN ?", priorities)
	}
	return db.ticketList(q.Order("priority, reported_at, id").Limit(limit))
}

// AwaitingConfirmation lists tickets resolved before t whose reporter had not
// confirmed by t, oldest first.
func (db *DB) AwaitingConfirmation(ctx context.Context, t time.Time, limit int) ([]*bot.Ticket, error) {
	t = ms(t)
	q := db.read.WithContext(ctx).Model(&ticketRow{}).Where("status NOT IN ?", excluded).
		Where("resolved_at < ?", t).
		Where("confirmed_at IS NULL OR confirmed_at >= ?", t).
		Where("closed_at IS NULL OR closed_at >= ?", t)
	return db.ticketList(q.Order("resolved_at, id").Limit(limit))
}

func (db *DB) ticketList(q *gorm.DB) ([]*bot.Ticket, error) {
	var rows []ticketRow
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("report tickets: %w", err)
	}
	out := make([]*bot.Ticket, len(rows))
	for i := range rows {
		out[i] = rows[i].toTicket()
	}
	return out, nil
}

// EventsOf lists the timeline events of kind that happened in s.
func (db *DB) EventsOf(ctx context.Context, kind bot.EventKind, s bot.Span) ([]bot.Event, error) {
	var rows []eventRow
	err := db.read.WithContext(ctx).Where("kind = ? AND at >= ? AND at < ?", string(kind), ms(s.From), ms(s.To)).
		Order("at, id").Limit(500).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("events %s: %w", kind, err)
	}
	out := make([]bot.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].toEvent()
	}
	return out, nil
}

// DueCompliance counts, per clock, the deadlines that fell in s and how many
// were met, as known at asOf. A clock is met when it stopped by its deadline
// and no breach was recorded.
func (db *DB) DueCompliance(ctx context.Context, s bot.Span, asOf time.Time) (bot.Compliance, error) {
	var c bot.Compliance
	for _, k := range clockColumns {
		var r struct{ Due, Met int }
		err := db.read.WithContext(ctx).Model(&ticketRow{}).
			Select(fmt.Sprintf("COUNT(*) AS due, COALESCE(SUM(CASE WHEN %[2]s IS NOT NULL AND %[2]s <= %[1]s AND %[3]s = 0 THEN 1 ELSE 0 END), 0) AS met",
				k.due, k.stop, k.late)).
			Where("status NOT IN ?", excluded).
			Where(k.due+" >= ? AND "+k.due+" < ?", ms(s.From), ms(s.To)).
			Where(k.stop+" IS NOT NULL OR "+k.due+" < ?", ms(asOf)).
			Scan(&r).Error
		if err != nil {
			return c, fmt.Errorf("compliance %s: %w", k.clock, err)
		}
		*clockStats(&c, k.clock) = bot.ClockStats{Met: r.Met, Due: r.Due}
	}
	return c, nil
}

func clockStats(c *bot.Compliance, k bot.SLAClock) *bot.ClockStats {
	switch k {
	case bot.ClockAck:
		return &c.Ack
	case bot.ClockResolve:
		return &c.Resolve
	}
	return &c.OnSite
}

// Breaches lists the clocks whose deadline fell in s and that ran past it
// (or had a breach recorded), as known at asOf, at most limit per clock.
func (db *DB) Breaches(ctx context.Context, s bot.Span, asOf time.Time, limit int) ([]bot.Breach, error) {
	var out []bot.Breach
	for _, k := range clockColumns {
		var rows []struct {
			No, WardCode, Priority, AssigneeID string
			DueAt                              time.Time
			StoppedAt                          *time.Time
		}
		err := db.read.WithContext(ctx).Model(&ticketRow{}).
			Select("no, ward_code, priority, assignee_id, "+k.due+" AS due_at, "+k.stop+" AS stopped_at").
			Where("status NOT IN ?", excluded).
			Where(k.due+" >= ? AND "+k.due+" < ?", ms(s.From), ms(s.To)).
			Where(fmt.Sprintf("%[3]s > 0 OR %[2]s > %[1]s OR (%[2]s IS NULL AND %[1]s < ?)", k.due, k.stop, k.late), ms(asOf)).
			Order(k.due + ", id").Limit(limit).Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("breaches %s: %w", k.clock, err)
		}
		for _, r := range rows {
			out = append(out, bot.Breach{TicketNo: r.No, WardCode: r.WardCode, Priority: bot.Priority(r.Priority),
				AssigneeID: r.AssigneeID, Clock: k.clock, Due: r.DueAt.UTC(), Stop: fromNull(r.StoppedAt)})
		}
	}
	return out, nil
}

// GroupStats aggregates the tickets reported in s by dimension d: counts,
// SLA compliance as known at asOf, and median and p90 times to acknowledge
// and to resolve.
func (db *DB) GroupStats(ctx context.Context, s bot.Span, d bot.Dimension, asOf time.Time) ([]bot.GroupStats, error) {
	col, err := dimColumn(d)
	if err != nil {
		return nil, err
	}
	key := col
	if col == "" {
		key = "''"
	}
	out, err := db.aggregate(ctx, key, nil, s, asOf)
	if err != nil {
		return nil, fmt.Errorf("group stats %s: %w", d, err)
	}
	idx := map[string]int{}
	for i, g := range out {
		idx[g.Key] = i
	}
	for _, m := range []struct {
		stop     string
		p50, p90 func(g *bot.GroupStats) *time.Duration
	}{
		{"acknowledged_at", func(g *bot.GroupStats) *time.Duration { return &g.AckP50 }, func(g *bot.GroupStats) *time.Duration { return &g.AckP90 }},
		{"resolved_at", func(g *bot.GroupStats) *time.Duration { return &g.ResolveP50 }, func(g *bot.GroupStats) *time.Duration { return &g.ResolveP90 }},
	} {
		pct, err := db.percentiles(ctx, s, col, m.stop)
		if err != nil {
			return nil, err
		}
		for _, p := range pct {
			i, ok := idx[p.K]
			if !ok {
				continue
			}
			if p.Rn == p.R50 {
				*m.p50(&out[i]) = time.Duration(p.D) * time.Millisecond
			}
			if p.Rn == p.R90 {
				*m.p90(&out[i]) = time.Duration(p.D) * time.Millisecond
			}
		}
	}
	return out, nil
}

// SpanStats aggregates the tickets reported in each [bounds[i], bounds[i+1])
// in one scan (counts and SLA compliance as known at asOf, no percentiles):
// the monthly summary's compliance trend. It returns len(bounds)-1 groups,
// keyed by their index.
func (db *DB) SpanStats(ctx context.Context, bounds []time.Time, asOf time.Time) ([]bot.GroupStats, error) {
	if len(bounds) < 2 {
		return nil, nil
	}
	key := "CASE"
	var args []any
	for i, b := range bounds[1:] {
		key += fmt.Sprintf(" WHEN reported_at < ? THEN '%d'", i)
		args = append(args, ms(b))
	}
	key += " END"
	got, err := db.aggregate(ctx, key, args, bot.Span{From: bounds[0], To: bounds[len(bounds)-1]}, asOf)
	if err != nil {
		return nil, fmt.Errorf("span stats: %w", err)
	}
	out := make([]bot.GroupStats, len(bounds)-1)
	for i := range out {
		out[i].Key = fmt.Sprint(i)
	}
	for _, g := range got {
		var i int
		fmt.Sscan(g.Key, &i)
		if i >= 0 && i < len(out) {
			out[i] = g
		}
	}
	return out, nil
}

// aggregate counts the tickets reported in s grouped by key (an SQL
// expression with keyArgs), with each clock's due and met counts at asOf.
func (db *DB) aggregate(ctx context.Context, key string, keyArgs []any, s bot.Span, asOf time.Time) ([]bot.GroupStats, error) {
	sel := key + " AS k, COUNT(*) AS n, COALESCE(SUM(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS resolved"
	args := slices.Clone(keyArgs)
	for _, k := range clockColumns {
		sel += fmt.Sprintf(", COALESCE(SUM(CASE WHEN %[1]s IS NOT NULL AND (%[2]s IS NOT NULL OR %[1]s < ?) THEN 1 ELSE 0 END), 0) AS %[4]s_due"+
			", COALESCE(SUM(CASE WHEN %[1]s IS NOT NULL AND %[2]s IS NOT NULL AND %[2]s <= %[1]s AND %[3]s = 0 THEN 1 ELSE 0 END), 0) AS %[4]s_met",
			k.due, k.stop, k.late, k.clock)
		args = append(args, ms(asOf))
	}
	args = append(args, ms(s.From), ms(s.To), excluded)
	sql := "SELECT " + sel + " FROM tickets WHERE reported_at >= ? AND reported_at < ? AND status NOT IN ? GROUP BY k ORDER BY k"
	var rows []struct {
		K                      string
		N, Resolved            int
		AckDue, AckMet         int
		ResolveDue, ResolveMet int
		OnsiteDue, OnsiteMet   int
	}
	if err := db.read.WithContext(ctx).Raw(sql, args...).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]bot.GroupStats, 0, len(rows))
	for _, r := range rows {
		if r.N == 0 {
			continue
		}
		out = append(out, bot.GroupStats{Key: r.K, Count: r.N, Resolved: r.Resolved, SLA: bot.Compliance{
			Ack: bot.ClockStats{Met: r.AckMet, Due: r.AckDue}, Resolve: bot.ClockStats{Met: r.ResolveMet, Due: r.ResolveDue},
			OnSite: bot.ClockStats{Met: r.OnsiteMet, Due: r.OnsiteDue}}})
	}
	return out, nil
}

type pctRow struct {
	K            string
	D            int64
	Rn, R50, R90 int
}

// percentiles returns, per group of col, the rows at the median and p90 rank
// of the time from report to stop.
func (db *DB) percentiles(ctx context.Context, s bot.Span, col, stop string) ([]pctRow, error) {
	key, part := col, "PARTITION BY "+col+" "
	if col == "" {
		key, part = "''", ""
	}
	dur := db.durMS("reported_at", stop)
	inner := fmt.Sprintf("SELECT %s AS k, %s AS d, ROW_NUMBER() OVER (%sORDER BY %s) AS rn, COUNT(*) OVER (%s) AS n "+
		"FROM tickets WHERE reported_at >= ? AND reported_at < ? AND %s IS NOT NULL AND %s >= reported_at AND status NOT IN ?",
		key, dur, part, dur, part, stop, stop)
	sql := fmt.Sprintf("SELECT k, d, rn, %s AS r50, %s AS r90 FROM (%s) x WHERE rn = %s OR rn = %s",
		db.rank("n", 50), db.rank("n", 90), inner, db.rank("n", 50), db.rank("n", 90))
	var rows []pctRow
	if err := db.read.WithContext(ctx).Raw(sql, ms(s.From), ms(s.To), excluded).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("percentiles %s: %w", stop, err)
	}
	return rows, nil
}

// Fixes lists, per category, the perCategory most used solutions of the
// tickets reported in s.
func (db *DB) Fixes(ctx context.Context, s bot.Span, perCategory int) ([]bot.Fix, error) {
	sql := "SELECT category, solution, n FROM (SELECT category, solution, COUNT(*) AS n, " +
		"ROW_NUMBER() OVER (PARTITION BY category ORDER BY COUNT(*) DESC, solution) AS rn " +
		"FROM tickets WHERE reported_at >= ? AND reported_at < ? AND solution <> '' AND status NOT IN ? " +
		"GROUP BY category, solution) x WHERE rn <= ? ORDER BY category, n DESC, solution"
	var rows []struct {
		Category, Solution string
		N                  int
	}
	if err := db.read.WithContext(ctx).Raw(sql, ms(s.From), ms(s.To), excluded, perCategory).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("fixes: %w", err)
	}
	out := make([]bot.Fix, len(rows))
	for i, r := range rows {
		out[i] = bot.Fix{Category: r.Category, Solution: r.Solution, N: r.N}
	}
	return out, nil
}

// EachTicket streams the tickets reported in s, in report order, to fn,
// holding one row in memory at a time.
func (db *DB) EachTicket(ctx context.Context, s bot.Span, fn func(*bot.Ticket) error) error {
	rows, err := db.read.WithContext(ctx).Model(&ticketRow{}).Where("reported_at >= ? AND reported_at < ?", ms(s.From), ms(s.To)).
		Where("status NOT IN ?", excluded).Order("reported_at, id").Rows()
	if err != nil {
		return fmt.Errorf("each ticket: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ticketRow
		if err := db.read.ScanRows(rows, &r); err != nil {
			return fmt.Errorf("each ticket: %w", err)
		}
		if err := fn(r.toTicket()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PutFile stores a generated document.
func (db *DB) PutFile(ctx context.Context, name string, data []byte) (bot.FileRef, error) {
	row := reportFileRow{Name: name, Size: int64(len(data)), Data: data}
	if err := db.gdb.WithContext(ctx).Create(&row).Error; err != nil {
		return bot.FileRef{}, fmt.Errorf("put file %s: %w", name, err)
	}
	return bot.FileRef{ID: row.ID, Name: name, Size: row.Size}, nil
}

// File returns a stored document.
func (db *DB) File(ctx context.Context, id int64) (*bot.StoredFile, error) {
	var r reportFileRow
	if err := db.gdb.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, notFound(err, "file", fmt.Sprint(id))
	}
	return &bot.StoredFile{FileRef: bot.FileRef{ID: r.ID, Name: r.Name, Size: r.Size}, Data: r.Data, CreatedAt: r.CreatedAt.UTC()}, nil
}

var _ bot.Files = (*DB)(nil)

// OpenAnalysis records a pending fault analysis once per ticket; it returns
// false when one exists already.
func (db *DB) OpenAnalysis(ctx context.Context, a bot.FaultAnalysis) (bool, error) {
	row := analysisRow{TicketNo: a.TicketNo, EngineerID: a.EngineerID, Status: bot.AnalysisPending,
		OpenedAt: ms(a.OpenedAt), DueAt: ms(a.DueAt)}
	res := db.gdb.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
	if res.Error != nil {
		return false, fmt.Errorf("open analysis %s: %w", a.TicketNo, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Analysis returns a ticket's fault analysis; ErrNotFound when none was opened.
func (db *DB) Analysis(ctx context.Context, no string) (*bot.FaultAnalysis, error) {
	var r analysisRow
	if err := db.gdb.WithContext(ctx).Where("ticket_no = ?", no).Take(&r).Error; err != nil {
		return nil, notFound(err, "analysis", no)
	}
	return r.toAnalysis(), nil
}

// CompleteAnalysis stores the engineer's answers; false when the analysis
// was already complete (a repeated answer changes nothing).
func (db *DB) CompleteAnalysis(ctx context.Context, a bot.FaultAnalysis) (bool, error) {
	res := db.gdb.WithContext(ctx).Model(&analysisRow{}).
		Where("ticket_no = ? AND status = ?", a.TicketNo, bot.AnalysisPending).
		Updates(map[string]any{"status": bot.AnalysisComplete, "cause": bot.Mask(a.Cause), "impact": bot.Mask(a.Impact),
			"conclusion": bot.Mask(a.Conclusion), "done_at": ms(a.DoneAt)})
	if res.Error != nil {
		return false, fmt.Errorf("complete analysis %s: %w", a.TicketNo, res.Error)
	}
	if res.RowsAffected == 0 {
		if _, err := db.Analysis(ctx, a.TicketNo); err != nil {
			return false, err
		}
	}
	return res.RowsAffected == 1, nil
}

// AnalysisReminded records a reminder sent at.
func (db *DB) AnalysisReminded(ctx context.Context, no string, at time.Time) error {
	err := db.gdb.WithContext(ctx).Model(&analysisRow{}).Where("ticket_no = ?", no).
		Updates(map[string]any{"reminded_at": ms(at), "reminders": gorm.Expr("reminders + 1")}).Error
	if err != nil {
		return fmt.Errorf("analysis %s reminded: %w", no, err)
	}
	return nil
}

// PendingAnalyses lists the analyses still waiting for the engineer.
func (db *DB) PendingAnalyses(ctx context.Context, limit int) ([]*bot.FaultAnalysis, error) {
	var rows []analysisRow
	if err := db.gdb.WithContext(ctx).Where("status = ?", bot.AnalysisPending).Order("due_at").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("pending analyses: %w", err)
	}
	out := make([]*bot.FaultAnalysis, len(rows))
	for i := range rows {
		out[i] = rows[i].toAnalysis()
	}
	return out, nil
}

// Analyses lists the analyses of tickets resolved in s.
func (db *DB) Analyses(ctx context.Context, s bot.Span) ([]*bot.FaultAnalysis, error) {
	var rows []analysisRow
	err := db.gdb.WithContext(ctx).Model(&analysisRow{}).Select("fault_analyses.*").
		Joins("JOIN tickets ON tickets.no = fault_analyses.ticket_no").
		Where("tickets.resolved_at >= ? AND tickets.resolved_at < ?", ms(s.From), ms(s.To)).
		Order("fault_analyses.ticket_no").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("analyses: %w", err)
	}
	out := make([]*bot.FaultAnalysis, len(rows))
	for i := range rows {
		out[i] = rows[i].toAnalysis()
	}
	return out, nil
}

// TicketsNeedingAnalysis lists tickets resolved since since that call for a
// fault analysis (see bot.NeedsAnalysis) and have none yet.
func (db *DB) TicketsNeedingAnalysis(ctx context.Context, since time.Time, limit int) ([]*bot.Ticket, error) {
	q := db.gdb.WithContext(ctx).Model(&ticketRow{}).Select("tickets.*").
		Joins("LEFT JOIN fault_analyses fa ON fa.ticket_no = tickets.no").
		Where("fa.ticket_no IS NULL AND tickets.resolved_at >= ?", ms(since)).
		Where("tickets.scope IN ? OR tickets.priority = ?", []string{string(bot.ScopeDepartment), string(bot.ScopeHospital)}, string(bot.P1)).
		Where("tickets.status NOT IN ?", excluded).Order("tickets.resolved_at").Limit(limit)
	return db.ticketList(q)
}
