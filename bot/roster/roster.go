// Package roster answers who is on call: a 7×24 rotation of engineers with
// its hand-over time, per-day overrides (holiday swaps), a primary and a
// backup, and the project lead. The roster is seeded from the configuration
// and edited at run time through the admin API; the database keeps it.
//
// A gap (nobody, or nobody active, on primary duty) is never silent: OnCall
// returns a nil Primary so that the escalation pages the lead, and Notices
// tells the lead ahead of time.
package roster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"weibao/bot"
)

// Layout is how Doc.Start is written, in the roster's time zone.
const Layout = "2006-01-02 15:04"

// DateLayout is how Override.Date is written.
const DateLayout = "2006-01-02"

// Doc is the roster as configured or edited.
type Doc struct {
	// Lead is the project lead's user id; empty means the first active
	// person with the lead role.
	Lead string `json:"lead"`
	// Start is the first shift's hand-over ("2026-01-05 09:00"); its time of
	// day is every hand-over's.
	Start string `json:"start"`
	// Shift is how long one engineer is primary, e.g. 168h for weekly.
	Shift Duration `json:"shift"`
	// Primary lists the engineers in rotation order.
	Primary []string `json:"primary"`
	// Backup lists the backups in their own rotation; empty means the next
	// engineer of Primary backs up.
	Backup    []string   `json:"backup"`
	Overrides []Override `json:"overrides"`
}

// Override replaces the rotation for one day, from that day's hand-over to
// the next day's. An empty field keeps the rotation's person.
type Override struct {
	Date    string `json:"date"`
	Primary string `json:"primary"`
	Backup  string `json:"backup"`
}

// Duration is a time.Duration written as "168h" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return invalid("shift", "shift", "shift %q is not a duration like \"168h\" or \"12h\"", s)
	}
	*d = Duration(v)
	return nil
}

// ErrInvalid wraps every validation failure of a Doc.
var ErrInvalid = errors.New("roster: invalid")

// invalid is a validation failure that names the field and the form it
// expects, in English and (through the catalogue's "api.bad_field") in
// Chinese: the admin API answers with both.
func invalid(field, form, format string, args ...any) error {
	return bot.Errorf(ErrInvalid, "api.bad_field", map[string]any{"field": field, "form": form}, "roster: invalid: "+format, args...)
}

// Validate checks the roster's shape (not that the people exist: a missing
// person is a gap, reported when it matters).
func (d Doc) Validate(loc *time.Location) error {
	if len(d.Primary) > 0 {
		if _, err := time.ParseInLocation(Layout, d.Start, loc); err != nil {
			return invalid("start", "start", "start %q is not like 2026-01-05 09:00", d.Start)
		}
		if time.Duration(d.Shift) < time.Hour {
			return invalid("shift", "shift", "shift is shorter than an hour (1h)")
		}
	}
	for _, r := range []struct {
		field string
		ids   []string
	}{{"primary", d.Primary}, {"backup", d.Backup}} {
		if slices.Contains(r.ids, "") {
			return invalid(r.field, "userid", "empty user id in the %s rotation", r.field)
		}
	}
	seen := map[string]bool{}
	for _, o := range d.Overrides {
		if _, err := time.ParseInLocation(DateLayout, o.Date, loc); err != nil {
			return invalid("date", "date", "override date %q is not like 2026-10-01", o.Date)
		}
		if seen[o.Date] {
			return invalid("date", "one_override", "two overrides for %s", o.Date)
		}
		if o.Primary == "" && o.Backup == "" {
			return invalid("primary", "override_person", "override %s names nobody (primary or backup)", o.Date)
		}
		seen[o.Date] = true
	}
	return nil
}

