package redisstore_test

import (
	"context"
	"testing"
	"time"

	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
	"weibao/storage/redisstore/redistest"
)

func TestRateLog(t *testing.T) {
	pagertest.TestReserver(t, func(t *testing.T) pager.Reserver {
		st, _ := redistest.Open(t)
		return st.RateLog(redistest.Prefix())
	})
}

// TestRateLogAllow: a sliding minute of 3 sends; a refused send is not
// counted and learns when the oldest send leaves the window.
func TestRateLogAllow(t *testing.T) {
	ctx := context.Background()
	st, _ := redistest.Open(t)
	r := st.RateLog(redistest.Prefix())
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	steps := []struct {
		at   time.Duration
		want time.Duration
	}{
		{0, 0}, {10 * time.Second, 0}, {20 * time.Second, 0},
		{30 * time.Second, 30 * time.Second}, // the send at 0 leaves at 60 s
		{59 * time.Second, time.Second},
		{60 * time.Second, 0},               // the send at 0 no longer counts
		{61 * time.Second, 9 * time.Second}, // now the one at 10 s holds
		{70 * time.Second, 0},
	}
	for _, s := range steps {
		got, err := r.Allow(ctx, "dest", 3, time.Minute, t0.Add(s.at))
		if err != nil || got != s.want {
			t.Errorf("Allow at %s = %s, %v; want %s", s.at, got, err, s.want)
		}
	}
	if got, err := r.Allow(ctx, "other", 3, time.Minute, t0.Add(30*time.Second)); got != 0 || err != nil {
		t.Errorf("Allow for another key = %s, %v; want 0", got, err)
	}
}
