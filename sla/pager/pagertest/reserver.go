package pagertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"weibao/sla/pager"
)

// TestReserver is the contract every pager.Reserver meets: the providers'
// per-number windows, the nightly cap across midnight, separate keys and
// cancellation. newReserver returns an empty one for each subtest.
func TestReserver(t *testing.T, newReserver func(t *testing.T) pager.Reserver) {
	ctx := context.Background()
	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, pager.Beijing)
	// Alibaba voice, per called number: 1/min, 5/hour, 20/24h.
	aliyun := pager.Limit{Rules: []pager.Rule{{Window: time.Minute, Max: 1}, {Window: time.Hour, Max: 5}, {Window: 24 * time.Hour, Max: 20}}}
	// Tencent voice: 1/30s, 2/10min, 3/day, 1 between 22:00 and 08:00.
	tencent := pager.Limit{
		Rules: []pager.Rule{{Window: 30 * time.Second, Max: 1}, {Window: 10 * time.Minute, Max: 2}, {Window: 24 * time.Hour, Max: 3}},
		Night: &pager.Night{From: 22 * time.Hour, To: 8 * time.Hour, Max: 1},
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		name  string
		limit pager.Limit
		sends []time.Time
		want  []bool
	}{
		{"unlimited", pager.Limit{}, []time.Time{t0, t0, t0}, []bool{true, true, true}},
		{"aliyun one per minute", aliyun, []time.Time{at(0), at(time.Second), at(59 * time.Second), at(60 * time.Second)}, []bool{true, false, false, true}},
		{"aliyun five per hour", aliyun,
			[]time.Time{at(0), at(time.Minute), at(2 * time.Minute), at(3 * time.Minute), at(4 * time.Minute), at(5 * time.Minute), at(59 * time.Minute), at(time.Hour)},
			[]bool{true, true, true, true, true, false, false, true}},
		{"tencent two per ten minutes", tencent,
			[]time.Time{at(0), at(30 * time.Second), at(60 * time.Second), at(10*time.Minute + time.Second)},
			[]bool{true, true, false, true}},
		{"tencent three per day", tencent,
			[]time.Time{at(0), at(time.Hour), at(2 * time.Hour), at(3 * time.Hour), at(24*time.Hour + time.Second)},
			[]bool{true, true, true, false, true}},
		{"tencent one per night across midnight", tencent,
			[]time.Time{at(12*time.Hour + 30*time.Minute), at(15 * time.Hour), at(20*time.Hour + 59*time.Minute), at(22 * time.Hour)},
			// 22:30 ok, 01:00 refused (same night), 06:59 refused, 08:00 day again.
			[]bool{true, false, false, true}},
		{"tencent night resets next night", tencent,
			[]time.Time{at(12*time.Hour + 30*time.Minute), at(36*time.Hour + 30*time.Minute)},
			[]bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReserver(t)
			for i, now := range tt.sends {
				_, err := r.Reserve(ctx, "k", tt.limit, now)
				if got := err == nil; got != tt.want[i] {
					t.Fatalf("send %d at %s: allowed = %v, want %v (err %v)", i, now.Format(time.TimeOnly), got, tt.want[i], err)
				}
				if err != nil && !errors.Is(err, pager.ErrRateLimited) {
					t.Fatalf("send %d: err = %v, want ErrRateLimited", i, err)
				}
			}
		})
	}
	t.Run("keys and cancel", func(t *testing.T) {
		r := newReserver(t)
		lim := pager.Limit{Rules: []pager.Rule{{Window: time.Minute, Max: 1}}}
		cancel, err := r.Reserve(ctx, "a", lim, t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Reserve(ctx, "b", lim, t0); err != nil {
			t.Fatalf("other key refused: %v", err)
		}
		if _, err := r.Reserve(ctx, "a", lim, t0.Add(time.Second)); !errors.Is(err, pager.ErrRateLimited) {
			t.Fatalf("second send: err = %v, want ErrRateLimited", err)
		}
		cancel()
		if _, err := r.Reserve(ctx, "a", lim, t0.Add(2*time.Second)); err != nil {
			t.Fatalf("after cancel: %v", err)
		}
	})
}
