package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lock is a lease on one key held in the name of an owner: SET NX to take
// it, and compare-and-set by owner to extend or release it, so a holder
// never keeps or frees a key someone else took after it expired. The
// scheduler's job locks, the long connection's election and the dialogue's
// per-key locks are all this one type.
type Lock struct {
	rdb   redis.UniversalClient
	key   string
	owner string
}

// Lock returns the lock on key for owner (unique per holder).
func (s *Store) Lock(key, owner string) *Lock { return &Lock{rdb: s.rdb, key: key, owner: owner} }

var extendScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Claim takes the lock for ttl when nobody holds it.
func (l *Lock) Claim(ctx context.Context, ttl time.Duration) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, l.key, l.owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", l.key, err)
	}
	return ok, nil
}

// Extend keeps the lock for ttl from now and reports whether this owner
// still held it.
func (l *Lock) Extend(ctx context.Context, ttl time.Duration) (bool, error) {
	n, err := extendScript.Run(ctx, l.rdb, []string{l.key}, l.owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", l.key, err)
	}
	return n == 1, nil
}

// Acquire takes the lock when free and renews it when this owner holds it
// (wecom.Lock: the long connection's replica election).
func (l *Lock) Acquire(ctx context.Context, ttl time.Duration) (bool, error) {
	if ok, err := l.Claim(ctx, ttl); ok || err != nil {
		return ok, err
	}
	return l.Extend(ctx, ttl)
}

// Release frees the lock if this owner holds it.
func (l *Lock) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.owner).Err(); err != nil {
		return fmt.Errorf("lock %s: %w", l.key, err)
	}
	return nil
}

// JobLock is the scheduler's lock shared by the replicas (scheduler.Locker):
// one Lock per job key, all held in this replica's name.
type JobLock struct {
	s     *Store
	owner string
}

// JobLock returns job locks held in the name of owner (unique per replica).
func (s *Store) JobLock(owner string) *JobLock { return &JobLock{s: s, owner: owner} }

// Claim takes key for ttl when free.
func (l *JobLock) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	return l.s.Lock(key, l.owner).Claim(ctx, ttl)
}

// Extend keeps key for ttl from now if this owner holds it.
func (l *JobLock) Extend(ctx context.Context, key string, ttl time.Duration) error {
	held, err := l.s.Lock(key, l.owner).Extend(ctx, ttl)
	if err != nil {
		return err
	}
	if !held {
		return fmt.Errorf("job lock %s: no longer held", key)
	}
	return nil
}

// Release frees key if this owner holds it.
func (l *JobLock) Release(ctx context.Context, key string) error {
	return l.s.Lock(key, l.owner).Release(ctx)
}
