package storage_test

import (
	"context"
	"testing"
	"time"

	"weibao/bot"
	"weibao/storage/storagetest"
)

// Providers push a receipt until it is answered: the store keeps one row per
// (provider, call, status, digits), so a redelivery is neither lost nor doubled.
func TestAddReceiptsDeduplicates(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	at := time.Date(2026, 11, 26, 3, 0, 40, 0, time.UTC)
	press := bot.PageReceipt{Provider: "aliyun", CallID: "c1", PageRef: "p1", Status: "keypress", Digits: "1", At: at, ReceivedAt: at}
	answered := press
	answered.Status, answered.Digits = "answered", ""
	for _, batch := range [][]bot.PageReceipt{{press}, {press, answered}, {answered}} {
		if err := db.AddReceipts(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.PendingReceipts(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Status != "keypress" || got[1].Status != "answered" {
		t.Errorf("stored receipts %+v, want one key press and one answered", got)
	}
}
