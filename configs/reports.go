package configs

import "time"

// Reports configures the lead's digest, the monthly and quarterly reports,
// fault analysis reports and the cron jobs that send them. Zero values take
// the defaults documented in weibao.example.yaml.
type Reports struct {
	// LeadChatID is a WeCom group that also gets the digest and reports.
	LeadChatID string `yaml:"lead_chat_id"`
	// AnalysisDue is how long an engineer has for a fault analysis (3 days).
	AnalysisDue time.Duration `yaml:"analysis_due"`
	// AnalysisHours are when engineers are asked the analysis questions
	// ("HH:MM-HH:MM" on working days); empty: the SLA calendar's hours.
	AnalysisHours []string   `yaml:"analysis_hours"`
	Jobs          ReportJobs `yaml:"jobs"`
}

// ReportJobs are the scheduled jobs, each with its cron spec.
type ReportJobs struct {
	Digest    Job `yaml:"digest"`
	Monthly   Job `yaml:"monthly"`
	Quarterly Job `yaml:"quarterly"`
	Analysis  Job `yaml:"analysis"`
}

// defaultJobs fill what the configuration leaves zero: the digest at 08:30
// (caught up until noon), the monthly summary on the 1st at 09:00, the
// quarterly package on days 1–10 of a quarter's first month (it acts on the
// first working day), and the fault analysis sweep hourly in the daytime: it
// opens the analyses of faults resolved since (should the dialogue's
// after-resolve hook have missed one) and sends the daily reminders.
var defaultJobs = ReportJobs{
	Digest:    Job{Spec: "30 8 * * *", Timeout: 5 * time.Minute, CatchUp: 3*time.Hour + 30*time.Minute},
	Monthly:   Job{Spec: "0 9 1 * *", Timeout: 10 * time.Minute, CatchUp: 72 * time.Hour},
	Quarterly: Job{Spec: "0 9 1-10 1,4,7,10 *", Timeout: 30 * time.Minute, CatchUp: 12 * time.Hour},
	Analysis:  Job{Spec: "5 8-20 * * *", Timeout: 5 * time.Minute, CatchUp: time.Hour},
}

func (j ReportJobs) withDefaults() ReportJobs {
	return ReportJobs{
		Digest:    j.Digest.or(defaultJobs.Digest),
		Monthly:   j.Monthly.or(defaultJobs.Monthly),
		Quarterly: j.Quarterly.or(defaultJobs.Quarterly),
		Analysis:  j.Analysis.or(defaultJobs.Analysis),
	}
}

// Job is one scheduled job. Spec is a 5-field cron spec in the configured
// time zone; "off" disables the job.
type Job struct {
	Spec    string        `yaml:"spec"`
	Timeout time.Duration `yaml:"timeout"`
	CatchUp time.Duration `yaml:"catch_up"`
}

// Off reports whether the job is disabled.
func (j Job) Off() bool { return j.Spec == "off" }

// or is j with each zero field taken from def.
func (j Job) or(def Job) Job {
	if j.Spec == "" {
		j.Spec = def.Spec
	}
	if j.Timeout <= 0 {
		j.Timeout = def.Timeout
	}
	if j.CatchUp <= 0 {
		j.CatchUp = def.CatchUp
	}
	return j
}
