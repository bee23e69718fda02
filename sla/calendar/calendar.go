// Package calendar decides when the hospital is at work: working hours on a
// working day in one time zone, with mainland China's public holidays and
// make-up working days (调休) taken from github.com/6tail/lunar-go and
// overridable by explicit dates in config.
//
// The tender puts non-urgent faults on the hospital's working hours
// ("非紧急时工作时间与医院同步"); sla uses a Calendar to run those clocks only in
// working time. A Calendar is immutable and safe for concurrent use.
package calendar

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/6tail/lunar-go/HolidayUtil"
	"gopkg.in/yaml.v3"
)

// Config is the `calendar` section of configs/sla.yaml.
type Config struct {
	// TimeZone is an IANA zone name; the hospital is in Asia/Shanghai.
	TimeZone string `yaml:"timezone"`
	// Hours are the working periods of a working day, "HH:MM-HH:MM", in order
	// and not overlapping. A lunch break is two periods.
	Hours []string `yaml:"hours"`
	// Statutory takes China's public holidays and make-up working days from
	// lunar-go. Without it only weekends are days off.
	Statutory bool `yaml:"statutory"`
	// Holidays are extra days off ("2006-01-02"); they win over lunar-go.
	Holidays []string `yaml:"holidays"`
	// Workdays are extra working days ("2006-01-02"); they win over lunar-go
	// and over Holidays.
	Workdays []string `yaml:"workdays"`
}

// DefaultConfig equals the calendar section of configs/sla.yaml.
func DefaultConfig() Config {
	return Config{
		TimeZone:  "Asia/Shanghai",
		Hours:     []string{"08:00-17:30"},
		Statutory: true,
	}
}

