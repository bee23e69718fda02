package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"weibao/sla/pager"
)

// RateLog counts sends per key in Redis, so that all replicas count the same
// sends: a sorted set of send times per key, pruned, checked and appended by
// one script. Windows slide: a rule refuses a send while max sends lie
// strictly inside the last window. It is sla/pager's per-number limiter
// (Reserve) and the WeCom sender's per-destination limit (Allow).
type RateLog struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ pager.Reserver = (*RateLog)(nil)

// RateLog keeps its sets under prefix.
func (s *Store) RateLog(prefix string) *RateLog {
	return &RateLog{rdb: s.rdb, prefix: prefix}
}

// reserveScript: KEYS[1] the set; ARGV now (ms), horizon (ms), member, the
// number of rules, then window (ms) and max per rule, then the night's start
// (ms, -1 outside a night) and max. Returns {0, 0} when the send is
// recorded, {the 1-based rule that refused it, ms until that rule lets a
// send through}, or {-1, 0} for the nightly cap. Counts follow
// pager.Limiter: a rule counts sends strictly inside its window, a night
// counts sends since its start.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - horizon)
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  local window = tonumber(ARGV[5 + 2 * i])
  local max = tonumber(ARGV[6 + 2 * i])
  local since = '(' .. (now - window)
  local count = redis.call('ZCOUNT', KEYS[1], since, '+inf')
  if count >= max then
    local wait = window
    if max > 0 then
      -- The send fits once the oldest send that keeps count at max leaves.
      local s = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', count - max, 1)
      wait = tonumber(s[2]) + window - now
    end
    return {i + 1, wait}
  end
end
local night = tonumber(ARGV[5 + 2 * n])
if night >= 0 and redis.call('ZCOUNT', KEYS[1], night, '+inf') >= tonumber(ARGV[6 + 2 * n]) then
  return {-1, 0}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], horizon)
return {0, 0}
`)

// reserve records a send at key under lim unless a rule refuses it: then
// refused is the 1-based rule (-1 the nightly cap) and wait how long that
// rule holds.
func (r *RateLog) reserve(ctx context.Context, key string, lim pager.Limit, now time.Time) (member string, refused int, wait time.Duration, err error) {
	b := make([]byte, 6)
	rand.Read(b)
	member = strconv.FormatInt(now.UnixNano(), 10) + ":" + hex.EncodeToString(b)
	args := []any{now.UnixMilli(), lim.Horizon().Milliseconds(), member, len(lim.Rules)}
	for _, rule := range lim.Rules {
		args = append(args, rule.Window.Milliseconds(), rule.Max)
	}
	night, nightMax := int64(-1), 0
	if n := lim.Night; n != nil {
		if start, ok := n.Start(now); ok {
			night, nightMax = start.UnixMilli(), n.Max
		}
	}
	args = append(args, night, nightMax)
	res, err := reserveScript.Run(ctx, r.rdb, []string{r.prefix + key}, args...).Int64Slice()
	if err != nil {
		return "", 0, 0, fmt.Errorf("rate limit %s: %w", key, err)
	}
	if len(res) != 2 {
		return "", 0, 0, fmt.Errorf("rate limit %s: script returned %v", key, res)
	}
	return member, int(res[0]), time.Duration(res[1]) * time.Millisecond, nil
}

// Reserve implements pager.Reserver.
func (r *RateLog) Reserve(ctx context.Context, key string, lim pager.Limit, now time.Time) (func(), error) {
	if lim.Horizon() == 0 {
		return func() {}, nil
	}
	member, refused, _, err := r.reserve(ctx, key, lim, now)
	switch {
	case err != nil:
		return nil, err
	case refused > 0:
		rule := lim.Rules[refused-1]
		return nil, fmt.Errorf("%w: %d per %s", pager.ErrRateLimited, rule.Max, rule.Window)
	case refused < 0:
		return nil, fmt.Errorf("%w: %d per night", pager.ErrRateLimited, lim.Night.Max)
	}
	return func() {
		// The send never reached the provider: give the slot back.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		r.rdb.ZRem(ctx, r.prefix+key, member)
	}, nil
}

// Allow records one send at key unless limit sends were recorded in the
// last window; then it records nothing and returns how long until one fits.
// The wait is zero when the send was recorded.
func (r *RateLog) Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (time.Duration, error) {
	_, refused, wait, err := r.reserve(ctx, key, pager.Limit{Rules: []pager.Rule{{Window: window, Max: limit}}}, now)
	if err != nil || refused == 0 {
		return 0, err
	}
	return max(wait, time.Millisecond), nil
}