// Hash identifies a Doc's content, to tell whether the configured roster
// changed since it was last seeded.
func (d Doc) Hash() string {
	b, _ := json.Marshal(d) // plain data always marshals
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Duty is who is on duty at an instant, as user ids; empty means nobody.
type Duty struct {
	Primary, Backup string
}

// duty computes the duty at at. d must be valid.
func (d Doc) duty(at time.Time, loc *time.Location) Duty {
	var out Duty
	if len(d.Primary) > 0 {
		start, _ := time.ParseInLocation(Layout, d.Start, loc)
		if !at.Before(start) {
			n := int(at.Sub(start) / time.Duration(d.Shift))
			out.Primary = d.Primary[n%len(d.Primary)]
			switch {
			case len(d.Backup) > 0:
				out.Backup = d.Backup[n%len(d.Backup)]
			case len(d.Primary) > 1:
				out.Backup = d.Primary[(n+1)%len(d.Primary)]
			}
		}
	}
	for _, o := range d.Overrides {
		from, to := d.overrideSpan(o, loc)
		if at.Before(from) || !at.Before(to) {
			continue
		}
		if o.Primary != "" {
			out.Primary = o.Primary
		}
		if o.Backup != "" {
			out.Backup = o.Backup
		}
	}
	if out.Backup == out.Primary {
		out.Backup = ""
	}
	return out
}

// handover is the hand-over time of day.
func (d Doc) handover(loc *time.Location) time.Duration {
	start, err := time.ParseInLocation(Layout, d.Start, loc)
	if err != nil {
		return 0
	}
	y, m, dd := start.Date()
	return start.Sub(time.Date(y, m, dd, 0, 0, 0, 0, loc))
}

func (d Doc) overrideSpan(o Override, loc *time.Location) (from, to time.Time) {
	day, _ := time.ParseInLocation(DateLayout, o.Date, loc)
	h := d.handover(loc)
	y, m, dd := day.Date()
	return day.Add(h), time.Date(y, m, dd+1, 0, 0, 0, 0, loc).Add(h)
}

// changes lists the instants in (from, to] at which the duty may change,
// ascending.
func (d Doc) changes(from, to time.Time, loc *time.Location) []time.Time {
	var out []time.Time
	if len(d.Primary) > 0 {
		start, _ := time.ParseInLocation(Layout, d.Start, loc)
		shift := time.Duration(d.Shift)
		next := start
		if from.After(start) || from.Equal(start) {
			next = start.Add((from.Sub(start)/shift + 1) * shift)
		}
		for ; !next.After(to); next = next.Add(shift) {
			out = append(out, next)
		}
	}
	for _, o := range d.Overrides {
		a, b := d.overrideSpan(o, loc)
		for _, t := range []time.Time{a, b} {
			if t.After(from) && !t.After(to) {
				out = append(out, t)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}

// Store keeps the roster document (opaque JSON) in the database.
type Store interface {
	// Roster returns the stored document; bot.ErrNotFound if none.
	Roster(ctx context.Context) ([]byte, error)
	// SaveRoster replaces the document, recording who changed it.
	SaveRoster(ctx context.Context, doc []byte, by string) error
	// SeedRoster stores doc unless the stored roster was seeded from a
	// configuration with the same hash: an unchanged configuration keeps
	// run-time edits, a changed one replaces them.
	SeedRoster(ctx context.Context, doc []byte, hash string) (bool, error)
}

// Directory resolves user ids to people.
type Directory interface {
	Person(ctx context.Context, userID string) (*bot.Person, error)
	People(ctx context.Context, role bot.Role) ([]bot.Person, error)
}

// Roster is the on-call roster over the database. It implements bot.Roster.
type Roster struct {
	store Store
	dir   Directory
	loc   *time.Location
}

var _ bot.Roster = (*Roster)(nil)

// New returns a Roster whose times are local to loc.
func New(store Store, dir Directory, loc *time.Location) *Roster {
	if loc == nil {
		loc = time.UTC
	}
	return &Roster{store: store, dir: dir, loc: loc}
}

// Seed stores the configured roster (see Store.SeedRoster).
func (r *Roster) Seed(ctx context.Context, d Doc) (bool, error) {
	if err := d.Validate(r.loc); err != nil {
		return false, err
	}
	b, _ := json.Marshal(d)
	return r.store.SeedRoster(ctx, b, d.Hash())
}

// Doc returns the current roster; an empty Doc when none was ever stored.
func (r *Roster) Doc(ctx context.Context) (Doc, error) {
	b, err := r.store.Roster(ctx)
	if errors.Is(err, bot.ErrNotFound) {
		return Doc{}, nil
	}
	if err != nil {
		return Doc{}, err
	}
	var d Doc
	if err := json.Unmarshal(b, &d); err != nil {
		return Doc{}, fmt.Errorf("roster: stored document: %w", err)
	}
	return d, nil
}

// Replace validates and stores d (a run-time edit). Unlike Seed, it refuses
// a user id the directory does not know, or whose role does not fit the
// duty (only engineers on primary and backup duty, only a lead as lead): a
// mistyped name would otherwise become a silent gap, a nurse on duty a
// page nobody answers.
func (r *Roster) Replace(ctx context.Context, d Doc, by string) error {
	checks := []duty{{"lead", bot.RoleLead, []string{d.Lead}}, {"primary", bot.RoleEngineer, d.Primary},
		{"backup", bot.RoleEngineer, d.Backup}}
	for _, o := range d.Overrides {
		checks = append(checks, duty{"overrides.primary", bot.RoleEngineer, []string{o.Primary}},
			duty{"overrides.backup", bot.RoleEngineer, []string{o.Backup}})
	}
	if err := r.fits(ctx, checks...); err != nil {
		return err
	}
	return r.save(ctx, d, by)
}

// SetOverride adds or replaces the override for o.Date. Only the people it
// names are checked, so a holiday swap can still be set while someone
// else in the roster has left the directory.
func (r *Roster) SetOverride(ctx context.Context, o Override, by string) error {
	if err := r.fits(ctx, duty{"primary", bot.RoleEngineer, []string{o.Primary}}, duty{"backup", bot.RoleEngineer, []string{o.Backup}}); err != nil {
		return err
	}
	d, err := r.Doc(ctx)
	if err != nil {
		return err
	}
	d.Overrides = slices.DeleteFunc(d.Overrides, func(x Override) bool { return x.Date == o.Date })
	d.Overrides = append(d.Overrides, o)
	sort.Slice(d.Overrides, func(i, j int) bool { return d.Overrides[i].Date < d.Overrides[j].Date })
	return r.save(ctx, d, by)
}

// DeleteOverride removes the override for date; ErrInvalid for a malformed
// date, bot.ErrNotFound if there is none.
func (r *Roster) DeleteOverride(ctx context.Context, date, by string) error {
	if _, err := time.ParseInLocation(DateLayout, date, r.loc); err != nil {
		return invalid("date", "date", "override date %q is not like 2026-10-01", date)
	}
	d, err := r.Doc(ctx)
	if err != nil {
		return err
	}
	n := len(d.Overrides)
	d.Overrides = slices.DeleteFunc(d.Overrides, func(x Override) bool { return x.Date == date })
	if len(d.Overrides) == n {
		return fmt.Errorf("roster: no override for %s: %w", date, bot.ErrNotFound)
	}
	return r.save(ctx, d, by)
}

func (r *Roster) save(ctx context.Context, d Doc, by string) error {
	if err := d.Validate(r.loc); err != nil {
		return err
	}
	b, _ := json.Marshal(d)
	return r.store.SaveRoster(ctx, b, by)
}

// duty is a field of an edit and the role everyone it names must have.
type duty struct {
	field string
	role  bot.Role
	ids   []string
}

// fits checks that every non-empty id names a person in the directory
// (active or not: someone away is a gap, not a typo) with the duty's role.
func (r *Roster) fits(ctx context.Context, duties ...duty) error {
	for _, d := range duties {
		for _, id := range d.ids {
			if id == "" {
				continue
			}
			p, err := r.dir.Person(ctx, id)
			if errors.Is(err, bot.ErrNotFound) {
				return invalid(d.field, "known_person", "%s: unknown person %q", d.field, id)
			}
			if err != nil {
				return fmt.Errorf("roster: person %s: %w", id, err)
			}
			if p.Role != d.role {
				return invalid(d.field, "role_"+string(d.role), "%s: %q is a %s, not a %s", d.field, id, p.Role, d.role)
			}
		}
	}
	return nil
}

// OnCall returns who is on call at at. Primary is nil in a gap (nobody on
// duty, or that person unknown or inactive); Lead is nil only when no lead
// is known at all.
func (r *Roster) OnCall(ctx context.Context, at time.Time) (bot.OnCall, error) {
	d, err := r.Doc(ctx)
	if err != nil {
		return bot.OnCall{}, err
	}
	return r.resolve(ctx, d, d.duty(at, r.loc))
}

// Next returns the first change of duty after at and who is on call then;
// ok is false when the duty never changes within 60 days.
func (r *Roster) Next(ctx context.Context, at time.Time) (when time.Time, oc bot.OnCall, ok bool, err error) {
	d, err := r.Doc(ctx)
	if err != nil {
		return time.Time{}, bot.OnCall{}, false, err
	}
	now := d.duty(at, r.loc)
	for _, t := range d.changes(at, at.Add(60*24*time.Hour), r.loc) {
		if next := d.duty(t, r.loc); next != now {
			oc, err := r.resolve(ctx, d, next)
			return t, oc, err == nil, err
		}
	}
	return time.Time{}, bot.OnCall{}, false, nil
}

func (r *Roster) resolve(ctx context.Context, d Doc, duty Duty) (bot.OnCall, error) {
	var oc bot.OnCall
	var err error
	if oc.Primary, err = r.person(ctx, duty.Primary); err != nil {
		return oc, err
	}
	if oc.Backup, err = r.person(ctx, duty.Backup); err != nil {
		return oc, err
	}
	if oc.Lead, err = r.person(ctx, d.Lead); err != nil {
		return oc, err
	}
	if oc.Lead == nil {
		leads, err := r.dir.People(ctx, bot.RoleLead)
		if err != nil {
			return oc, fmt.Errorf("roster: leads: %w", err)
		}
		for i := range leads {
			if leads[i].Active {
				oc.Lead = &leads[i]
				break
			}
		}
	}
	return oc, nil
}

// person resolves an on-duty user id; unknown or inactive people are nil.
func (r *Roster) person(ctx context.Context, id string) (*bot.Person, error) {
	if id == "" {
		return nil, nil
	}
	p, err := r.dir.Person(ctx, id)
	if errors.Is(err, bot.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("roster: person %s: %w", id, err)
	}
	if !p.Active {
		return nil, nil
	}
	return p, nil
}