// ParseConfig reads the `calendar` section of an sla.yaml file. Unknown keys
// in the section are errors; other top-level sections are left to their
// owners.
func ParseConfig(data []byte) (Config, error) {
	var file struct {
		Calendar yaml.Node `yaml:"calendar"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return Config{}, fmt.Errorf("calendar: parse: %w", err)
	}
	if file.Calendar.Kind == 0 {
		return Config{}, errors.New("calendar: parse: no calendar section")
	}
	var cfg Config
	// Node.Decode has no strict mode, so re-encode the section and decode it
	// with KnownFields.
	b, err := yaml.Marshal(&file.Calendar)
	if err != nil {
		return Config{}, fmt.Errorf("calendar: parse: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("calendar: parse: %w", err)
	}
	return cfg, nil
}

// period is a working period as offsets from midnight.
type period struct{ from, to time.Duration }

// Calendar answers working-time questions.
type Calendar struct {
	loc     *time.Location
	periods []period
	// days overrides the weekday rule: true = working day, false = day off.
	days map[civilDate]bool
}

type civilDate struct {
	y int
	m time.Month
	d int
}

func dateOf(t time.Time) civilDate {
	y, m, d := t.Date()
	return civilDate{y, m, d}
}

// New builds a Calendar from cfg.
func New(cfg Config) (*Calendar, error) {
	loc, err := time.LoadLocation(cfg.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("calendar: time zone %q: %w", cfg.TimeZone, err)
	}
	c := &Calendar{loc: loc, days: map[civilDate]bool{}}
	if c.periods, err = parseHours(cfg.Hours); err != nil {
		return nil, err
	}
	if cfg.Statutory {
		loadStatutory(c.days)
	}
	for _, list := range []struct {
		dates []string
		work  bool
	}{{cfg.Holidays, false}, {cfg.Workdays, true}} {
		for _, s := range list.dates {
			t, err := time.ParseInLocation(time.DateOnly, s, loc)
			if err != nil {
				return nil, fmt.Errorf("calendar: date %q: %w", s, err)
			}
			c.days[dateOf(t)] = list.work
		}
	}
	return c, nil
}

func parseHours(hours []string) ([]period, error) {
	if len(hours) == 0 {
		return nil, errors.New("calendar: no working hours")
	}
	var ps []period
	var last time.Duration
	for _, h := range hours {
		var fh, fm, th, tm int
		if _, err := fmt.Sscanf(h, "%d:%d-%d:%d", &fh, &fm, &th, &tm); err != nil {
			return nil, fmt.Errorf("calendar: hours %q: want HH:MM-HH:MM", h)
		}
		p := period{clock(fh, fm), clock(th, tm)}
		if fm > 59 || tm > 59 || p.from < last || p.to <= p.from || p.to > 24*time.Hour {
			return nil, fmt.Errorf("calendar: hours %q: out of order or out of range", h)
		}
		ps = append(ps, p)
		last = p.to
	}
	return ps, nil
}

// WithHours is the calendar with other working periods of the same days
// ("HH:MM-HH:MM", as Config.Hours): e.g. the hours engineers are asked
// questions that can wait.
func (c *Calendar) WithHours(hours []string) (*Calendar, error) {
	ps, err := parseHours(hours)
	if err != nil {
		return nil, err
	}
	return &Calendar{loc: c.loc, periods: ps, days: c.days}, nil
}

func clock(h, m int) time.Duration {
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
}

// loadStatutory copies lunar-go's table once, so lookups are map reads and
// the library's string scans stay out of the hot path. Its data runs from
// 2001 to the last year the State Council has announced (v1.4.7: 2027);
// later years fall back to the weekday rule until the library is updated or
// the dates are put in config.
func loadStatutory(days map[civilDate]bool) {
	for y := 2001; ; y++ {
		l := HolidayUtil.GetHolidaysByYear(y)
		if l.Len() == 0 {
			return
		}
		for e := l.Front(); e != nil; e = e.Next() {
			h := e.Value.(*HolidayUtil.Holiday)
			t, err := time.Parse(time.DateOnly, h.GetDay())
			if err != nil {
				continue // the library's own data; a bad row is not ours to fix
			}
			days[dateOf(t)] = h.IsWork()
		}
	}
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// IsWorkday reports whether the civil day containing t is a working day.
func (c *Calendar) IsWorkday(t time.Time) bool {
	t = t.In(c.loc)
	if w, ok := c.days[dateOf(t)]; ok {
		return w
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// intervals calls fn for each working interval of t's civil day, in order,
// and returns the next day's midnight.
func (c *Calendar) intervals(t time.Time, fn func(from, to time.Time) bool) (next time.Time, stop bool) {
	t = t.In(c.loc)
	y, m, d := t.Date()
	next = time.Date(y, m, d+1, 0, 0, 0, 0, c.loc)
	if !c.IsWorkday(t) {
		return next, false
	}
	for _, p := range c.periods {
		// time.Date normalises the offsets, so DST days in other zones work.
		from := time.Date(y, m, d, 0, 0, 0, int(p.from), c.loc)
		to := time.Date(y, m, d, 0, 0, 0, int(p.to), c.loc)
		if fn(from, to) {
			return next, true
		}
	}
	return next, false
}

// Add returns the instant at which d of working time has passed since t.
// Add(t, 0) is t. A result that ends a working period is that period's end
// (17:30), not the next period's start.
func (c *Calendar) Add(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	cur, left := t, d
	var at time.Time
	for {
		next, done := c.intervals(cur, func(from, to time.Time) bool {
			if !to.After(cur) {
				return false
			}
			if from.Before(cur) {
				from = cur
			}
			if avail := to.Sub(from); left > avail {
				left -= avail
				return false
			}
			at = from.Add(left)
			return true
		})
		if done {
			return at
		}
		cur = next
	}
}

// Next returns the first working instant at or after t: t itself in working
// time, else the start of the next working period.
func (c *Calendar) Next(t time.Time) time.Time {
	for cur := t; ; {
		var at time.Time
		next, found := c.intervals(cur, func(from, to time.Time) bool {
			if !to.After(t) {
				return false
			}
			at = from
			if from.Before(t) {
				at = t
			}
			return true
		})
		if found {
			return at
		}
		cur = next
	}
}

// Between returns the working time in [from, to); zero if to is not after
// from.
func (c *Calendar) Between(from, to time.Time) time.Duration {
	var sum time.Duration
	for cur := from; cur.Before(to); {
		cur, _ = c.intervals(cur, func(pf, pt time.Time) bool {
			if pf.Before(from) {
				pf = from
			}
			if pt.After(to) {
				pt = to
			}
			if pt.After(pf) {
				sum += pt.Sub(pf)
			}
			return false
		})
	}
	return sum
}
