package wecom

import (
	"context"
	"fmt"
	"time"

	"github.com/silenceper/wechat/v2/cache"
)

// Values is a shared key/value store with TTLs (redisstore.Values).
type Values interface {
	Get(ctx context.Context, key string) (val string, ok bool, err error)
	Set(ctx context.Context, key, val string, ttl time.Duration) error
	Exists(ctx context.Context, key string) (bool, error)
	Delete(ctx context.Context, key string) error
}

// TokenCache is silenceper's cache.Cache over Values, so replicas share one
// access token (silenceper's own Redis cache pulls go-redis v8).
type TokenCache struct {
	v Values
}

var _ cache.ContextCache = (*TokenCache)(nil)

// NewTokenCache wraps v.
func NewTokenCache(v Values) *TokenCache { return &TokenCache{v: v} }

// GetContext returns the string stored at key, or nil when there is none (or
// Redis fails: the caller then fetches a fresh token).
func (c *TokenCache) GetContext(ctx context.Context, key string) any {
	v, ok, err := c.v.Get(ctx, key)
	if err != nil || !ok {
		return nil
	}
	return v
}

// SetContext stores val (silenceper stores strings) for timeout.
func (c *TokenCache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	return c.v.Set(ctx, key, fmt.Sprint(val), timeout)
}

func (c *TokenCache) IsExistContext(ctx context.Context, key string) bool {
	ok, err := c.v.Exists(ctx, key)
	return err == nil && ok
}

func (c *TokenCache) DeleteContext(ctx context.Context, key string) error {
	return c.v.Delete(ctx, key)
}

func (c *TokenCache) Get(key string) any { return c.GetContext(context.Background(), key) }
func (c *TokenCache) Set(key string, val any, timeout time.Duration) error {
	return c.SetContext(context.Background(), key, val, timeout)
}
func (c *TokenCache) IsExist(key string) bool { return c.IsExistContext(context.Background(), key) }
func (c *TokenCache) Delete(key string) error { return c.DeleteContext(context.Background(), key) }
