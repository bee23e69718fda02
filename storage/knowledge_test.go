package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"weibao/bot"
	"weibao/storage/storagetest"
)

func propose(t *testing.T, db interface {
	ProposeEntry(context.Context, *bot.KBEntry, func(*bot.KBEntry) []bot.Outgoing) (bool, error)
}, e bot.KBEntry) bot.KBEntry {
	t.Helper()
	e.Status, e.ProposedAt = bot.KBProposed, t0
	if e.Category == "" {
		e.Category = "login"
	}
	ok, err := db.ProposeEntry(context.Background(), &e, func(e *bot.KBEntry) []bot.Outgoing {
		return []bot.Outgoing{{Key: "kb/" + e.TicketNo, ToUsers: []string{"eng1"}, Text: fmt.Sprint("#", e.ID)}}
	})
	if err != nil || !ok {
		t.Fatalf("propose %s: %v %v", e.TicketNo, ok, err)
	}
	return e
}

// TestKnowledgeSearch: one entry per ticket; only approved entries are
// found; every word must match (a LIKE wildcard in a word is a literal);
// FAQ and review-age filters; an edit races on the version.
func TestKnowledgeSearch(t *testing.T) {
	db := storagetest.Open(t)
	ctx := context.Background()
	a := propose(t, db, bot.KBEntry{TicketNo: "F20261126-0001", Symptom: "护士站电脑登不上重症系统", Cause: "浏览器缓存损坏", Fix: "清除缓存后重新登录"})
	b := propose(t, db, bot.KBEntry{TicketNo: "F20261126-0002", Symptom: "监护仪数据不显示", Cause: "接口服务停止", Fix: "重启接口服务 100%恢复"})
	propose(t, db, bot.KBEntry{TicketNo: "F20261126-0003", Symptom: "打印机卡纸", Cause: "纸张受潮", Fix: "更换纸张"})
	// Proposed twice: nothing new stored, nothing queued.
	again := bot.KBEntry{TicketNo: "F20261126-0001", Category: "login", Symptom: "x", Cause: "y", Fix: "z", Status: bot.KBProposed, ProposedAt: t0}
	if ok, err := db.ProposeEntry(ctx, &again, func(*bot.KBEntry) []bot.Outgoing { t.Error("messages built for a duplicate"); return nil }); ok || err != nil {
		t.Errorf("second proposal = %v, %v; want false, nil", ok, err)
	}
	// Bad input changes nothing.
	bad := bot.KBEntry{TicketNo: "F20261126-0009", Category: "login", Symptom: " ", Cause: "c", Fix: "f", Status: bot.KBProposed}
	if _, err := db.ProposeEntry(ctx, &bad, func(*bot.KBEntry) []bot.Outgoing { return nil }); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("empty symptom: %v, want ErrInvalid", err)
	}

	search := func(words ...string) []int64 {
		es, err := db.SearchEntries(ctx, words, bot.KBFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, e := range es {
			ids = append(ids, e.ID)
		}
		return ids
	}
	if got := search("缓存"); len(got) != 0 {
		t.Errorf("proposed entries found: %v", got)
	}
	approve := func(id int64, at time.Time) {
		t.Helper()
		if _, err := db.UpdateEntry(ctx, id, func(e *bot.KBEntry) ([]bot.Outgoing, error) {
			e.Status, e.ReviewedAt, e.ReviewedBy = bot.KBApproved, at, "eng1"
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	approve(a.ID, t0)
	approve(b.ID, t0.AddDate(0, 7, 0))
	for _, tt := range []struct {
		words []string
		want  []int64
	}{
		{[]string{"缓存"}, []int64{a.ID}},
		{[]string{"登不上", "缓存"}, []int64{a.ID}},
		{[]string{"登不上", "接口"}, nil},
		{[]string{"接口"}, []int64{b.ID}},
		{[]string{"100%"}, []int64{b.ID}},
		{[]string{"%"}, []int64{b.ID}},
		{[]string{"_"}, nil},
		{[]string{"卡纸"}, nil}, // not approved
	} {
		if got := search(tt.words...); fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("search %q = %v, want %v", tt.words, got, tt.want)
		}
	}
	stale, err := db.Entries(ctx, bot.KBFilter{Status: bot.KBApproved, ReviewedBefore: t0.AddDate(0, 6, 0)})
	if err != nil || len(stale) != 1 || stale[0].ID != a.ID {
		t.Errorf("stale entries %v %v, want only #%d", stale, err, a.ID)
	}
	if _, err := db.UpdateEntry(ctx, a.ID, func(e *bot.KBEntry) ([]bot.Outgoing, error) { e.FAQ = true; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	faq, err := db.Entries(ctx, bot.KBFilter{FAQ: true})
	if err != nil || len(faq) != 1 || faq[0].ID != a.ID {
		t.Errorf("faq entries %v %v", faq, err)
	}
	if _, err := db.Entry(ctx, 99999); !errors.Is(err, bot.ErrNotFound) {
		t.Errorf("unknown entry: %v", err)
	}
	// An edit that fails validation stores nothing.
	if _, err := db.UpdateEntry(ctx, a.ID, func(e *bot.KBEntry) ([]bot.Outgoing, error) { e.Fix = ""; return nil, nil }); !errors.Is(err, bot.ErrInvalid) {
		t.Errorf("emptied fix: %v, want ErrInvalid", err)
	}
	if got, _ := db.Entry(ctx, a.ID); got.Fix != "清除缓存后重新登录" || got.Version != 3 {
		t.Errorf("entry after a refused edit %+v", got)
	}
}
