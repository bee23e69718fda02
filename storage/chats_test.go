package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage"
	"weibao/storage/storagetest"
)

func TestHeardChats(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	now := t0.Truncate(time.Second)
	msgs := []bot.Message{
		{ID: "m1", Channel: "robot", From: "nurse1", ChatID: "wrA", ChatType: bot.ChatGroup},
		{ID: "m2", Channel: "robot", From: "nurse2", ChatID: "wrB", ChatType: bot.ChatGroup},
		{ID: "m3", Channel: "robot", From: "eng1", ChatType: bot.ChatSingle}, // 1:1: no chat id
		{ID: "m4", Channel: "robot", From: "nurse3", ChatID: "wrA", ChatType: bot.ChatGroup},
	}
	for i, m := range msgs {
		m := m
		ev := bot.InboundEvent{ID: "robot:" + m.ID, Source: "robot", Payload: []byte(`{}`), Message: &m,
			ReceivedAt: now.Add(time.Duration(i) * time.Minute), Attempts: 1}
		if errs := db.AddInbound(ctx, now, ev); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	// A row stored before messages were kept is skipped, not an error.
	if errs := db.AddInbound(ctx, now, bot.InboundEvent{ID: "robot:old", Source: "robot", Payload: []byte(`{}`), ReceivedAt: now}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	got, err := db.HeardChats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.HeardChat{
		{ChatID: "wrA", ChatType: bot.ChatGroup, Channel: "robot", Messages: 2, LastAt: now.Add(3 * time.Minute), LastFrom: "nurse3"},
		{ChatID: "wrB", ChatType: bot.ChatGroup, Channel: "robot", Messages: 1, LastAt: now.Add(time.Minute), LastFrom: "nurse2"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HeardChats (-want +got):\n%s", diff)
	}
}
