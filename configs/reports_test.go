package configs

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReportJobs(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       func(j *ReportJobs)
	}{
		{"defaults", "", nil, func(*ReportJobs) {}},
		{"one field keeps the others", "reports:\n  jobs:\n    digest: {timeout: 1m}\n", nil,
			func(j *ReportJobs) { j.Digest.Timeout = time.Minute }},
		{"all fields", "reports:\n  jobs:\n    monthly: {spec: '0 7 2 * *', timeout: 1h, catch_up: 2h}\n", nil,
			func(j *ReportJobs) { j.Monthly = Job{Spec: "0 7 2 * *", Timeout: time.Hour, CatchUp: 2 * time.Hour} }},
		{"zero takes the default", "reports:\n  jobs:\n    analysis: {spec: '', timeout: 0s, catch_up: 0s}\n", nil,
			func(*ReportJobs) {}},
		{"off from the environment", "", map[string]string{"WEIBAO_REPORTS_JOBS_QUARTERLY_SPEC": "off"},
			func(j *ReportJobs) { j.Quarterly.Spec = "off" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(write(t, tt.yaml), env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			want := defaultJobs
			tt.want(&want)
			if diff := cmp.Diff(want, c.Reports.Jobs); diff != "" {
				t.Errorf("jobs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobOff(t *testing.T) {
	for spec, want := range map[string]bool{"off": true, "0 9 1 * *": false, "": false} {
		if got := (Job{Spec: spec}).Off(); got != want {
			t.Errorf("Job{Spec: %q}.Off() = %v, want %v", spec, got, want)
		}
	}
}

// TestExampleJobsAreTheDefaults keeps weibao.example.yaml's documented jobs
// equal to what an empty configuration gets.
func TestExampleJobsAreTheDefaults(t *testing.T) {
	c, err := Load("weibao.example.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(defaultJobs, c.Reports.Jobs); diff != "" {
		t.Errorf("example jobs (-defaults +example):\n%s", diff)
	}
}
