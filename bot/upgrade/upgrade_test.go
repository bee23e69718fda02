package upgrade_test

import (
	"testing"
	"time"

	"weibao/bot/upgrade"
)

func TestParseWindow(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	at := func(s string) time.Time { v, _ := time.ParseInLocation("2006-01-02 15:04", s, loc); return v }
	for _, tt := range []struct {
		in         string
		start, end string // "" when refused
	}{
		{"2026-12-10 22:00-23:30", "2026-12-10 22:00", "2026-12-10 23:30"},
		{"2026-12-10 23:00-01:00", "2026-12-10 23:00", "2026-12-11 01:00"}, // past midnight
		{"2026-12-10 23:00 至 2026-12-11 02:00", "2026-12-10 23:00", "2026-12-11 02:00"},
		{"2026-1-5 9:00~10:00", "2026-01-05 09:00", "2026-01-05 10:00"},
		{"2026-12-10 22:00-2026-12-10 21:00", "", ""}, // ends before it starts
		{"2026-12-10 22:00-2026-12-14 22:00", "", ""}, // longer than 72 h
		{"2026-13-10 22:00-23:00", "", ""},
		{"明天晚上", "", ""},
		{"2026-12-10 22:00", "", ""},
	} {
		s, e, ok := upgrade.ParseWindow(tt.in, loc)
		if tt.start == "" {
			if ok {
				t.Errorf("ParseWindow(%q) = %v–%v, want refused", tt.in, s, e)
			}
			continue
		}
		if !ok || !s.Equal(at(tt.start)) || !e.Equal(at(tt.end)) {
			t.Errorf("ParseWindow(%q) = %v–%v %v, want %s–%s", tt.in, s, e, ok, tt.start, tt.end)
		}
	}
}
