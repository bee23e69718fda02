package calendar

import (
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func mustNew(t *testing.T, cfg Config) *Calendar {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// at parses "2006-01-02 15:04" in Asia/Shanghai.
func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, shanghai)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAdd(t *testing.T) {
	lunch := DefaultConfig()
	lunch.Hours = []string{"08:00-12:00", "13:30-17:30"}
	override := DefaultConfig()
	override.Holidays = []string{"2025-03-04"}
	override.Workdays = []string{"2025-03-08", "2025-10-02"}
	noStatutory := DefaultConfig()
	noStatutory.Statutory = false

	tests := []struct {
		name string
		cfg  Config
		from string
		d    time.Duration
		want string
	}{
		{"same day", DefaultConfig(), "2025-03-03 09:00", 30 * time.Minute, "2025-03-03 09:30"},
		{"zero", DefaultConfig(), "2025-03-08 03:00", 0, "2025-03-08 03:00"},
		{"before hours", DefaultConfig(), "2025-03-03 06:00", 10 * time.Minute, "2025-03-03 08:10"},
		{"ends at close", DefaultConfig(), "2025-03-03 17:00", 30 * time.Minute, "2025-03-03 17:30"},
		{"crosses night", DefaultConfig(), "2025-03-03 17:20", 30 * time.Minute, "2025-03-04 08:20"},
		{"after close", DefaultConfig(), "2025-03-03 20:00", time.Hour, "2025-03-04 09:00"},
		{"crosses weekend", DefaultConfig(), "2025-03-07 17:00", time.Hour, "2025-03-10 08:30"},
		{"starts on sunday", DefaultConfig(), "2025-03-09 10:00", 10 * time.Minute, "2025-03-10 08:10"},
		// 国庆中秋 2025: 10-01..10-08 off, Sun 09-28 and Sat 10-11 are make-up days.
		{"crosses national day", DefaultConfig(), "2025-09-30 17:00", time.Hour, "2025-10-09 08:30"},
		{"make-up sunday", DefaultConfig(), "2025-09-26 17:00", time.Hour, "2025-09-28 08:30"},
		{"make-up saturday", DefaultConfig(), "2025-10-11 09:00", 30 * time.Minute, "2025-10-11 09:30"},
		// 春节 2025: 01-28..02-04 off, Sun 01-26 is a make-up day.
		{"spring festival", DefaultConfig(), "2025-01-27 17:00", 2 * time.Hour, "2025-02-05 09:30"},
		{"without statutory", noStatutory, "2025-09-30 17:00", time.Hour, "2025-10-01 08:30"},
		{"lunch break", lunch, "2025-03-03 11:50", 20 * time.Minute, "2025-03-03 13:40"},
		{"configured holiday", override, "2025-03-03 17:20", 30 * time.Minute, "2025-03-05 08:20"},
		{"configured workday", override, "2025-03-07 17:20", 30 * time.Minute, "2025-03-08 08:20"},
		{"workday beats library", override, "2025-09-30 17:00", time.Hour, "2025-10-02 08:30"},
		{"multi-day budget", DefaultConfig(), "2025-03-03 08:00", 20 * time.Hour, "2025-03-05 09:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustNew(t, tt.cfg)
			got := c.Add(at(t, tt.from), tt.d)
			if want := at(t, tt.want); !got.Equal(want) {
				t.Errorf("Add(%s, %v) = %s, want %s", tt.from, tt.d, got.In(shanghai).Format(time.DateTime), tt.want)
			}
		})
	}
}

