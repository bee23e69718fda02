package classify

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"weibao/bot"
)

// The embedded defaults are the file operators read and edit.
func TestDefaultMatchesConfigFile(t *testing.T) {
	b, err := os.ReadFile("../../configs/classification.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, defaultYAML) {
		t.Fatal("bot/classify/default.yaml differs from configs/classification.yaml: copy the config file over it")
	}
	Default()
}

func TestClassify(t *testing.T) {
	r := Default()
	c := func(s bot.Scope, ty bot.FaultType, sev bot.Severity, d bot.Difficulty, em bool) bot.Classification {
		return bot.Classification{Scope: s, Type: ty, Severity: sev, Difficulty: d, Emergency: em}
	}
	tests := []struct {
		name   string
		in     bot.Classification
		want   bot.Priority
		class  string
		urgent bool
	}{
		{"patient safety, one nurse", c(bot.ScopePersonal, bot.TypeSoftware, bot.SeverityPatientSafety, bot.DifficultySimple, false), bot.P1, "simple", true},
		{"hospital wide, mere inconvenience", c(bot.ScopeHospital, bot.TypeSoftware, bot.SeverityExperience, bot.DifficultyOther, false), bot.P1, "other", true},
		{"emergency", c(bot.ScopePersonal, bot.TypeTerminal, bot.SeverityExperience, bot.DifficultyRoutine, true), bot.P1, "routine", true},
		{"department clinical", c(bot.ScopeDepartment, bot.TypeSoftware, bot.SeverityClinical, bot.DifficultyOther, false), bot.P2, "other", true},
		{"personal clinical", c(bot.ScopePersonal, bot.TypeSoftware, bot.SeverityClinical, bot.DifficultyOther, false), bot.P2, "other", false},
		{"department daily", c(bot.ScopeDepartment, bot.TypeSoftware, bot.SeverityDaily, bot.DifficultySimple, false), bot.P2, "simple", false},
		{"personal daily", c(bot.ScopePersonal, bot.TypeSoftware, bot.SeverityDaily, bot.DifficultySimple, false), bot.P3, "simple", false},
		{"personal server inconvenience", c(bot.ScopePersonal, bot.TypeServer, bot.SeverityExperience, bot.DifficultyOther, false), bot.P3, "other", false},
		{"personal inconvenience", c(bot.ScopePersonal, bot.TypeTerminal, bot.SeverityExperience, bot.DifficultySimple, false), bot.P4, "simple", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := r.Classify(tt.in)
			if got.Priority != tt.want || got.SLAClass != tt.class || got.Urgent != tt.urgent || reason == "" {
				t.Errorf("Classify = %s %s urgent=%v (%q), want %s %s urgent=%v", got.Priority, got.SLAClass, got.Urgent, reason, tt.want, tt.class, tt.urgent)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("result invalid: %v", err)
			}
		})
	}
}

func TestWithPriority(t *testing.T) {
	r := Default()
	base, _ := r.Classify(bot.Classification{Scope: bot.ScopePersonal, Type: bot.TypeSoftware, Severity: bot.SeverityDaily, Difficulty: bot.DifficultySimple})
	if got := r.WithPriority(base, bot.P1); got.Priority != bot.P1 || !got.Urgent || got.SLAClass != "simple" {
		t.Errorf("to P1: %+v", got)
	}
	if got := r.WithPriority(r.WithPriority(base, bot.P1), bot.P4); got.Priority != bot.P4 || got.Urgent {
		t.Errorf("back to P4: %+v", got)
	}
	if got := r.WithDifficulty(base, bot.DifficultyOther); got.SLAClass != "other" || got.Priority != bot.P3 {
		t.Errorf("difficulty: %+v", got)
	}
}

func TestParseRejects(t *testing.T) {
	tests := map[string]string{
		"unknown key":   "rules: [{when: {}, priority: P4}]\nsla_class: {simple: s, routine: r, other: o}\nextra: 1\n",
		"bad priority":  "rules: [{when: {}, priority: P9}]\nsla_class: {simple: s, routine: r, other: o}\n",
		"bad scope":     "rules: [{when: {scope: [ward]}, priority: P1}, {when: {}, priority: P4}]\nsla_class: {simple: s, routine: r, other: o}\n",
		"no catch-all":  "rules: [{when: {scope: [hospital]}, priority: P1}]\nsla_class: {simple: s, routine: r, other: o}\n",
		"missing class": "rules: [{when: {}, priority: P4}]\nsla_class: {simple: s}\n",
		"no rules":      "sla_class: {simple: s, routine: r, other: o}\n",
	}
	for name, in := range tests {
		if _, err := Parse([]byte(in)); err == nil || !strings.HasPrefix(err.Error(), "classification") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
