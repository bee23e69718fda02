package roster_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/bot/roster"
	"weibao/catalog"
	"weibao/storage"
	"weibao/storage/storagetest"
)

var loc = storagetest.Shanghai

func at(s string) time.Time {
	t, err := time.ParseInLocation(roster.Layout, s, loc)
	if err != nil {
		panic(err)
	}
	return t
}

func open(t *testing.T, people ...bot.Person) (*roster.Roster, *storage.DB) {
	t.Helper()
	db := storagetest.Open(t)
	if err := db.SyncDirectory(context.Background(), storage.DirectoryData{People: people}); err != nil {
		t.Fatal(err)
	}
	return roster.New(db, db, loc), db
}

var staff = []bot.Person{
	{UserID: "a", Name: "甲", Role: bot.RoleEngineer}, {UserID: "b", Name: "乙", Role: bot.RoleEngineer},
	{UserID: "c", Name: "丙", Role: bot.RoleEngineer}, {UserID: "lead", Name: "李", Role: bot.RoleLead},
}

func TestOnCall(t *testing.T) {
	r, _ := open(t, staff...)
	ctx := context.Background()
	doc := roster.Doc{Start: "2026-11-23 09:00", Shift: roster.Duration(168 * time.Hour), Primary: []string{"a", "b", "c"},
		Overrides: []roster.Override{{Date: "2026-12-31", Primary: "a"}, {Date: "2026-12-09", Primary: "gone"}}}
	// Seeded, as from a configuration: Replace refuses people it does not know.
	if _, err := r.Seed(ctx, doc); err != nil {
		t.Fatal(err)
	}
	id := func(p *bot.Person) string {
		if p == nil {
			return ""
		}
		return p.UserID
	}
	tests := []struct {
		at                    string
		primary, backup, lead string
	}{
		{"2026-11-23 08:59", "", "", "lead"},   // before the first shift: a gap, the lead stands in
		{"2026-11-23 09:00", "a", "b", "lead"}, // hand-over time
		{"2026-11-30 08:59", "a", "b", "lead"}, // still week 1
		{"2026-11-30 09:00", "b", "c", "lead"}, // week 2
		{"2026-12-07 09:00", "c", "a", "lead"}, // week 3, backup wraps
		{"2026-12-09 10:00", "", "a", "lead"},  // override to an unknown person: a gap
		{"2026-12-14 09:00", "a", "b", "lead"}, // rotation wraps
		{"2026-12-31 08:00", "c", "a", "lead"}, // override starts at the day's hand-over
		{"2026-12-31 09:00", "a", "", "lead"},  // backup equal to primary is dropped
		{"2027-01-01 09:00", "c", "a", "lead"}, // and ends at the next
	}
	for _, tt := range tests {
		oc, err := r.OnCall(ctx, at(tt.at))
		if err != nil {
			t.Fatal(err)
		}
		got := []string{id(oc.Primary), id(oc.Backup), id(oc.Lead)}
		if diff := cmp.Diff([]string{tt.primary, tt.backup, tt.lead}, got); diff != "" {
			t.Errorf("OnCall(%s) (-want +got):\n%s", tt.at, diff)
		}
	}
	when, next, ok, err := r.Next(ctx, at("2026-11-24 12:00"))
	if err != nil || !ok || !when.Equal(at("2026-11-30 09:00")) || id(next.Primary) != "b" {
		t.Errorf("Next = %v %v %v %v", when, id(next.Primary), ok, err)
	}
}

