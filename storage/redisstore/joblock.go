package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// JobLock is the scheduler's lock shared by the replicas: SET NX with an
// expiry, and compare-and-set by owner to extend or release, so a replica
// never frees or keeps a key another replica took after expiry.
type JobLock struct {
	rdb   *redis.Client
	owner string
}

// NewJobLock returns locks held in the name of owner (unique per replica).
func NewJobLock(rdb *redis.Client, owner string) *JobLock { return &JobLock{rdb: rdb, owner: owner} }

// Claim takes key for ttl when free.
func (l *JobLock) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, key, l.owner, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("job lock %s: %w", key, err)
	}
	return ok, nil
}

var extendScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) end return 0`)
var releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

// Extend keeps key for ttl from now if this owner holds it.
func (l *JobLock) Extend(ctx context.Context, key string, ttl time.Duration) error {
	n, err := extendScript.Run(ctx, l.rdb, []string{key}, l.owner, ttl.Milliseconds()).Int()
	if err != nil {
		return fmt.Errorf("job lock %s: %w", key, err)
	}
	if n == 0 {
		return fmt.Errorf("job lock %s: no longer held", key)
	}
	return nil
}

// Release frees key if this owner holds it.
func (l *JobLock) Release(ctx context.Context, key string) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{key}, l.owner).Err(); err != nil {
		return fmt.Errorf("job lock %s: %w", key, err)
	}
	return nil
}
