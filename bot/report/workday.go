package report

import "time"

// Workdays tells working days from days off (*calendar.Calendar).
type Workdays interface {
	IsWorkday(t time.Time) bool
}

// FirstWorkday reports whether t falls on the first working day of its
// month in t's location: the quarterly package goes out on the first
// working day of a quarter, so its job runs on the first days of the month
// and acts on this one.
func FirstWorkday(cal Workdays, t time.Time) bool {
	for d := time.Date(t.Year(), t.Month(), 1, 12, 0, 0, 0, t.Location()); d.Day() < t.Day(); d = d.AddDate(0, 0, 1) {
		if cal.IsWorkday(d) {
			return false
		}
	}
	return cal.IsWorkday(t)
}