func TestBetween(t *testing.T) {
	c := mustNew(t, DefaultConfig())
	tests := []struct {
		from, to string
		want     time.Duration
	}{
		{"2025-03-03 09:00", "2025-03-03 09:30", 30 * time.Minute},
		{"2025-03-03 09:30", "2025-03-03 09:00", 0},
		{"2025-03-07 17:00", "2025-03-10 09:00", 90 * time.Minute},
		{"2025-09-30 17:00", "2025-10-09 08:30", time.Hour},
		{"2025-09-27 00:00", "2025-09-29 00:00", 570 * time.Minute},
		{"2025-03-08 00:00", "2025-03-09 23:59", 0},
	}
	for _, tt := range tests {
		if got := c.Between(at(t, tt.from), at(t, tt.to)); got != tt.want {
			t.Errorf("Between(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

// Add and Between must be inverse, or sla's remaining-time and lateness
// figures would disagree with its deadlines.
func TestAddBetweenInverse(t *testing.T) {
	c := mustNew(t, DefaultConfig())
	start := at(t, "2025-09-20 06:00")
	for i := 0; i < 400; i++ {
		from := start.Add(time.Duration(i*97) * time.Minute)
		d := time.Duration(i%37)*17*time.Minute + time.Second
		to := c.Add(from, d)
		if got := c.Between(from, to); got != d {
			t.Fatalf("Between(%v, Add(%v, %v)) = %v", from, from, d, got)
		}
	}
}

func TestIsWorkday(t *testing.T) {
	c := mustNew(t, DefaultConfig())
	for day, want := range map[string]bool{
		"2025-09-28 12:00": true,  // make-up Sunday
		"2025-10-01 12:00": false, // 国庆
		"2025-10-06 12:00": false, // 中秋, inside the joint holiday
		"2025-10-10 12:00": true,
		"2025-10-12 12:00": false,
		"2026-02-28 12:00": true, // make-up Saturday for 春节 2026
	} {
		if got := c.IsWorkday(at(t, day)); got != want {
			t.Errorf("IsWorkday(%s) = %v, want %v", day, got, want)
		}
	}
}

func TestNewRejects(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"zone":       func(c *Config) { c.TimeZone = "Mars/Olympus" },
		"no hours":   func(c *Config) { c.Hours = nil },
		"syntax":     func(c *Config) { c.Hours = []string{"8-17"} },
		"reversed":   func(c *Config) { c.Hours = []string{"17:00-08:00"} },
		"overlap":    func(c *Config) { c.Hours = []string{"08:00-12:00", "11:00-17:00"} },
		"past 24h":   func(c *Config) { c.Hours = []string{"08:00-25:00"} },
		"bad minute": func(c *Config) { c.Hours = []string{"08:75-17:00"} },
		"bad date":   func(c *Config) { c.Holidays = []string{"2025/10/01"} },
	} {
		cfg := DefaultConfig()
		mod(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want error", name)
		}
	}
}

func TestConfigFileMatchesDefault(t *testing.T) {
	data, err := os.ReadFile("../../configs/sla.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	// The file spells empty override lists; the default leaves them nil.
	opt := cmp.Transformer("emptyNil", func(s []string) []string {
		if len(s) == 0 {
			return nil
		}
		return s
	})
	if diff := cmp.Diff(want, got, opt); diff != "" {
		t.Errorf("configs/sla.yaml calendar differs from DefaultConfig (-want +got):\n%s", diff)
	}
}

func TestParseConfigStrict(t *testing.T) {
	if _, err := ParseConfig([]byte("calendar:\n  timezone: Asia/Shanghai\n  hourz: []\n")); err == nil {
		t.Error("unknown key accepted")
	}
	if _, err := ParseConfig([]byte("policy: {}\n")); err == nil {
		t.Error("missing section accepted")
	}
}

func TestNext(t *testing.T) {
	lunch := DefaultConfig()
	lunch.Hours = []string{"08:00-12:00", "13:30-17:30"}
	c := mustNew(t, lunch)
	late, err := c.WithHours([]string{"09:00-18:00"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		c        *Calendar
		from, to string
	}{
		{"night waits for the morning", c, "2026-12-04 02:46", "2026-12-04 08:00"},
		{"working time is now", c, "2026-12-04 10:00", "2026-12-04 10:00"},
		{"lunch waits for the afternoon", c, "2026-12-04 12:30", "2026-12-04 13:30"},
		{"end of Friday is Monday", c, "2026-12-04 17:30", "2026-12-07 08:00"},
		{"Saturday is Monday", c, "2026-12-05 10:00", "2026-12-07 08:00"},
		{"National Day is the next working day", c, "2026-10-01 10:00", "2026-10-08 08:00"},
		{"other hours, same days", late, "2026-12-04 08:30", "2026-12-04 09:00"},
		{"other hours end later", late, "2026-12-04 17:45", "2026-12-04 17:45"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := tt.c.Next(at(t, tt.from)), at(t, tt.to); !got.Equal(want) {
				t.Errorf("Next(%s) = %s, want %s", tt.from, got.In(shanghai).Format("2006-01-02 15:04"), tt.to)
			}
		})
	}
	if _, err := c.WithHours([]string{"18:00-09:00"}); err == nil {
		t.Error("WithHours took hours out of order")
	}
}
