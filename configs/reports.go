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
	Jobs        ReportJobs    `yaml:"jobs"`
}

// ReportJobs are the scheduled jobs, each with its cron spec.
type ReportJobs struct {
	Digest    Job `yaml:"digest"`
	Monthly   Job `yaml:"monthly"`
	Quarterly Job `yaml:"quarterly"`
	Analysis  Job `yaml:"analysis"`
}

// Job is one scheduled job. Spec is a 5-field cron spec in the configured
// time zone; "off" disables the job.
type Job struct {
	Spec    string        `yaml:"spec"`
	Timeout time.Duration `yaml:"timeout"`
	CatchUp time.Duration `yaml:"catch_up"`
}
