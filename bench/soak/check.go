package main

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// invariant is one promise checked: how many things it covered and how
// many broke it, with a few examples.
type invariant struct {
	Name     string
	Checked  int
	Bad      int
	Examples []string
}

func (inv *invariant) fail(format string, args ...any) {
	inv.Bad++
	if len(inv.Examples) < 5 {
		inv.Examples = append(inv.Examples, fmt.Sprintf(format, args...))
	}
}

type event struct {
	ID            int64
	Kind, Actor   string
	At            time.Time
	From, To      string
	Detail, Clock string
}

type ticket struct {
	No, Status, Reporter string
	ReportedAt           time.Time
	AckAt, ResolvedAt    sql.NullTime
	AckDue, ResolveDue   sql.NullTime
	Events               []event
}

var (
	percentRE = regexp.MustCompile(`时限已过 (\d+)%`)
	levelRE   = regexp.MustCompile(`升级至第 (\d+) 级`)
)

// check reads the database and the fakes' logs. final: the load has
// stopped and settled, so every report must have its ticket by now.
func (s *soak) check(ctx context.Context, final bool) []invariant {
	now := time.Now()
	tickets, err := s.tickets(ctx)
	if err != nil {
		return []invariant{{Name: "database readable", Checked: 1, Bad: 1, Examples: []string{err.Error()}}}
	}
	byReporter := map[string][]*ticket{}
	for _, t := range tickets {
		byReporter[t.Reporter] = append(byReporter[t.Reporter], t)
	}
	var out []invariant

	// 1. Every report became exactly one ticket (a report some attempt
	// of which was answered 200 must have one; none may have two).
	rep := invariant{Name: "report → exactly one ticket"}
	s.users.mu.Lock()
	for id, r := range s.users.reports {
		n := len(byReporter[id])
		// A dialogue still running has no ticket yet; the timeout tickets it
		// 30 s after its last answer.
		settled := final || now.Sub(r.At) > 3*time.Minute
		switch {
		case n > 1:
			rep.Checked++
			rep.fail("%s (%s) has %d tickets", id, r.Kind, n)
		case n == 0 && r.Accepted && settled:
			rep.Checked++
			rep.fail("%s (%s, reported %s) has no ticket", id, r.Kind, r.At.Format("15:04:05"))
		case n == 1 || settled:
			rep.Checked++
		}
	}
	// A ticket its engineer acknowledged and its reporter confirmed must
	// show both.
	confirmed := map[string]bool{}
	for _, r := range s.users.reports {
		if r.Confirmed && r.Acked {
			confirmed[r.Ticket] = true
		}
	}
	s.users.mu.Unlock()
	out = append(out, rep)

	// 2. Every ticket's timeline is complete and ordered.
	tl := invariant{Name: "timeline complete and ordered"}
	for _, t := range tickets {
		tl.Checked++
		if msg := timelineProblem(t, confirmed[t.No]); msg != "" {
			tl.fail("%s: %s", t.No, msg)
		}
	}
	out = append(out, tl)

	// 3. Every due timer fired exactly once: no reminder point, breach or
	// escalation level twice; every breach due well before its clock stopped
	// written. A timer due during a fault may fire late, after the clock
	// stopped, and then rightly not at all.
	tm := invariant{Name: "due timer fired exactly once"}
	for _, t := range tickets {
		seen := map[string]int{}
		for _, e := range t.Events {
			switch e.Kind {
			case "reminded":
				if m := percentRE.FindStringSubmatch(e.Detail); m != nil {
					seen["reminded/"+e.Clock+"/"+m[1]]++
				}
			case "breached":
				seen["breached/"+e.Clock]++
			case "escalated":
				if m := levelRE.FindStringSubmatch(e.Detail); m != nil {
					seen["escalated/"+m[1]]++
				}
			}
		}
		for k, n := range seen {
			tm.Checked++
			if n > 1 {
				tm.fail("%s: %s fired %d times", t.No, k, n)
			}
		}
		for _, c := range []struct {
			clock     string
			due, stop sql.NullTime
		}{{"ack", t.AckDue, t.AckAt}, {"resolve", t.ResolveDue, t.ResolvedAt}} {
			if !c.due.Valid {
				continue
			}
			stop := now
			if c.stop.Valid {
				stop = c.stop.Time
			}
			if c.due.Time.Add(s.grace(c.due.Time)).Before(stop) && seen["breached/"+c.clock] == 0 {
				tm.Checked++
				tm.fail("%s: %s clock due %s, stopped %s, no breach", t.No, c.clock, c.due.Time.Format("15:04:05"), stop.Format("15:04:05"))
			} else if seen["breached/"+c.clock] == 1 {
				// counted above
			} else if c.due.Time.Before(stop) {
				tm.Checked++ // due, not late enough to require it
			}
		}
	}
	out = append(out, tm)

	// 4. No message delivered twice, none stuck, none given up.
	out = append(out, s.checkOutbox(ctx, final)...)

	// 5. Every cron run happened once.
	out = append(out, s.checkCron(ctx, now))

	// 6. No phone call placed twice for one page.
	ph := invariant{Name: "phone call at most once per page"}
	calls := map[string]int{}
	for _, c := range s.phone.calls() {
		id, _ := c.Body["page_id"].(string)
		ch, _ := c.Body["channel"].(string)
		calls[id+"/"+ch]++
	}
	for k, n := range calls {
		ph.Checked++
		if n > 1 {
			ph.fail("%s placed %d times", k, n)
		}
	}
	out = append(out, ph)
	return out
}

