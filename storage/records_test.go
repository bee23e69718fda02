package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage/storagetest"
)

func TestRecordLifecycle(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	var fed []bot.Committed
	db.Subscribe(func(_ context.Context, c bot.Committed) { fed = append(fed, c) })
	r, ev, err := bot.NewRecord(bot.Record{Kind: bot.KindInspection, Subject: "cis-db", Key: "k1",
		Fields: map[string]string{"content": "CPU 内存 磁盘"}}, "eng1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateRecord(ctx, r, bot.RecordEffects{Events: []bot.RecordEvent{ev},
		Messages: []bot.Outgoing{{Key: "rec-created", ToUsers: []string{"lead"}, Text: "巡检"}}}); err != nil {
		t.Fatal(err)
	}
	if r.No != "R20261126-0001" || r.Version != 1 || r.Status != bot.RecordOpen {
		t.Fatalf("created record: %+v", r)
	}
	// The key makes a second creation a conflict, not a second record.
	dup, ev2, _ := bot.NewRecord(bot.Record{Kind: bot.KindInspection, Key: "k1"}, "eng1", t0)
	if err := db.CreateRecord(ctx, dup, bot.RecordEffects{Events: []bot.RecordEvent{ev2}}); !errors.Is(err, bot.ErrConflict) {
		t.Fatalf("duplicate key: err = %v, want ErrConflict", err)
	}
	tk := create(t, db, t0)
	got, err := db.UpdateRecord(ctx, r.No, func(r *bot.Record, tl []bot.RecordEvent) (bot.RecordEffects, error) {
		if len(tl) != 1 {
			t.Errorf("timeline before update: %d events, want 1", len(tl))
		}
		evs, err := r.Step(bot.RecordChange{Kind: bot.RecordLinked, Actor: "eng1", At: t0, TicketNo: tk.No, Text: "disk"},
			bot.RecordChange{Kind: bot.RecordUpdated, Actor: "eng1", At: t0, Fields: map[string]string{"result": "1 项异常"}},
			bot.RecordChange{Kind: bot.RecordCompleted, Actor: "eng1", At: t0.Add(time.Minute)})
		return bot.RecordEffects{Events: evs}, err
	})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := db.Record(ctx, r.No)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, loaded); diff != "" {
		t.Errorf("loaded record differs (-updated +loaded):\n%s", diff)
	}
	if loaded.Status != bot.RecordDone || loaded.Fields["result"] != "1 项异常" || len(loaded.Tickets) != 1 || loaded.Version != 2 {
		t.Errorf("updated record: %+v", loaded)
	}
	// Linked both ways.
	back, err := db.TicketRecords(ctx, tk.No)
	if err != nil || len(back) != 1 || back[0].No != r.No {
		t.Errorf("TicketRecords(%s) = %v, %v", tk.No, back, err)
	}
	tl, err := db.RecordTimeline(ctx, r.No)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []bot.RecordEventKind
	for _, e := range tl {
		kinds = append(kinds, e.Kind)
	}
	if diff := cmp.Diff([]bot.RecordEventKind{bot.RecordCreated, bot.RecordLinked, bot.RecordUpdated, bot.RecordCompleted}, kinds); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	// A refused change stores nothing.
	if _, err := db.UpdateRecord(ctx, r.No, func(r *bot.Record, _ []bot.RecordEvent) (bot.RecordEffects, error) {
		evs, err := r.Step(bot.RecordChange{Kind: bot.RecordCompleted, Actor: "eng1", At: t0})
		return bot.RecordEffects{Events: evs}, err
	}); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("completing a done record: err = %v, want ErrInvalid", err)
	}
	list, err := db.Records(ctx, bot.RecordFilter{Kinds: []bot.RecordKind{bot.KindInspection}, Statuses: []bot.RecordStatus{bot.RecordDone},
		From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil || len(list) != 1 || list[0].Tickets[0] != tk.No {
		t.Errorf("Records = %v, %v", list, err)
	}
	if none, _ := db.Records(ctx, bot.RecordFilter{From: t0.Add(time.Hour)}); len(none) != 0 {
		t.Errorf("Records after the record's time = %d, want 0", len(none))
	}
	var recFeeds int
	for _, c := range fed {
		if c.Record != nil {
			recFeeds++
		}
	}
	if recFeeds != 2 {
		t.Errorf("feed got %d record writes, want 2", recFeeds)
	}
}
