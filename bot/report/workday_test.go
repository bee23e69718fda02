package report_test

import (
	"testing"
	"time"

	"weibao/bot/report"
	"weibao/sla/calendar"
)

func TestFirstWorkday(t *testing.T) {
	cal, err := calendar.New(calendar.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	day := func(s string) time.Time {
		d, err := time.ParseInLocation("2006-01-02 15:04", s, cal.Location())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		at   string
		want bool
	}{
		{"2026-04-01 09:00", true},  // a Wednesday
		{"2026-04-02 09:00", false}, // the 1st was already a working day
		{"2026-07-01 09:00", true},
		{"2026-10-01 09:00", false}, // National Day: off until the 7th
		{"2026-10-07 09:00", false},
		{"2026-10-08 09:00", true},
		{"2026-10-09 09:00", false},
		{"2026-01-01 09:00", false}, // New Year's Day, off until the 3rd
		{"2026-01-04 09:00", true},  // a Sunday worked in exchange (调休)
		{"2026-01-05 09:00", false},
		{"2025-10-09 09:00", true}, // National Day and Mid-Autumn: off until the 8th
	}
	for _, tt := range tests {
		if got := report.FirstWorkday(cal, day(tt.at)); got != tt.want {
			t.Errorf("FirstWorkday(%s) = %v, want %v", tt.at, got, tt.want)
		}
	}
}
