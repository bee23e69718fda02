package configs

import (
	"fmt"
	"net/url"
	"slices"
	"time"
)

// Records configures the maintenance records (tender 一, 二.4, 八): the
// systems the monthly inspection covers, monitoring's figures, the backup
// intervals, the contract period, the emergency team and the reminder job.
type Records struct {
	Systems []RecordSystem `yaml:"systems"`
	// PrometheusURL pre-fills CPU, memory and disk from the Prometheus HTTP
	// API (node_exporter / windows_exporter); empty: asked plainly.
	PrometheusURL string `yaml:"prometheus_url"`
	// Ward and Category file an anomaly's ticket (default: the first ward,
	// category "other").
	Ward     string `yaml:"ward"`
	Category string `yaml:"category"`
	// BackupCheckEvery and RestoreDrillEvery: how often each is due (7 and 90 days).
	BackupCheckEvery  time.Duration `yaml:"backup_check_every"`
	RestoreDrillEvery time.Duration `yaml:"restore_drill_every"`
	// RemindEvery: how often an overdue reminder repeats (3 days).
	RemindEvery time.Duration `yaml:"remind_every"`
	Contract    Contract      `yaml:"contract"`
	// EmergencyTeam are the user ids of the 应急响应团队 (二.4).
	EmergencyTeam []string `yaml:"emergency_team"`
	// Job runs the reminders (default 09:30 daily; they go out on working days).
	Job Job `yaml:"job"`
}

// RecordSystem is one server or system to inspect.
type RecordSystem struct {
	Code string `yaml:"code"`
	Name string `yaml:"name"`
	// Type is server or software: the ticket type of its anomalies.
	Type string `yaml:"type"`
	// Items are checklist item codes; empty: all of cpu, memory, disk,
	// server_log, system_log, database, backup, interfaces.
	Items    []string `yaml:"items"`
	Instance string   `yaml:"instance"` // its Prometheus instance label
	Windows  bool     `yaml:"windows"`  // windows_exporter rather than node_exporter
}

// Contract is the service period: Start (YYYY-MM-DD, local) and Months
// long (six by the tender); Notice are the days before its end the lead is
// reminded (30 and 7).
type Contract struct {
	Start  string `yaml:"start"`
	Months int    `yaml:"months"`
	Notice []int  `yaml:"notice"`
}

// Period returns the contract's first day and the day after its last, in
// loc; zero times when no start is configured.
func (c Contract) Period(loc *time.Location) (start, end time.Time, err error) {
	if c.Start == "" {
		return time.Time{}, time.Time{}, nil
	}
	start, err = time.ParseInLocation("2006-01-02", c.Start, loc)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("start %q is not YYYY-MM-DD", c.Start)
	}
	m := c.Months
	if m == 0 {
		m = 6
	}
	return start, start.AddDate(0, m, 0), nil
}

var recordItems = []string{"cpu", "memory", "disk", "server_log", "system_log", "database", "backup", "interfaces"}

func (r *Records) validate(c *Config) error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("config: records.%s: %s", key, fmt.Sprintf(format, args...))
	}
	seen := map[string]bool{}
	for i, s := range r.Systems {
		key := fmt.Sprintf("systems[%d]", i)
		switch {
		case s.Code == "" || s.Name == "":
			return bad(key, "needs a code and a name")
		case seen[s.Code]:
			return bad(key, "code %q is used twice", s.Code)
		case s.Type != "server" && s.Type != "software":
			return bad(key+".type", "%q is neither server nor software", s.Type)
		}
		seen[s.Code] = true
		for _, it := range s.Items {
			if !slices.Contains(recordItems, it) {
				return bad(key+".items", "unknown item %q (known: %v)", it, recordItems)
			}
		}
	}
	if r.PrometheusURL != "" {
		if u, err := url.Parse(r.PrometheusURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("prometheus_url", "%q is not an http(s) URL", r.PrometheusURL)
		}
	}
	if r.Ward != "" && !slices.ContainsFunc(c.Wards, func(w Ward) bool { return w.Code == r.Ward }) {
		return bad("ward", "no ward %q", r.Ward)
	}
	for k, d := range map[string]time.Duration{"backup_check_every": r.BackupCheckEvery, "restore_drill_every": r.RestoreDrillEvery, "remind_every": r.RemindEvery} {
		if d < 0 || (d > 0 && d < 24*time.Hour) {
			return bad(k, "%s: give whole days of at least 24h", d)
		}
	}
	if _, _, err := r.Contract.Period(time.UTC); err != nil {
		return bad("contract", "%v", err)
	}
	if r.Contract.Months < 0 {
		return bad("contract.months", "%d is negative", r.Contract.Months)
	}
	for _, n := range r.Contract.Notice {
		if n <= 0 {
			return bad("contract.notice", "%d: days must be positive", n)
		}
	}
	for _, id := range r.EmergencyTeam {
		if id == "" {
			return bad("emergency_team", "an empty user id")
		}
	}
	return nil
}
