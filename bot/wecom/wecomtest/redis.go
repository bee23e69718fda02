package wecomtest

import (
	"context"
	"os"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvRedis names the variable with a real Redis URL for tests.
const EnvRedis = "WEIBAO_TEST_REDIS_URL"

// Redis returns a client on miniredis, or on the real Redis named by
// WEIBAO_TEST_REDIS_URL (unreachable is a failure, never a skip). Tests on a
// shared real Redis must use keys unique to the test.
func Redis(tb testing.TB) redis.UniversalClient {
	tb.Helper()
	if u := os.Getenv(EnvRedis); u != "" {
		opt, err := redis.ParseURL(u)
		if err != nil {
			tb.Fatalf("wecomtest: %s: %v", EnvRedis, err)
		}
		c := redis.NewClient(opt)
		if err := c.Ping(context.Background()).Err(); err != nil {
			tb.Fatalf("wecomtest: redis %s: %v", opt.Addr, err)
		}
		tb.Cleanup(func() { c.Close() })
		return c
	}
	m := miniredis.RunT(tb)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { c.Close() })
	return c
}
