package sla_test

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"weibao/sla"
	"weibao/sla/calendar"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// at parses "2006-01-02 15:04" in Asia/Shanghai; "" is the zero time.
func at(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
	if err != nil {
		panic(err)
	}
	return v
}

func policy(t *testing.T) sla.Policy {
	t.Helper()
	cal, err := calendar.New(calendar.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	p := sla.DefaultPolicy()
	p.Calendar = cal
	return p
}

// pts builds points from "clock/percent@time" triples.
func pts(s ...any) []sla.Point {
	var out []sla.Point
	for i := 0; i < len(s); i += 3 {
		out = append(out, sla.Point{Clock: s[i].(sla.Clock), Percent: s[i+1].(int), At: at(s[i+2].(string))})
	}
	return out
}

const (
	ack     = sla.ClockAck
	resolve = sla.ClockResolve
	onsite  = sla.ClockOnSite
)

func TestDeadlines(t *testing.T) {
	tests := []struct {
		name string
		in   sla.Input
		want sla.Deadlines
	}{{
		name: "routine in working hours",
		in:   sla.Input{Class: sla.Routine, ReportedAt: at("2025-03-03 09:00")},
		want: sla.Deadlines{Ack: at("2025-03-03 09:10"), Resolve: at("2025-03-03 09:30"), Points: pts(
			ack, 50, "2025-03-03 09:05", ack, 80, "2025-03-03 09:08", ack, 100, "2025-03-03 09:10",
			resolve, 50, "2025-03-03 09:15", resolve, 80, "2025-03-03 09:24", resolve, 100, "2025-03-03 09:30")},
	}, {
		name: "crosses a night",
		in:   sla.Input{Class: sla.Other, ReportedAt: at("2025-03-03 17:00"), AcknowledgedAt: at("2025-03-03 17:05")},
		want: sla.Deadlines{Ack: at("2025-03-03 17:15"), Resolve: at("2025-03-04 08:30"), Points: pts(
			resolve, 50, "2025-03-03 17:30", resolve, 80, "2025-03-04 08:18", resolve, 100, "2025-03-04 08:30")},
	}, {
		name: "crosses a weekend",
		in:   sla.Input{Class: sla.Simple, ReportedAt: at("2025-03-07 17:25"), AcknowledgedAt: at("2025-03-07 17:26")},
		want: sla.Deadlines{Ack: at("2025-03-07 17:30"), Resolve: at("2025-03-10 08:05"), Points: pts(
			resolve, 50, "2025-03-07 17:30", resolve, 80, "2025-03-10 08:03", resolve, 100, "2025-03-10 08:05")},
	}, {
		name: "crosses the national day holiday",
		in:   sla.Input{Class: sla.Routine, ReportedAt: at("2025-09-30 17:20"), AcknowledgedAt: at("2025-09-30 17:21")},
		want: sla.Deadlines{Ack: at("2025-09-30 17:30"), Resolve: at("2025-10-09 08:20"), Points: pts(
			resolve, 50, "2025-10-09 08:05", resolve, 80, "2025-10-09 08:14", resolve, 100, "2025-10-09 08:20")},
	}, {
		name: "runs on a make-up sunday",
		in:   sla.Input{Class: sla.Other, ReportedAt: at("2025-09-26 17:00"), AcknowledgedAt: at("2025-09-26 17:01")},
		want: sla.Deadlines{Ack: at("2025-09-26 17:15"), Resolve: at("2025-09-28 08:30"), Points: pts(
			resolve, 50, "2025-09-26 17:30", resolve, 80, "2025-09-28 08:18", resolve, 100, "2025-09-28 08:30")},
	}, {
		name: "urgent runs 7x24, on-site waits for ack",
		in:   sla.Input{Class: sla.Routine, Urgent: true, ReportedAt: at("2025-03-08 03:00"), AcknowledgedAt: at("2025-03-08 03:04")},
		want: sla.Deadlines{Ack: at("2025-03-08 03:10"), Resolve: at("2025-03-08 03:30"), OnSite: at("2025-03-08 05:04"), Points: pts(
			resolve, 50, "2025-03-08 03:15", resolve, 80, "2025-03-08 03:24", resolve, 100, "2025-03-08 03:30",
			onsite, 50, "2025-03-08 04:04", onsite, 80, "2025-03-08 04:40", onsite, 100, "2025-03-08 05:04")},
	}, {
		name: "remote help failed starts on-site 7x24",
		in: sla.Input{Class: sla.Other, ReportedAt: at("2025-03-07 16:00"), AcknowledgedAt: at("2025-03-07 16:05"),
			RemoteFailedAt: at("2025-03-07 17:00"), ArrivedAt: at("2025-03-07 18:00")},
		want: sla.Deadlines{Ack: at("2025-03-07 16:15"), Resolve: at("2025-03-07 17:00"), OnSite: at("2025-03-07 19:00"), Points: pts(
			resolve, 50, "2025-03-07 16:30", resolve, 80, "2025-03-07 16:48", resolve, 100, "2025-03-07 17:00")},
	}, {
		name: "closed pause moves deadlines",
		in: sla.Input{Class: sla.Routine, ReportedAt: at("2025-03-03 09:00"), AcknowledgedAt: at("2025-03-03 09:05"),
			Pauses: []sla.Pause{{From: at("2025-03-03 09:10"), To: at("2025-03-03 09:40"), Reason: "waiting for a part"}}},
		want: sla.Deadlines{Ack: at("2025-03-03 09:10"), Resolve: at("2025-03-03 10:00"), Points: pts(
			resolve, 50, "2025-03-03 09:45", resolve, 80, "2025-03-03 09:54", resolve, 100, "2025-03-03 10:00")},
	}, {
		name: "pause after ack leaves the ack deadline",
		in: sla.Input{Class: sla.Routine, ReportedAt: at("2025-03-03 09:00"), AcknowledgedAt: at("2025-03-03 09:05"),
			Pauses: []sla.Pause{{From: at("2025-03-03 09:07"), To: at("2025-03-03 09:37"), Reason: "waiting for a part"}}},
		want: sla.Deadlines{Ack: at("2025-03-03 09:10"), Resolve: at("2025-03-03 10:00"), Points: pts(
			resolve, 50, "2025-03-03 09:45", resolve, 80, "2025-03-03 09:54", resolve, 100, "2025-03-03 10:00")},
	}, {
		name: "pause over night counts no working time twice",
		in: sla.Input{Class: sla.Routine, ReportedAt: at("2025-03-03 09:00"), AcknowledgedAt: at("2025-03-03 09:05"),
			Pauses: []sla.Pause{{From: at("2025-03-03 09:10"), To: at("2025-03-04 09:00"), Reason: "ward busy"}}},
		want: sla.Deadlines{Ack: at("2025-03-03 09:10"), Resolve: at("2025-03-04 09:20"), Points: pts(
			resolve, 50, "2025-03-04 09:05", resolve, 80, "2025-03-04 09:14", resolve, 100, "2025-03-04 09:20")},
	}, {
		name: "open pause stops the clocks",
		in: sla.Input{Class: sla.Routine, ReportedAt: at("2025-03-03 09:00"), AcknowledgedAt: at("2025-03-03 09:05"),
			Pauses: []sla.Pause{{From: at("2025-03-03 09:10"), Reason: "waiting for the hospital"}}},
		want: sla.Deadlines{Ack: at("2025-03-03 09:10"), Paused: true},
	}, {
		name: "reopen restarts resolve",
		in: sla.Input{Class: sla.Routine, ReportedAt: at("2025-03-03 09:00"), AcknowledgedAt: at("2025-03-03 09:05"),
			ResolvedAt: at("2025-03-03 09:20"), ReopenedAt: at("2025-03-03 14:00")},
		want: sla.Deadlines{Ack: at("2025-03-03 09:10"), Resolve: at("2025-03-03 14:30"), Points: pts(
			resolve, 50, "2025-03-03 14:15", resolve, 80, "2025-03-03 14:24", resolve, 100, "2025-03-03 14:30")},
	}, {
		name: "resolved has no points",
		in: sla.Input{Class: sla.Simple, ReportedAt: at("2025-03-03 09:00"), AcknowledgedAt: at("2025-03-03 09:01"),
			ResolvedAt: at("2025-03-03 09:08")},
		want: sla.Deadlines{Ack: at("2025-03-03 09:05"), Resolve: at("2025-03-03 09:10")},
	}}
	p := policy(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Deadlines(tt.in)
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Deadlines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLate(t *testing.T) {
	p := policy(t)
	tests := []struct {
		name  string
		in    sla.Input
		clock sla.Clock
		at    string
		want  time.Duration
	}{
		{"on time", sla.Input{Class: sla.Routine, ReportedAt: at("2025-03-03 09:00"), ResolvedAt: at("2025-03-03 09:29")},
			resolve, "2025-03-04 12:00", 0},
		{"late over a night in working time", sla.Input{Class: sla.Routine, ReportedAt: at("2025-03-03 09:00"),
			ResolvedAt: at("2025-03-04 08:15")}, resolve, "2025-03-05 12:00", 8*time.Hour + 15*time.Minute},
		{"urgent late in wall time", sla.Input{Class: sla.Routine, Urgent: true, ReportedAt: at("2025-03-08 22:00")},
			ack, "2025-03-09 01:10", 3 * time.Hour},
		{"pause excluded", sla.Input{Class: sla.Other, ReportedAt: at("2025-03-03 09:00"), ResolvedAt: at("2025-03-03 12:00"),
			Pauses: []sla.Pause{{From: at("2025-03-03 10:30"), To: at("2025-03-03 11:00"), Reason: "part"}}},
			resolve, "2025-03-03 12:00", 90 * time.Minute},
		{"on-site not applicable", sla.Input{Class: sla.Other, ReportedAt: at("2025-03-03 09:00")},
			onsite, "2025-03-09 09:00", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.Late(tt.in, tt.clock, at(tt.at)); got != tt.want {
				t.Errorf("Late = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBreaches(t *testing.T) {
	p := policy(t)
	in := sla.Input{Class: sla.Simple, ReportedAt: at("2025-03-03 09:00"), AcknowledgedAt: at("2025-03-03 09:07")}
	got := p.Breaches(in, at("2025-03-03 09:30"))
	want := []sla.Breach{
		{Clock: ack, Due: at("2025-03-03 09:05"), Late: 2 * time.Minute, Final: true},
		{Clock: resolve, Due: at("2025-03-03 09:10"), Late: 20 * time.Minute},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Breaches (-want +got):\n%s", diff)
	}
}

func TestNoCalendarRuns7x24(t *testing.T) {
	p := sla.DefaultPolicy()
	got := p.Deadlines(sla.Input{Class: sla.Other, ReportedAt: at("2025-03-08 23:00")})
	if want := at("2025-03-09 00:00"); !got.Resolve.Equal(want) {
		t.Errorf("Resolve = %v, want %v", got.Resolve, want)
	}
}

func TestConfigFileMatchesDefault(t *testing.T) {
	data, err := os.ReadFile("../configs/sla.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := sla.ParsePolicy(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sla.DefaultPolicy(), got); diff != "" {
		t.Errorf("configs/sla.yaml policy differs from DefaultPolicy (-want +got):\n%s", diff)
	}
}

func TestParsePolicyRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown key":   "policy:\n  onsite: 2h\n  on_site: 1h\n",
		"no section":    "calendar: {}\n",
		"missing class": "policy:\n  classes:\n    simple: {ack: 1m, resolve: 2m}\n  onsite: 2h\n",
		"extra class": "policy:\n  classes:\n    simple: {ack: 1m, resolve: 2m}\n    routine: {ack: 1m, resolve: 2m}\n" +
			"    other: {ack: 1m, resolve: 2m}\n    huge: {ack: 1m, resolve: 2m}\n  onsite: 2h\n",
		"bad reminders": "policy:\n  classes:\n    simple: {ack: 1m, resolve: 2m}\n    routine: {ack: 1m, resolve: 2m}\n" +
			"    other: {ack: 1m, resolve: 2m}\n  onsite: 2h\n  reminders: [80, 50]\n",
		"no onsite": "policy:\n  classes:\n    simple: {ack: 1m, resolve: 2m}\n    routine: {ack: 1m, resolve: 2m}\n" +
			"    other: {ack: 1m, resolve: 2m}\n",
	} {
		if _, err := sla.ParsePolicy([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
