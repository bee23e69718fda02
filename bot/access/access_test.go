package access

import (
	"errors"
	"testing"

	"weibao/bot"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		dir  bot.Role
		max  Role
		may  []Role
		mayN []Role
	}{
		{bot.RoleNurse, Nurse, []Role{Nurse}, []Role{Viewer, Engineer, Lead}},
		{bot.RoleEngineer, Engineer, []Role{Nurse, Viewer, Engineer}, []Role{Lead}},
		{bot.RoleLead, Lead, []Role{Nurse, Viewer, Engineer, Lead}, nil},
		{bot.RoleAdmin, Lead, []Role{Lead}, nil},
	}
	for _, tt := range tests {
		if got := MaxRole(tt.dir); got != tt.max {
			t.Errorf("MaxRole(%s) = %s, want %s", tt.dir, got, tt.max)
		}
		for _, r := range tt.may {
			if !tt.max.AtLeast(r) {
				t.Errorf("%s may not do what %s may", tt.max, r)
			}
		}
		for _, r := range tt.mayN {
			if tt.max.AtLeast(r) {
				t.Errorf("%s may do what %s may", tt.max, r)
			}
		}
	}
	// A token's role is capped by the person's role today.
	if got := effective(Lead, &bot.Person{Role: bot.RoleEngineer}); got != Engineer {
		t.Errorf("a lead token of someone now an engineer acts as %s", got)
	}
	if got := effective(Viewer, &bot.Person{Role: bot.RoleLead}); got != Viewer {
		t.Errorf("a lead's viewer token acts as %s", got)
	}
	for _, s := range []string{"nurse", "admin", "Lead", ""} {
		if _, err := ParseRole(s); !errors.Is(err, bot.ErrInvalid) {
			t.Errorf("ParseRole(%q) = %v, want ErrInvalid", s, err)
		}
	}
}
