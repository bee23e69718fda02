package departments_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/bot/departments"
	"weibao/storage"
	"weibao/storage/storagetest"
)

// fakeWeCom is a fake WeCom directory: members by department id, and an
// error for the departments in fail.
type fakeWeCom struct {
	members map[int][]bot.Person
	fail    map[int]error
}

func (d *fakeWeCom) DepartmentMembers(_ context.Context, id int) ([]bot.Person, error) {
	if err := d.fail[id]; err != nil {
		return nil, err
	}
	ms, ok := d.members[id]
	if !ok {
		return nil, fmt.Errorf("department %d: not visible", id)
	}
	return ms, nil
}

func member(id, name string) bot.Person { return bot.Person{UserID: id, Name: name} }

func nurse(id, name, ward string) bot.Person {
	return bot.Person{UserID: id, Name: name, Role: bot.RoleNurse, WardCode: ward, Active: true}
}

func TestSync(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	err := db.SyncDirectory(ctx, storage.DirectoryData{
		Wards: []bot.Ward{{Code: "med-icu", Name: "内科ICU", ChatID: "wr1"}, {Code: "picu", Name: "小儿ICU", ChatID: "wr2"}},
		People: []bot.Person{{UserID: "wang", Name: "王护士长", Role: bot.RoleNurse, WardCode: "picu", Mobile: "13800000009"},
			{UserID: "zhanggong", Name: "张工", Role: bot.RoleEngineer}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wecom := &fakeWeCom{members: map[int][]bot.Person{
		12: {member("li", "李护士"), member("wang", "王芳"), member("zhanggong", "张三")},
		13: {member("zhao", "赵护士"), member("li", "李护士")},
	}}
	s, err := departments.New(wecom, db, []departments.Ward{{Code: "med-icu", DepartmentID: 12}, {Code: "picu", DepartmentID: 13}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	roster := func() []bot.Person {
		t.Helper()
		ps, err := db.People(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	hand := []bot.Person{{UserID: "wang", Name: "王护士长", Role: bot.RoleNurse, WardCode: "picu", Mobile: "13800000009", Active: true},
		{UserID: "zhanggong", Name: "张工", Role: bot.RoleEngineer, Active: true}}

	// Members join as nurses of their department's ward (li, in both, of
	// the first); the hand-written wang and zhanggong stay as written.
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := []bot.Person{nurse("li", "李护士", "med-icu"), hand[0], hand[1], nurse("zhao", "赵护士", "picu")}
	if d := cmp.Diff(want, roster()); d != "" {
		t.Fatalf("after the first sync (-want +got):\n%s", d)
	}

	// One department cannot be read: nothing changes, zhao's leaving
	// included, and the error names the ward.
	wecom.members[13] = []bot.Person{member("li", "李护士")}
	wecom.fail = map[int]error{12: errors.New("wecom user/simplelist: errcode 60020: not allow to access from your ip")}
	if err := s.Sync(ctx); err == nil || !errors.Is(err, wecom.fail[12]) {
		t.Fatalf("Sync with a failing department: %v", err)
	}
	if d := cmp.Diff(want, roster()); d != "" {
		t.Errorf("a failed sync changed the roster (-want +got):\n%s", d)
	}

	// Read again: zhao left her department and is inactive; nobody
	// hand-written is.
	wecom.fail = nil
	if err := s.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want = []bot.Person{nurse("li", "李护士", "med-icu"), hand[0], hand[1]}
	if d := cmp.Diff(want, roster()); d != "" {
		t.Errorf("after zhao left (-want +got):\n%s", d)
	}
	if p, err := db.Person(ctx, "zhao"); err != nil || p.Active || p.WardCode != "picu" {
		t.Errorf("a leaver stays on record, inactive: %+v %v", p, err)
	}
}
