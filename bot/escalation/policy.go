package escalation

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"weibao/sla/pager"
)

// Target is whom an escalation level pages.
type Target string

const (
	// ToPrimary is the ticket's assignee, or the on-call primary while
	// nobody has taken it (the lead in a roster gap).
	ToPrimary Target = "primary"
	// ToBackup is the on-call backup (the lead when there is none).
	ToBackup Target = "backup"
	ToLead   Target = "lead"
)

// Level is one escalation step. Level 0, the WeCom card to the on-call
// engineer, is sent when the ticket is created and is not configured here.
type Level struct {
	Level    int
	To       Target
	Channels []pager.Channel
	// After is how long after the report an unacknowledged ticket reaches
	// this level: in working time for non-urgent faults, around the clock
	// for urgent ones. P1 faults use UrgentAfter instead.
	After       time.Duration
	UrgentAfter time.Duration
}

// Point raises the escalation to Level when an SLA clock reaches Percent of
// its budget (100 is the breach). Level 0 only reminds by WeCom.
type Point struct {
	Percent int
	Level   int
}

// Policy is the escalation policy.
type Policy struct {
	Levels []Level
	Points []Point
}

// DefaultPolicy is the tender's escalation (二.1): phone and SMS to the
// engineer after 5 minutes without acknowledgement (at once for P1), then
// the backup, then the project lead; the 80 % reminder rings the engineer
// and a breach rings the lead.
func DefaultPolicy() Policy {
	both := []pager.Channel{pager.Voice, pager.SMS}
	return Policy{
		Levels: []Level{
			{Level: 1, To: ToPrimary, Channels: both, After: 5 * time.Minute, UrgentAfter: 0},
			{Level: 2, To: ToBackup, Channels: both, After: 15 * time.Minute, UrgentAfter: 5 * time.Minute},
			{Level: 3, To: ToLead, Channels: both, After: 30 * time.Minute, UrgentAfter: 10 * time.Minute},
		},
		Points: []Point{{Percent: 50, Level: 0}, {Percent: 80, Level: 1}, {Percent: 100, Level: 3}},
	}
}

// Validate checks the levels ascend from 1 and the points name known levels.
func (p *Policy) Validate() error {
	sort.Slice(p.Levels, func(i, j int) bool { return p.Levels[i].Level < p.Levels[j].Level })
	for i, l := range p.Levels {
		if l.Level != i+1 {
			return fmt.Errorf("escalation: levels must be 1, 2, 3… without gaps, got %d", l.Level)
		}
		switch l.To {
		case ToPrimary, ToBackup, ToLead:
		default:
			return fmt.Errorf("escalation: level %d: unknown target %q", l.Level, l.To)
		}
		for _, c := range l.Channels {
			if c != pager.Voice && c != pager.SMS {
				return fmt.Errorf("escalation: level %d: unknown channel %q", l.Level, c)
			}
		}
		if l.After < 0 || l.UrgentAfter < 0 || (i > 0 && (l.After < p.Levels[i-1].After || l.UrgentAfter < p.Levels[i-1].UrgentAfter)) {
			return fmt.Errorf("escalation: level %d: delays must not shrink from one level to the next", l.Level)
		}
	}
	for _, pt := range p.Points {
		if pt.Percent <= 0 || pt.Percent > 100 || pt.Level < 0 || pt.Level > len(p.Levels) {
			return fmt.Errorf("escalation: point %d%% → level %d is out of range", pt.Percent, pt.Level)
		}
	}
	return nil
}

func (p Policy) level(n int) (Level, bool) {
	i := slices.IndexFunc(p.Levels, func(l Level) bool { return l.Level == n })
	if i < 0 {
		return Level{}, false
	}
	return p.Levels[i], true
}

// pointLevel is the level a clock point raises the escalation to.
func (p Policy) pointLevel(percent int) int {
	for _, pt := range p.Points {
		if pt.Percent == percent {
			return pt.Level
		}
	}
	return 0
}
