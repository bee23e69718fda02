package wecom

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/cache"
)

// TokenCache is silenceper's cache.Cache over go-redis v9, so replicas share
// one access token (silenceper's own Redis cache pulls go-redis v8).
type TokenCache struct {
	rdb redis.UniversalClient
}

var _ cache.ContextCache = (*TokenCache)(nil)

// NewTokenCache wraps rdb.
func NewTokenCache(rdb redis.UniversalClient) *TokenCache { return &TokenCache{rdb: rdb} }

// GetContext returns the string stored at key, or nil when there is none (or
// Redis fails: the caller then fetches a fresh token).
func (c *TokenCache) GetContext(ctx context.Context, key string) any {
	v, err := c.rdb.Get(ctx, key).Result()
	if err != nil {
		return nil
	}
	return v
}

func (c *TokenCache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	return c.rdb.Set(ctx, key, val, timeout).Err()
}

func (c *TokenCache) IsExistContext(ctx context.Context, key string) bool {
	n, err := c.rdb.Exists(ctx, key).Result()
	return err == nil && n > 0
}

func (c *TokenCache) DeleteContext(ctx context.Context, key string) error {
	return c.rdb.Del(ctx, key).Err()
}

func (c *TokenCache) Get(key string) any { return c.GetContext(context.Background(), key) }
func (c *TokenCache) Set(key string, val any, timeout time.Duration) error {
	return c.SetContext(context.Background(), key, val, timeout)
}
func (c *TokenCache) IsExist(key string) bool { return c.IsExistContext(context.Background(), key) }
func (c *TokenCache) Delete(key string) error { return c.DeleteContext(context.Background(), key) }

// RedisLock is a Lock held by the replica whose owner id is stored at key.
type RedisLock struct {
	rdb   redis.UniversalClient
	key   string
	owner string
}

// NewRedisLock returns a lock on key for owner (a per-process random id).
func NewRedisLock(rdb redis.UniversalClient, key, owner string) *RedisLock {
	return &RedisLock{rdb: rdb, key: key, owner: owner}
}

// Compare-and-set: take the lock when free, renew it when ours.
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

func (l *RedisLock) Acquire(ctx context.Context, ttl time.Duration) (bool, error) {
	n, err := acquireScript.Run(ctx, l.rdb, []string{l.key}, l.owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

func (l *RedisLock) Release(ctx context.Context) error {
	err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.owner).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
