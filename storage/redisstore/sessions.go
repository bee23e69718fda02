package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sessions keeps short-lived conversation state (opaque bytes with a TTL),
// per-key locks, and due-time sets for sweeps. Everything here can be lost
// without losing a ticket: a lost dialogue is asked again.
type Sessions struct {
	st     *Store
	prefix string
}

// Sessions uses keys under prefix (e.g. "weibao:conv:").
func (s *Store) Sessions(prefix string) *Sessions {
	return &Sessions{st: s, prefix: prefix}
}

// ErrLocked means a lock stayed busy for the whole wait.
var ErrLocked = errors.New("redisstore: lock busy")

// Load returns the value at key, or nil when there is none.
func (s *Sessions) Load(ctx context.Context, key string) ([]byte, error) {
	b, err := s.st.rdb.Get(ctx, s.prefix+"v:"+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", key, err)
	}
	return b, nil
}

// Save stores val at key for ttl.
func (s *Sessions) Save(ctx context.Context, key string, val []byte, ttl time.Duration) error {
	if err := s.st.rdb.Set(ctx, s.prefix+"v:"+key, val, ttl).Err(); err != nil {
		return fmt.Errorf("session %s: %w", key, err)
	}
	return nil
}

// Delete removes key.
func (s *Sessions) Delete(ctx context.Context, key string) error {
	if err := s.st.rdb.Del(ctx, s.prefix+"v:"+key).Err(); err != nil {
		return fmt.Errorf("session %s: %w", key, err)
	}
	return nil
}

// Lock takes key's lock for at most ttl, waiting up to wait for it. The
// returned func releases it (only if still ours).
func (s *Sessions) Lock(ctx context.Context, key string, ttl, wait time.Duration) (func(), error) {
	b := make([]byte, 8)
	rand.Read(b)
	l := s.st.Lock(s.prefix+"l:"+key, hex.EncodeToString(b))
	deadline := time.Now().Add(wait)
	for {
		ok, err := l.Claim(ctx, ttl)
		if err != nil {
			return nil, err
		}
		if ok {
			return func() { l.Release(context.WithoutCancel(ctx)) }, nil
		}
		if time.Now().After(deadline) {
			return nil, ErrLocked
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Schedule puts member in the due set named set at time at (replacing an
// earlier time).
func (s *Sessions) Schedule(ctx context.Context, set, member string, at time.Time) error {
	err := s.st.rdb.ZAdd(ctx, s.prefix+"z:"+set, redis.Z{Score: float64(at.UnixMilli()), Member: member}).Err()
	if err != nil {
		return fmt.Errorf("schedule %s: %w", set, err)
	}
	return nil
}

// Unschedule removes member from set.
func (s *Sessions) Unschedule(ctx context.Context, set, member string) error {
	if err := s.st.rdb.ZRem(ctx, s.prefix+"z:"+set, member).Err(); err != nil {
		return fmt.Errorf("unschedule %s: %w", set, err)
	}
	return nil
}

// Due returns up to limit members of set due by now, earliest first. They
// stay in the set until Unschedule, so a sweeper that dies mid-way leaves
// them for the next sweep.
func (s *Sessions) Due(ctx context.Context, set string, now time.Time, limit int) ([]string, error) {
	out, err := s.st.rdb.ZRangeByScore(ctx, s.prefix+"z:"+set, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, fmt.Errorf("due %s: %w", set, err)
	}
	return out, nil
}
