// Package redistest gives tests a Redis: an in-process miniredis by default,
// or the server at WEIBAO_TEST_REDIS_URL, which then must answer (an
// unreachable server fails the test, it is never skipped). Tests on a real
// server share it, so they must use keys of their own (see Prefix).
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"weibao/storage/redisstore"
)

// EnvRedis names the variable holding the test server's URL.
const EnvRedis = "WEIBAO_TEST_REDIS_URL"

// Open returns a store closed when the test ends. mr is nil on a real server.
func Open(tb testing.TB) (store *redisstore.Store, mr *miniredis.Miniredis) {
	tb.Helper()
	var client *redis.Client
	url := os.Getenv(EnvRedis)
	if url == "" {
		mr = miniredis.RunT(tb)
		client = redis.NewClient(&redis.Options{Addr: mr.Addr()})
	} else {
		opt, err := redis.ParseURL(url)
		if err != nil {
			tb.Fatalf("redistest: %s: %v", EnvRedis, err)
		}
		client = redis.NewClient(opt)
		if err := client.Ping(context.Background()).Err(); err != nil {
			tb.Fatalf("redistest: Redis at %s unreachable: %v", opt.Addr, err)
		}
	}
	store = redisstore.New(client)
	tb.Cleanup(func() { store.Close() })
	return store, mr
}

// Down returns a store whose server is gone: every command fails the way
// it does when Redis is down (connection refused).
func Down(tb testing.TB) *redisstore.Store {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	store := redisstore.New(redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1}))
	tb.Cleanup(func() { store.Close() })
	return store
}

// Prefix returns a key prefix unique to this test run, so tests sharing a
// real server never see each other's keys.
func Prefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "t" + hex.EncodeToString(b) + ":"
}

// Flush deletes every key under prefix: a FLUSHALL, or a restart without
// persistence, as seen by the test that owns prefix (the shared server's
// other keys are left alone).
func Flush(tb testing.TB, store *redisstore.Store, prefix string) {
	tb.Helper()
	ctx := context.Background()
	flush := func(ctx context.Context, node *redis.Client) error {
		iter := node.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := node.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	switch rdb := store.Client().(type) {
	case *redis.ClusterClient:
		err = rdb.ForEachMaster(ctx, flush)
	case *redis.Client:
		err = flush(ctx, rdb)
	}
	if err != nil {
		tb.Fatalf("redistest: flush: %v", err)
	}
}