// grace is how late a timer due at due may fire: 20 s, or until 30 s after
// the end of a fault it fell in (or that started within 20 s after it).
func (s *soak) grace(due time.Time) time.Duration {
	g := 20 * time.Second
	for _, f := range s.faults {
		if due.After(f.Start.Add(-20*time.Second)) && due.Before(f.End.Add(30*time.Second)) {
			g = max(g, f.End.Add(30*time.Second).Sub(due)+max(0, f.Recovered))
		}
	}
	return g
}

// timelineProblem says what is wrong with t's timeline, or "".
func timelineProblem(t *ticket, confirmed bool) string {
	if len(t.Events) == 0 || t.Events[0].Kind != "reported" {
		return "does not start with reported"
	}
	status := ""
	kinds := map[string]bool{}
	for i, e := range t.Events {
		kinds[e.Kind] = true
		if i > 0 && e.At.Before(t.Events[i-1].At) {
			return fmt.Sprintf("event %d (%s) at %s before the one before it", e.ID, e.Kind, e.At.Format("15:04:05.000"))
		}
		if e.To == "" {
			continue
		}
		if e.From != status {
			return fmt.Sprintf("event %d (%s) from %q, but the ticket was %q", e.ID, e.Kind, e.From, status)
		}
		status = e.To
	}
	if status != t.Status {
		return fmt.Sprintf("timeline ends %q, ticket is %q", status, t.Status)
	}
	if confirmed {
		for _, k := range []string{"acknowledged", "resolved", "confirmed", "closed"} {
			if !kinds[k] {
				return "acknowledged and confirmed by the users but no " + k + " event"
			}
		}
	}
	return ""
}

