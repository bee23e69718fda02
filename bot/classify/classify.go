// Package classify turns a fault's answers (scope, type, clinical impact,
// difficulty, emergency) into its priority, SLA class and urgency. It is a
// pure function over rules read from configs/classification.yaml, whose
// defaults follow the tender (二.2); the reasons live beside the numbers there.
package classify

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"

	"weibao/bot"
)

// When selects the faults a rule applies to; an empty list accepts any value.
type When struct {
	Scope      []bot.Scope      `yaml:"scope"`
	Type       []bot.FaultType  `yaml:"type"`
	Severity   []bot.Severity   `yaml:"severity"`
	Difficulty []bot.Difficulty `yaml:"difficulty"`
	// Emergency, when set, must equal the fault's.
	Emergency *bool `yaml:"emergency"`
}

// Rule sets priority and urgency for the faults When matches.
type Rule struct {
	When     When         `yaml:"when"`
	Priority bot.Priority `yaml:"priority"`
	Urgent   bool         `yaml:"urgent"`
	// Reason is the plain-words explanation a nurse reads (Chinese).
	Reason string `yaml:"reason"`
}

// Rules is the whole classification policy.
type Rules struct {
	Rules []Rule `yaml:"rules"`
	// SLAClass maps difficulty to the SLA policy's class name.
	SLAClass map[bot.Difficulty]string `yaml:"sla_class"`
	// UrgentPriorities are the priorities that run on urgent clocks when an
	// engineer reclassifies by priority.
	UrgentPriorities []bot.Priority `yaml:"urgent_priorities"`
}

//go:embed default.yaml
var defaultYAML []byte

// Default returns the rules of configs/classification.yaml as shipped.
func Default() Rules {
	r, err := Parse(defaultYAML)
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return r
}

// Parse reads rules strictly (unknown keys are errors) and validates them.
func Parse(data []byte) (Rules, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var r Rules
	if err := dec.Decode(&r); err != nil {
		return Rules{}, fmt.Errorf("classification: %w", err)
	}
	return r, r.Validate()
}

// Validate checks every rule names known values and the last catches all.
func (r Rules) Validate() error {
	if len(r.Rules) == 0 {
		return errors.New("classification: no rules")
	}
	for i, x := range r.Rules {
		c := bot.Classification{Scope: bot.ScopePersonal, Type: bot.TypeSoftware, Severity: bot.SeverityDaily,
			Difficulty: bot.DifficultySimple, Priority: x.Priority, SLAClass: "x"}
		if err := c.Validate(); err != nil {
			return fmt.Errorf("classification: rules[%d]: %v", i, err)
		}
		for _, s := range x.When.Scope {
			if c.Scope = s; c.Validate() != nil {
				return fmt.Errorf("classification: rules[%d]: unknown scope %q", i, s)
			}
		}
		for _, s := range x.When.Type {
			if c.Type = s; c.Validate() != nil {
				return fmt.Errorf("classification: rules[%d]: unknown type %q", i, s)
			}
		}
		for _, s := range x.When.Severity {
			if c.Severity = s; c.Validate() != nil {
				return fmt.Errorf("classification: rules[%d]: unknown severity %q", i, s)
			}
		}
		for _, s := range x.When.Difficulty {
			if c.Difficulty = s; c.Validate() != nil {
				return fmt.Errorf("classification: rules[%d]: unknown difficulty %q", i, s)
			}
		}
	}
	last := r.Rules[len(r.Rules)-1].When
	if len(last.Scope)+len(last.Type)+len(last.Severity)+len(last.Difficulty) > 0 || last.Emergency != nil {
		return errors.New("classification: the last rule must match every fault (when: {})")
	}
	for _, d := range []bot.Difficulty{bot.DifficultySimple, bot.DifficultyRoutine, bot.DifficultyOther} {
		if r.SLAClass[d] == "" {
			return fmt.Errorf("classification: sla_class: no class for difficulty %q", d)
		}
	}
	return nil
}

func (w When) match(c bot.Classification) bool {
	in := func(n int, ok bool) bool { return n == 0 || ok }
	return in(len(w.Scope), slices.Contains(w.Scope, c.Scope)) &&
		in(len(w.Type), slices.Contains(w.Type, c.Type)) &&
		in(len(w.Severity), slices.Contains(w.Severity, c.Severity)) &&
		in(len(w.Difficulty), slices.Contains(w.Difficulty, c.Difficulty)) &&
		(w.Emergency == nil || *w.Emergency == c.Emergency)
}

// Classify fills c's Priority, SLAClass and Urgent from its five dimensions
// and returns the matching rule's reason.
func (r Rules) Classify(c bot.Classification) (bot.Classification, string) {
	c.SLAClass = r.SLAClass[c.Difficulty]
	for _, x := range r.Rules {
		if x.When.match(c) {
			c.Priority, c.Urgent = x.Priority, x.Urgent
			return c, x.Reason
		}
	}
	// Unreachable after Validate; the most careful answer if it ever is.
	c.Priority, c.Urgent = bot.P1, true
	return c, ""
}

// WithPriority is an engineer's 改级: the priority is set directly, urgency
// follows it, the five dimensions stay as they were.
func (r Rules) WithPriority(c bot.Classification, p bot.Priority) bot.Classification {
	c.Priority = p
	c.Urgent = slices.Contains(r.UrgentPriorities, p)
	if c.SLAClass == "" {
		c.SLAClass = r.SLAClass[c.Difficulty]
	}
	return c
}

// WithDifficulty is an engineer's change of difficulty: the SLA class
// follows, and so may the priority.
func (r Rules) WithDifficulty(c bot.Classification, d bot.Difficulty) bot.Classification {
	c.Difficulty = d
	out, _ := r.Classify(c)
	return out
}
