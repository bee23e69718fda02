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

func apply(t *testing.T, db *storage.DB, no string, c bot.Change) {
	t.Helper()
	_, err := db.UpdateTicket(context.Background(), no, func(tk *bot.Ticket, _ []bot.Event) (bot.Effects, error) {
		ev, err := tk.Apply(c)
		return bot.Effects{Events: []bot.Event{ev}}, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReportAggregates pins the aggregates' definitions on both databases:
// nearest-rank percentiles, compliance by deadline, breaches, open-at.
func TestReportAggregates(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	day := time.Date(2026, 11, 25, 8, 0, 0, 0, storagetest.Shanghai)
	var nos []string
	// Ten tickets acknowledged after 1..10 minutes (ack due at 10), resolved
	// after 10..100 minutes (resolve due at 30) except the last, still open.
	for i := 1; i <= 10; i++ {
		at := day.Add(time.Duration(i) * time.Hour)
		tk := create(t, db, at)
		nos = append(nos, tk.No)
		apply(t, db, tk.No, bot.Change{Kind: bot.EventAcknowledged, Actor: "eng1", At: at.Add(time.Duration(i) * time.Minute)})
		if i < 10 {
			apply(t, db, tk.No, bot.Change{Kind: bot.EventResolved, Actor: "eng1", At: at.Add(time.Duration(i*10) * time.Minute),
				Cause: "c", Solution: []string{"重置密码", "清缓存"}[i%2]})
		}
	}
	span := bot.Span{From: day.Add(-8 * time.Hour), To: day.Add(16 * time.Hour)}
	asOf := span.To
	g, err := db.GroupStats(ctx, span, bot.DimCategory, asOf)
	if err != nil {
		t.Fatal(err)
	}
	want := []bot.GroupStats{{Key: "login", Count: 10, Resolved: 9,
		AckP50: 5 * time.Minute, AckP90: 9 * time.Minute, // ranks ⌈5⌉ and ⌈9⌉ of 1..10
		ResolveP50: 50 * time.Minute, ResolveP90: 90 * time.Minute, // ranks ⌈4.5⌉=5 and ⌈8.1⌉=9 of 10..90
		SLA: bot.Compliance{Ack: bot.ClockStats{Met: 10, Due: 10}, Resolve: bot.ClockStats{Met: 3, Due: 10}}}}
	if diff := cmp.Diff(want, g); diff != "" {
		t.Errorf("GroupStats (-want +got):\n%s", diff)
	}
	trend, err := db.SpanStats(ctx, []time.Time{span.From.AddDate(0, 0, -1), span.From, span.To}, asOf)
	if err != nil {
		t.Fatal(err)
	}
	if len(trend) != 2 || trend[0].Count != 0 || trend[1].Count != 10 || trend[1].SLA != want[0].SLA {
		t.Errorf("SpanStats = %+v", trend)
	}
	c, err := db.DueCompliance(ctx, span, asOf)
	if err != nil {
		t.Fatal(err)
	}
	if c != want[0].SLA {
		t.Errorf("DueCompliance = %+v, want %+v", c, want[0].SLA)
	}
	br, err := db.Breaches(ctx, span, asOf, 50)
	if err != nil {
		t.Fatal(err)
	}
	if len(br) != 7 || br[len(br)-1].TicketNo != nos[9] || !br[len(br)-1].Stop.IsZero() {
		t.Errorf("Breaches: %d, last %+v; want 7 with the open ticket last, still running", len(br), br[len(br)-1])
	}
	// At 12:30 tickets 1–4 had been reported and 1–3 resolved (4 was at 12:40).
	open, err := db.Counts(ctx, bot.CohortOpen, bot.Span{To: day.Add(4*time.Hour + 30*time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bot.Count{{WardCode: "med-icu", Priority: bot.P2, N: 1}}, open); diff != "" {
		t.Errorf("open at 12:30 (-want +got):\n%s", diff)
	}
	fixes, err := db.Fixes(ctx, span, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]bot.Fix{{Category: "login", Solution: "清缓存", N: 5}}, fixes); diff != "" {
		t.Errorf("Fixes (-want +got):\n%s", diff)
	}
	n := 0
	if err := db.EachTicket(ctx, span, func(*bot.Ticket) error { n++; return nil }); err != nil || n != 10 {
		t.Errorf("EachTicket streamed %d (%v), want 10", n, err)
	}
}