func (s *soak) tickets(ctx context.Context) ([]*ticket, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT no, status, reporter_id, reported_at, acknowledged_at, resolved_at, ack_due_at, resolve_due_at FROM tickets ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []*ticket
	byNo := map[string]*ticket{}
	for rows.Next() {
		t := &ticket{}
		if err := rows.Scan(&t.No, &t.Status, &t.Reporter, &t.ReportedAt, &t.AckAt, &t.ResolvedAt, &t.AckDue, &t.ResolveDue); err != nil {
			return nil, err
		}
		list = append(list, t)
		byNo[t.No] = t
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ev, err := s.db.QueryContext(ctx, `SELECT id, ticket_no, kind, actor, at, COALESCE(from_status,''), COALESCE(to_status,''), COALESCE(detail,''), COALESCE(clock,'') FROM ticket_events ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer ev.Close()
	for ev.Next() {
		var e event
		var no string
		if err := ev.Scan(&e.ID, &no, &e.Kind, &e.Actor, &e.At, &e.From, &e.To, &e.Detail, &e.Clock); err != nil {
			return nil, err
		}
		if t := byNo[no]; t != nil {
			t.Events = append(t.Events, e)
		}
	}
	return list, ev.Err()
}

func (s *soak) checkOutbox(ctx context.Context, final bool) []invariant {
	twice := invariant{Name: "message delivered at most once"}
	seen := map[string]int{}
	for _, c := range s.wecom.allCalls() {
		if c.API == "aibot/response" && c.ErrCode == 40029 {
			// WeCom refused a second reply through one message's response_url.
			twice.Checked++
			twice.fail("a second reply to one message: %.160s", c.Raw)
		}
		if !c.OK || c.API == "message/update_template_card" {
			continue // a redraw is refused by WeCom when repeated
		}
		seen[c.API+" "+c.Query+" "+c.Raw]++
	}
	for k, n := range seen {
		twice.Checked++
		if n > 1 {
			twice.fail("%d× %.160s", n, k)
		}
	}
	out := []invariant{twice}

	stuck := invariant{Name: "outbox: none stuck or given up"}
	expired := invariant{Name: "outbox: expired by rule (counted, not a violation)"}
	q := "SELECT `key`, status, attempts, COALESCE(last_error,'') FROM outbox"
	if !final {
		q += " WHERE status IN ('failed', 'expired')"
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		stuck.fail("outbox: %v", err)
		return append(out, stuck)
	}
	defer rows.Close()
	for rows.Next() {
		var key, status, lastErr string
		var attempts int
		rows.Scan(&key, &status, &attempts, &lastErr)
		stuck.Checked++
		switch status {
		case "sent":
		case "expired":
			// Expired by its rule (a page's next step covers it): visible,
			// not lost.
			expired.Checked++
			if len(expired.Examples) < 3 {
				expired.Examples = append(expired.Examples, key)
			}
		default:
			stuck.fail("%s %s after %d attempts: %.200s", key, status, attempts, lastErr)
		}
	}
	out = append(out, stuck, expired)

	in := invariant{Name: "inbox: every callback handled"}
	var total, pending int
	s.db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(status <> 'done'), 0) FROM inbox").Scan(&total, &pending)
	in.Checked = total
	if final && pending > 0 {
		in.Bad = pending
		in.Examples = []string{strconv.Itoa(pending) + " inbox rows not done"}
	}
	return append(out, in)
}

// checkCron: one successful run per scheduled minute of the analysis job,
// and none missing between the first and the last.
func (s *soak) checkCron(ctx context.Context, now time.Time) invariant {
	inv := invariant{Name: "cron run exactly once"}
	rows, err := s.db.QueryContext(ctx, "SELECT scheduled_at, SUM(result = 'ok'), COUNT(*) FROM job_runs WHERE job = 'analysis' GROUP BY scheduled_at ORDER BY scheduled_at")
	if err != nil {
		inv.fail("job_runs: %v", err)
		return inv
	}
	defer rows.Close()
	var first time.Time
	ok := map[time.Time]int{}
	for rows.Next() {
		var at time.Time
		var n, all int
		rows.Scan(&at, &n, &all)
		if first.IsZero() {
			first = at
		}
		ok[at.UTC()] = n
	}
	if first.IsZero() {
		if now.Sub(s.started()) > 90*time.Second {
			inv.fail("no run of the analysis job at all")
		}
		return inv
	}
	for at := first.UTC(); at.Before(now.Add(-30 * time.Second)); at = at.Add(time.Minute) {
		inv.Checked++
		switch n := ok[at]; {
		case n == 0:
			inv.fail("analysis %s: no successful run", at.Format("15:04"))
		case n > 1:
			inv.fail("analysis %s: %d successful runs", at.Format("15:04"), n)
		}
	}
	return inv
}

func (s *soak) started() time.Time {
	var t time.Time
	s.db.QueryRow("SELECT MIN(applied_at) FROM schema_migrations").Scan(&t)
	return t
}
