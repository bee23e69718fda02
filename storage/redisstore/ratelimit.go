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

// RateLog is sla/pager's per-number send limiter kept in Redis, so that all
// replicas count the same sends to an engineer's phone: a sorted set of send
// times per key, pruned, checked and appended by one script.
type RateLog struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ pager.Reserver = (*RateLog)(nil)

// NewRateLog keeps its sets under prefix.
func NewRateLog(rdb redis.UniversalClient, prefix string) *RateLog {
	return &RateLog{rdb: rdb, prefix: prefix}
}

// reserveScript: KEYS[1] the set; ARGV now (ms), horizon (ms), member, the
// number of rules, then window (ms) and max per rule, then the night's start
// (ms, -1 outside a night) and max. Returns 0 when the send is recorded, the
// 1-based rule that refused it, or -1 for the nightly cap. Counts follow
// pager.Limiter: a rule counts sends strictly inside its window, a night
// counts sends since its start.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local horizon = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - horizon)
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  local window = tonumber(ARGV[5 + 2 * i])
  if redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), '+inf') >= tonumber(ARGV[6 + 2 * i]) then
    return i + 1
  end
end
local night = tonumber(ARGV[5 + 2 * n])
if night >= 0 and redis.call('ZCOUNT', KEYS[1], night, '+inf') >= tonumber(ARGV[6 + 2 * n]) then
  return -1
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], horizon)
return 0
`)

// Reserve implements pager.Reserver.
func (r *RateLog) Reserve(ctx context.Context, key string, lim pager.Limit, now time.Time) (func(), error) {
	h := lim.Horizon()
	if h == 0 {
		return func() {}, nil
	}
	b := make([]byte, 6)
	rand.Read(b)
	member := strconv.FormatInt(now.UnixNano(), 10) + ":" + hex.EncodeToString(b)
	args := []any{now.UnixMilli(), h.Milliseconds(), member, len(lim.Rules)}
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
	k := r.prefix + key
	res, err := reserveScript.Run(ctx, r.rdb, []string{k}, args...).Int()
	switch {
	case err != nil:
		return nil, fmt.Errorf("rate limit %s: %w", key, err)
	case res > 0:
		rule := lim.Rules[res-1]
		return nil, fmt.Errorf("%w: %d per %s", pager.ErrRateLimited, rule.Max, rule.Window)
	case res < 0:
		return nil, fmt.Errorf("%w: %d per night", pager.ErrRateLimited, lim.Night.Max)
	}
	return func() {
		// The send never reached the provider: give the slot back.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		r.rdb.ZRem(ctx, k, member)
	}, nil
}
