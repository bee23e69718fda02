// Package redisstore connects weibao to Redis, which holds only what can be
// rebuilt from the database: timers, dialogue state, dedupe keys, locks and
// the token cache. With no URL it starts an in-process Redis-compatible
// store, so weibao runs with no server at all.
package redisstore

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Open connects to url, or to a fresh in-process store when url is empty.
// close releases the client and, when embedded, the store.
func Open(ctx context.Context, url string) (client *redis.Client, embedded bool, close func(), err error) {
	if url == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return nil, false, nil, fmt.Errorf("start embedded redis: %w", err)
		}
		client = redis.NewClient(&redis.Options{Addr: mr.Addr()})
		return client, true, func() { client.Close(); mr.Close() }, nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, false, nil, fmt.Errorf("redis url: %w", err)
	}
	client = redis.NewClient(opt)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, false, nil, fmt.Errorf("redis %s: %w", opt.Addr, err)
	}
	return client, false, func() { client.Close() }, nil
}
