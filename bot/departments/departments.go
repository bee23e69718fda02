// Package departments reads the wards' WeCom departments into the roster:
// every member of a department a ward names becomes a nurse of that ward.
// People written by hand in the configuration stay as written; members who
// left their department become inactive. A sender seen in a mapped group but
// in no department still reports as a nurse of that group's ward (the
// conversation's stranger rule), so a late sync never turns a nurse away.
package departments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"weibao/bot"
)

// Members lists a WeCom department's members, user id and name (wecom.Client).
type Members interface {
	DepartmentMembers(ctx context.Context, departmentID int) ([]bot.Person, error)
}

// Store keeps the people read, leaving hand-written ones alone, and
// deactivates those read before who are no longer among them (storage.DB).
type Store interface {
	SyncDepartmentPeople(ctx context.Context, people []bot.Person) (joined, left int, err error)
}

// Ward is a ward that names a WeCom department.
type Ward struct {
	Code         string
	DepartmentID int
}

// Syncer reads the departments of its wards into the roster.
type Syncer struct {
	members Members
	store   Store
	wards   []Ward
	log     *slog.Logger
}

// New returns a Syncer for wards, in configuration order: a person in two
// of their departments is a nurse of the first ward. With no wards, a sync
// deactivates everyone an earlier one read.
func New(members Members, store Store, wards []Ward, log *slog.Logger) (*Syncer, error) {
	if store == nil || log == nil || (members == nil && len(wards) > 0) {
		return nil, errors.New("departments: Members (with wards), Store and Logger are required")
	}
	return &Syncer{members: members, store: store, wards: wards, log: log}, nil
}

// Sync reads every department, then stores the people in one go: when any
// department cannot be read nothing changes, so a WeCom outage or a
// department the app cannot see never deactivates a ward's nurses.
func (s *Syncer) Sync(ctx context.Context) error {
	var people []bot.Person
	seen := map[string]bool{}
	for _, w := range s.wards {
		ms, err := s.members.DepartmentMembers(ctx, w.DepartmentID)
		if err != nil {
			return fmt.Errorf("departments: ward %s: department %d: %w", w.Code, w.DepartmentID, err)
		}
		for _, m := range ms {
			if m.UserID == "" || seen[m.UserID] {
				continue
			}
			seen[m.UserID] = true
			people = append(people, bot.Person{UserID: m.UserID, Name: m.Name, Role: bot.RoleNurse, WardCode: w.Code})
		}
	}
	joined, left, err := s.store.SyncDepartmentPeople(ctx, people)
	if err != nil {
		return fmt.Errorf("departments: %w", err)
	}
	if len(s.wards) > 0 || left > 0 {
		s.log.Info("wecom departments read into the roster", "wards", len(s.wards), "members", len(people), "joined", joined, "left", left)
	}
	return nil
}
