package pager

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Beijing is mainland China time; providers count nightly caps in it. A
// fixed zone needs no tzdata and China has no daylight saving.
var Beijing = time.FixedZone("CST", 8*60*60)

// Rule allows at most Max sends to one number within any Window.
type Rule struct {
	Window time.Duration `yaml:"window"`
	Max    int           `yaml:"max"`
}

// Night caps sends during a nightly period in Beijing time, such as
// Tencent's one voice call between 22:00 and 08:00.
type Night struct {
	From time.Duration `yaml:"from"` // since midnight, e.g. 22h
	To   time.Duration `yaml:"to"`   // since midnight, e.g. 8h
	Max  int           `yaml:"max"`
}

// Limit is a provider's per-number flow control for one channel. The zero
// Limit is unlimited.
type Limit struct {
	Rules []Rule `yaml:"rules"`
	Night *Night `yaml:"night"`
}

// Horizon is how far back a send still counts against l.
func (l Limit) Horizon() time.Duration {
	h := time.Duration(0)
	for _, r := range l.Rules {
		h = max(h, r.Window)
	}
	if l.Night != nil {
		h = max(h, 24*time.Hour)
	}
	return h
}

// Reserver records a send for key at now if lim allows it. Cancel gives the
// slot back when the send was abandoned before reaching the provider. A
// refusal wraps ErrRateLimited.
type Reserver interface {
	Reserve(ctx context.Context, key string, lim Limit, now time.Time) (cancel func(), err error)
}

// Limiter enforces Limits per key with a sliding log of send times, which
// is never looser than the providers' windows "counted from the first
// call". It is in-process: each replica counts its own sends, so replicas
// share a Redis-backed Reserver instead (storage/redisstore).
type Limiter struct {
	mu   sync.Mutex
	sent map[string][]time.Time // ascending
}

// NewLimiter returns an empty Limiter.
func NewLimiter() *Limiter {
	return &Limiter{sent: make(map[string][]time.Time)}
}

// Reserve implements Reserver.
func (l *Limiter) Reserve(_ context.Context, key string, lim Limit, now time.Time) (cancel func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()

	h := lim.Horizon()
	if h == 0 {
		return func() {}, nil
	}
	times := l.sent[key]
	cut := 0
	for cut < len(times) && !times[cut].After(now.Add(-h)) {
		cut++
	}
	times = times[cut:]

	for _, r := range lim.Rules {
		if countSince(times, now.Add(-r.Window)) >= r.Max {
			l.store(key, times)
			return nil, fmt.Errorf("%w: %d per %s", ErrRateLimited, r.Max, r.Window)
		}
	}
	if n := lim.Night; n != nil {
		if start, ok := n.Start(now); ok && countSince(times, start.Add(-time.Nanosecond)) >= n.Max {
			l.store(key, times)
			return nil, fmt.Errorf("%w: %d per night", ErrRateLimited, n.Max)
		}
	}
	l.store(key, append(times, now))
	return func() { l.release(key, now) }, nil
}

func (l *Limiter) store(key string, times []time.Time) {
	if len(times) == 0 {
		delete(l.sent, key)
		return
	}
	l.sent[key] = times
}

func (l *Limiter) release(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	times := l.sent[key]
	for i := len(times) - 1; i >= 0; i-- {
		if times[i].Equal(at) {
			l.store(key, slices.Delete(times, i, i+1))
			return
		}
	}
}

// countSince counts times strictly after t.
func countSince(times []time.Time, t time.Time) int {
	n := 0
	for i := len(times) - 1; i >= 0 && times[i].After(t); i-- {
		n++
	}
	return n
}

// Start returns when the night containing now began, if now is in one.
func (n Night) Start(now time.Time) (time.Time, bool) {
	local := now.In(Beijing)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, Beijing)
	tod := local.Sub(midnight)
	switch {
	case n.From <= n.To: // same-day period
		return midnight.Add(n.From), tod >= n.From && tod < n.To
	case tod >= n.From:
		return midnight.Add(n.From), true
	case tod < n.To:
		return midnight.Add(-24 * time.Hour).Add(n.From), true
	}
	return time.Time{}, false
}
