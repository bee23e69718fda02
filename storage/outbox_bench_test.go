package storage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"weibao/bot"
	"weibao/storage/storagetest"
)

// BenchmarkClaimWaiting is the outbox's claim with 30,000 rows waiting
// (leased or held for a day): "idle" finds nothing due, "batch"
// claims 100 due rows beside them. Neither should grow with the waiting rows.
func BenchmarkClaimWaiting(b *testing.B) {
	ctx := context.Background()
	db := storagetest.Open(b)
	queue := func(prefix string, n int) {
		for i := 0; i < n; i += 1000 {
			var msgs []bot.Outgoing
			for j := i; j < min(i+1000, n); j++ {
				msgs = append(msgs, bot.Outgoing{Key: fmt.Sprintf("%s/%d", prefix, j), TicketNo: fmt.Sprintf("F%d", j),
					Priority: bot.P3, ToUsers: []string{fmt.Sprintf("eng%d", j%50)}, Text: "工单通知"})
			}
			if err := db.Enqueue(ctx, msgs...); err != nil {
				b.Fatal(err)
			}
		}
	}
	queue("waiting", 30000)
	now := time.Now().Add(time.Second)
	ds, err := db.ClaimDeliveries(ctx, now, now.Add(24*time.Hour), 30000)
	if err != nil || len(ds) != 30000 {
		b.Fatalf("claimed %d, %v", len(ds), err)
	}
	b.Run("idle", func(b *testing.B) {
		for b.Loop() {
			if ds, err := db.ClaimDeliveries(ctx, now, now.Add(time.Minute), 100); err != nil || len(ds) != 0 {
				b.Fatalf("claimed %d, %v", len(ds), err)
			}
		}
	})
	queue("due", 100)
	now = time.Now().Add(time.Second)
	ds, err = db.ClaimDeliveries(ctx, now, now, 100)
	if err != nil || len(ds) != 100 {
		b.Fatalf("claimed %d, %v", len(ds), err)
	}
	for _, d := range ds {
		db.DeliveryHeld(ctx, d.ID, now.Add(time.Second), "due")
	}
	b.Run("batch", func(b *testing.B) {
		at := now.Add(2 * time.Second)
		for b.Loop() {
			if ds, err := db.ClaimDeliveries(ctx, at, at.Add(time.Minute), 100); err != nil || len(ds) != 100 {
				b.Fatalf("claimed %d, %v", len(ds), err)
			}
			b.StopTimer()
			if _, err := db.WakeDestination(ctx, "due", at); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}