func TestSeedKeepsEditsUntilConfigChanges(t *testing.T) {
	r, _ := open(t, staff...)
	ctx := context.Background()
	cfg := roster.Doc{Lead: "lead", Start: "2026-11-23 09:00", Shift: roster.Duration(24 * time.Hour), Primary: []string{"a"}}
	if wrote, err := r.Seed(ctx, cfg); err != nil || !wrote {
		t.Fatalf("first seed: %v %v", wrote, err)
	}
	if err := r.SetOverride(ctx, roster.Override{Date: "2026-11-25", Primary: "b"}, "admin"); err != nil {
		t.Fatal(err)
	}
	if wrote, _ := r.Seed(ctx, cfg); wrote {
		t.Error("unchanged configuration overwrote a run-time edit")
	}
	cfg.Primary = []string{"c"}
	if wrote, _ := r.Seed(ctx, cfg); !wrote {
		t.Error("changed configuration was not applied")
	}
	d, _ := r.Doc(ctx)
	if diff := cmp.Diff(cfg, d); diff != "" {
		t.Errorf("roster (-want +got):\n%s", diff)
	}
	if err := r.Replace(ctx, roster.Doc{Primary: []string{"a"}, Start: "soon", Shift: roster.Duration(time.Hour)}, "admin"); err == nil {
		t.Error("invalid roster accepted")
	}
	if err := r.Replace(ctx, roster.Doc{Primary: []string{"a", "gone"}, Start: "2026-11-23 09:00", Shift: roster.Duration(time.Hour)},
		"admin"); !errors.Is(err, roster.ErrInvalid) {
		t.Errorf("Replace with an unknown person = %v, want ErrInvalid", err)
	}
	if err := r.SetOverride(ctx, roster.Override{Date: "2026-11-26", Backup: "gone"}, "admin"); !errors.Is(err, roster.ErrInvalid) {
		t.Errorf("SetOverride with an unknown person = %v, want ErrInvalid", err)
	}
	if d2, _ := r.Doc(ctx); !cmp.Equal(d, d2) {
		t.Errorf("refused edits changed the roster: %+v", d2)
	}
}

func TestNotices(t *testing.T) {
	r, _ := open(t, staff...)
	ctx := context.Background()
	doc := roster.Doc{Lead: "lead", Start: "2026-11-23 09:00", Shift: roster.Duration(168 * time.Hour), Primary: []string{"a", "b"},
		Overrides: []roster.Override{{Date: "2026-12-02", Primary: "gone"}}}
	if _, err := r.Seed(ctx, doc); err != nil {
		t.Fatal(err)
	}
	keys := func(now string) []string {
		msgs, err := r.Notices(ctx, at(now), time.Hour, 24*time.Hour, catalog.Default())
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, m.Key+" "+m.ToUsers[0])
		}
		return out
	}
	handover := at("2026-11-30 09:00").Unix()
	gap := at("2026-12-02 09:00").Unix()
	tests := []struct {
		now  string
		want []string
	}{
		{"2026-11-30 08:30", nil},
		{"2026-11-30 09:10", []string{key("handover", handover, "a"), key("handover", handover, "b")}},
		{"2026-11-30 10:30", nil},
		{"2026-12-01 10:00", []string{key("gap", gap, "lead")}},
		{"2026-12-02 15:00", []string{key("gap", gap, "lead")}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, keys(tt.now)); diff != "" {
			t.Errorf("Notices(%s) (-want +got):\n%s", tt.now, diff)
		}
	}
}

// TestRunNotices checks the loop queues the notices due at once and logs a
// failed enqueue; each case stops the loop from inside, so no minute passes.
func TestRunNotices(t *testing.T) {
	r, _ := open(t, staff...)
	doc := roster.Doc{Lead: "lead", Start: "2026-11-23 09:00", Shift: roster.Duration(168 * time.Hour), Primary: []string{"a", "b"}}
	if _, err := r.Seed(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return at("2026-11-30 09:10") }
	handover := at("2026-11-30 09:00").Unix()

	t.Run("queues", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var got []string
		enqueue := func(_ context.Context, msgs ...bot.Outgoing) error {
			for _, m := range msgs {
				got = append(got, m.Key+" "+m.ToUsers[0])
			}
			cancel()
			return nil
		}
		if err := r.RunNotices(ctx, now, catalog.Default(), enqueue, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{key("handover", handover, "a"), key("handover", handover, "b")}, got); diff != "" {
			t.Errorf("queued (-want +got):\n%s", diff)
		}
	})
	t.Run("logs a failure", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		w := &cancelWriter{cancel: cancel}
		enqueue := func(context.Context, ...bot.Outgoing) error { return errors.New("outbox down") }
		if err := r.RunNotices(ctx, now, catalog.Default(), enqueue, slog.New(slog.NewTextHandler(w, nil))); err != nil {
			t.Fatal(err)
		}
		if got := w.buf.String(); !strings.Contains(got, "roster notices") || !strings.Contains(got, "outbox down") {
			t.Errorf("log = %q, want the failure", got)
		}
	})
}

// cancelWriter ends the loop under test once it has logged.
type cancelWriter struct {
	buf    bytes.Buffer
	cancel func()
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	defer w.cancel()
	return w.buf.Write(p)
}

func key(kind string, unix int64, user string) string {
	return "oncall/" + kind + "/" + strconv.FormatInt(unix, 10) + "/" + user + " " + user
}
