package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage"
	"weibao/storage/storagetest"
)

// TestSyncDepartmentPeople: WeCom's department members join as nurses,
// leavers become inactive, hand-written people stay as written whatever
// WeCom says, and the configuration's own sync leaves WeCom people alone.
func TestSyncDepartmentPeople(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	config := storage.DirectoryData{
		Wards: []bot.Ward{{Code: "med-icu", Name: "内科ICU", ChatID: "wr1"}, {Code: "picu", Name: "小儿ICU"}},
		People: []bot.Person{{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu", Mobile: "13800000009"},
			{UserID: "eng1", Name: "张工", Role: bot.RoleEngineer, Mobile: "13800000001"}},
		Categories: []bot.Category{{Code: "other", Name: "其他", Type: bot.TypeSoftware, Difficulty: bot.DifficultyOther}},
	}
	if err := db.SyncDirectory(ctx, config); err != nil {
		t.Fatal(err)
	}
	nurse := func(id, name, ward string) bot.Person {
		return bot.Person{UserID: id, Name: name, Role: bot.RoleNurse, WardCode: ward}
	}
	sync := func(wantJoined, wantLeft int, people ...bot.Person) {
		t.Helper()
		joined, left, err := db.SyncDepartmentPeople(ctx, people)
		if err != nil {
			t.Fatal(err)
		}
		if joined != wantJoined || left != wantLeft {
			t.Errorf("joined, left = %d, %d, want %d, %d", joined, left, wantJoined, wantLeft)
		}
	}
	check := func(want ...bot.Person) {
		t.Helper()
		got, err := db.People(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("active people (-want +got):\n%s", d)
		}
	}
	active := func(p bot.Person) bot.Person { p.Active = true; return p }
	eng1 := active(config.People[1])
	nurse1 := active(config.People[0])

	// WeCom names nurse1 (hand-written) under another name and ward, and
	// an engineer as a member of a ward's department: both stay as written.
	sync(2, 0, nurse("li", "李护士", "med-icu"), nurse("zhao", "赵护士", "picu"),
		nurse("nurse1", "王某", "picu"), nurse("eng1", "张工", "picu"))
	check(eng1, active(nurse("li", "李护士", "med-icu")), nurse1, active(nurse("zhao", "赵护士", "picu")))

	// zhao left her department; li moved ward. A second run of the same
	// list changes nothing.
	sync(0, 1, nurse("li", "李护士", "picu"), nurse("nurse1", "王某", "picu"))
	sync(0, 0, nurse("li", "李护士", "picu"), nurse("nurse1", "王某", "picu"))
	check(eng1, active(nurse("li", "李护士", "picu")), nurse1)
	if p, err := db.Person(ctx, "zhao"); err != nil || p.Active {
		t.Errorf("a leaver stays on record, inactive: %+v %v", p, err)
	}

	// Restart: the configuration's sync keeps WeCom's li; nurse1, no
	// longer written in it, becomes inactive and WeCom's next read takes
	// her over as a nurse of its ward.
	config.People = config.People[1:]
	if err := db.SyncDirectory(ctx, config); err != nil {
		t.Fatal(err)
	}
	check(eng1, active(nurse("li", "李护士", "picu")))
	sync(1, 0, nurse("li", "李护士", "picu"), nurse("nurse1", "王某", "picu"))
	check(eng1, active(nurse("li", "李护士", "picu")), active(nurse("nurse1", "王某", "picu")))

	// An empty department list (no ward names one any more) lets every
	// WeCom person go, never a hand-written one.
	sync(0, 2)
	check(eng1)
}

// TestPeopleSourceMigration: people stored before 0008_people_source were
// all hand-written, so WeCom's sync never deactivates them.
func TestPeopleSourceMigration(t *testing.T) {
	ctx := context.Background()
	driver, dsn := storagetest.DSN(t)
	db, err := storage.Open(ctx, driver, dsn, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SyncDirectory(ctx, storage.DirectoryData{People: []bot.Person{{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse}}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"ALTER TABLE people DROP COLUMN source", "DELETE FROM schema_migrations WHERE id = '0008_people_source'"} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()
	if db, err = storage.Open(ctx, driver, dsn, storage.Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, left, err := db.SyncDepartmentPeople(ctx, nil); err != nil || left != 0 {
		t.Fatalf("SyncDepartmentPeople: left %d, %v", left, err)
	}
	if p, err := db.Person(ctx, "nurse1"); err != nil || !p.Active {
		t.Errorf("a person from before the migration: %+v %v", p, err)
	}
}

// TestDirectoryCacheFollowsChanges: lookups are cached (an unknown sender
// too), and a change made through the directory's writers is seen at once.
func TestDirectoryCacheFollowsChanges(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	d := storage.DirectoryData{Wards: []bot.Ward{{Code: "med-icu", Name: "内科ICU", ChatID: "wr1"}},
		People: []bot.Person{{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu"}}}
	if err := db.SyncDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Person(ctx, "nurse2"); !errors.Is(err, bot.ErrNotFound) {
		t.Fatalf("unknown person: %v", err)
	}
	if w, err := db.WardByChat(ctx, "wr1"); err != nil || w.Code != "med-icu" {
		t.Fatalf("WardByChat = %+v, %v", w, err)
	}
	d.Wards[0].ChatID = "wr9"
	d.People = append(d.People, bot.Person{UserID: "nurse2", Name: "李护士", Role: bot.RoleNurse, WardCode: "med-icu"})
	if err := db.SyncDirectory(ctx, d); err != nil {
		t.Fatal(err)
	}
	if p, err := db.Person(ctx, "nurse2"); err != nil || p.Name != "李护士" {
		t.Errorf("person added by the sync = %+v, %v", p, err)
	}
	if _, err := db.WardByChat(ctx, "wr1"); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("group moved away still maps: %v", err)
	}
	if ws, err := db.Wards(ctx); err != nil || len(ws) != 1 || ws[0].ChatID != "wr9" {
		t.Errorf("Wards = %+v, %v", ws, err)
	}
	if ps, _ := db.People(ctx, bot.RoleNurse); len(ps) != 2 {
		t.Errorf("nurses = %+v, want 2", ps)
	}
}
