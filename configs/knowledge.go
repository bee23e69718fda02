package configs

import (
	"fmt"
	"time"
)

// Knowledge configures the knowledge base (tender 二.5).
type Knowledge struct {
	// ReviewAfter is how long an entry stays current before the lead is told
	// to review it (default 182 days: "at least every six months").
	ReviewAfter time.Duration `yaml:"review_after"`
	// HospitalContact is the hospital's contact (采购人) who confirms a
	// requirement estimated over five person-days (需求确认).
	HospitalContact string        `yaml:"hospital_contact"`
	Jobs            KnowledgeJobs `yaml:"jobs"`
}

// KnowledgeJobs are the knowledge base's scheduled jobs.
type KnowledgeJobs struct {
	// Review lists entries due for review to the lead (monthly).
	Review Job `yaml:"review"`
	// Sweep proposes the entries of resolved tickets the feed missed (hourly).
	Sweep Job `yaml:"sweep"`
	// Register reminds of bug and requirement deadlines (daily).
	Register Job `yaml:"register"`
}

var defaultKnowledgeJobs = KnowledgeJobs{
	Review:   Job{Spec: "30 9 1 * *", Timeout: 5 * time.Minute, CatchUp: 72 * time.Hour},
	Sweep:    Job{Spec: "20 * * * *", Timeout: 5 * time.Minute, CatchUp: time.Hour},
	Register: Job{Spec: "0 9 * * *", Timeout: 5 * time.Minute, CatchUp: 3 * time.Hour},
}

func (j KnowledgeJobs) withDefaults() KnowledgeJobs {
	return KnowledgeJobs{Review: j.Review.or(defaultKnowledgeJobs.Review), Sweep: j.Sweep.or(defaultKnowledgeJobs.Sweep),
		Register: j.Register.or(defaultKnowledgeJobs.Register)}
}

// validateResponse checks the head nurses are on the roster.
func (c *Config) validateResponse() error {
	people := map[string]bool{}
	for _, p := range c.People {
		people[p.UserID] = true
	}
	for i, w := range c.Wards {
		if w.HeadNurse != "" && !people[w.HeadNurse] {
			return fmt.Errorf("config: wards[%d].head_nurse: %q is not in people", i, w.HeadNurse)
		}
	}
	if u := c.Knowledge.HospitalContact; u != "" && !people[u] {
		return fmt.Errorf("config: knowledge.hospital_contact: %q is not in people", u)
	}
	if c.Knowledge.ReviewAfter < 0 {
		return fmt.Errorf("config: knowledge.review_after: must not be negative")
	}
	return nil
}
