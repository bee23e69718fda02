package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Values are plain strings with a TTL under a prefix: the access token
// cache, dedupe keys and first-come claims.
type Values struct {
	rdb    redis.UniversalClient
	prefix string
}

// Values keeps its keys under prefix ("" for keys named in full).
func (s *Store) Values(prefix string) *Values { return &Values{rdb: s.rdb, prefix: prefix} }

// Get returns the value at key; ok is false when there is none.
func (v *Values) Get(ctx context.Context, key string) (val string, ok bool, err error) {
	val, err = v.rdb.Get(ctx, v.prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("get %s: %w", key, err)
	}
	return val, true, nil
}

// Set stores val at key for ttl (0 keeps it until deleted).
func (v *Values) Set(ctx context.Context, key, val string, ttl time.Duration) error {
	if err := v.rdb.Set(ctx, v.prefix+key, val, ttl).Err(); err != nil {
		return fmt.Errorf("set %s: %w", key, err)
	}
	return nil
}

// SetNX stores val at key for ttl unless key exists, and reports whether it
// did: the first caller across replicas wins.
func (v *Values) SetNX(ctx context.Context, key, val string, ttl time.Duration) (bool, error) {
	ok, err := v.rdb.SetNX(ctx, v.prefix+key, val, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("setnx %s: %w", key, err)
	}
	return ok, nil
}

// Claim marks key for ttl and reports whether it was free: the first
// caller across replicas wins (escalation.Once's fast claim).
func (v *Values) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return v.SetNX(ctx, key, "1", ttl)
}

// ClaimAll is Claim for many keys in one round trip; first[i] tells whether
// keys[i] was free. Any error fails the whole call, since go-redis reports
// the commands of a failed pipeline as (false, nil), which would read as
// "already taken".
func (v *Values) ClaimAll(ctx context.Context, keys []string, ttl time.Duration) (first []bool, err error) {
	if len(keys) == 0 {
		return nil, nil
	}
	pipe := v.rdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.SetNX(ctx, v.prefix+k, "1", ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("claim %d keys: %w", len(keys), err)
	}
	first = make([]bool, len(keys))
	for i, c := range cmds {
		first[i] = c.Val()
	}
	return first, nil
}

// Exists reports whether key holds a value.
func (v *Values) Exists(ctx context.Context, key string) (bool, error) {
	n, err := v.rdb.Exists(ctx, v.prefix+key).Result()
	if err != nil {
		return false, fmt.Errorf("exists %s: %w", key, err)
	}
	return n > 0, nil
}

// Delete removes key.
func (v *Values) Delete(ctx context.Context, key string) error {
	if err := v.rdb.Del(ctx, v.prefix+key).Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}
