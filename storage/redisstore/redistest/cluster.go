package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"weibao/storage/redisstore"
)

// EnvCluster set to 1 runs the tests that start a local 3-node Redis
// Cluster, or a Sentinel (redis-server and redis-cli on PATH); .ci/run
// sets it. Set, a
// cluster that cannot start fails the test.
const EnvCluster = "WEIBAO_TEST_REDIS_CLUSTER"

// Cluster starts three redis-server --cluster-enabled nodes on free ports,
// joins them with redis-cli --cluster create, and returns a store on the
// cluster and its redis-cluster:// URL; all is stopped when the test ends.
// Without EnvCluster=1 the test is skipped.
func Cluster(tb testing.TB) (*redisstore.Store, string) {
	tb.Helper()
	if os.Getenv(EnvCluster) != "1" {
		tb.Skipf("redistest: %s=1 runs the Redis Cluster tests", EnvCluster)
	}
	dir := tb.TempDir()
	var addrs []string
	for range 3 {
		port := freePort(tb)
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("nodes-%d.conf", port), "--dir", dir, "--save", "", "--appendonly", "no")
		if err := cmd.Start(); err != nil {
			tb.Fatalf("redistest: start redis-server: %v", err)
		}
		tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		addrs = append(addrs, "127.0.0.1:"+strconv.Itoa(port))
	}
	ctx := context.Background()
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		err := waitFor(func() error { return c.Ping(ctx).Err() })
		c.Close()
		if err != nil {
			tb.Fatalf("redistest: node %s: %v", a, err)
		}
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		c := redis.NewClient(&redis.Options{Addr: a})
		err := waitFor(func() error {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && !strings.Contains(info, "cluster_state:ok") {
				err = fmt.Errorf("not ok yet")
			}
			return err
		})
		c.Close()
		if err != nil {
			tb.Fatalf("redistest: cluster state at %s: %v", a, err)
		}
	}
	url := "redis-cluster://" + strings.Join(addrs, ",")
	rdb, _, err := redisstore.NewClient(url)
	if err != nil {
		tb.Fatal(err)
	}
	// Every node must know every slot's owner before the first command.
	cc := rdb.(*redis.ClusterClient)
	if err := waitFor(func() error {
		return cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error { return c.Ping(ctx).Err() })
	}); err != nil {
		tb.Fatalf("redistest: cluster: %v", err)
	}
	store := redisstore.New(rdb)
	tb.Cleanup(func() { store.Close() })
	return store, url
}

// Sentinel starts a redis-server and a Sentinel that monitors it as
// "weibao", and returns a store through the Sentinel and its
// redis-sentinel:// URL. Gated by EnvCluster as Cluster is.
func Sentinel(tb testing.TB) (*redisstore.Store, string) {
	tb.Helper()
	if os.Getenv(EnvCluster) != "1" {
		tb.Skipf("redistest: %s=1 runs the Redis Sentinel tests", EnvCluster)
	}
	dir := tb.TempDir()
	master, sentinel := freePort(tb), freePort(tb)
	conf := filepath.Join(dir, "sentinel.conf") // Sentinel rewrites it
	err := os.WriteFile(conf, fmt.Appendf(nil, "port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor weibao 127.0.0.1 %d 1\n", sentinel, dir, master), 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	for _, args := range [][]string{
		{"--port", strconv.Itoa(master), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"},
		{conf, "--sentinel"},
	} {
		cmd := exec.Command("redis-server", args...)
		if err := cmd.Start(); err != nil {
			tb.Fatalf("redistest: start redis-server: %v", err)
		}
		tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	url := fmt.Sprintf("redis-sentinel://127.0.0.1:%d/0?master_name=weibao", sentinel)
	rdb, _, err := redisstore.NewClient(url)
	if err != nil {
		tb.Fatal(err)
	}
	if err := waitFor(func() error { return rdb.Ping(context.Background()).Err() }); err != nil {
		tb.Fatalf("redistest: through the sentinel: %v", err)
	}
	store := redisstore.New(rdb)
	tb.Cleanup(func() { store.Close() })
	return store, url
}

// freePort is a free port whose cluster bus port (+10000) is free too.
func freePort(tb testing.TB) int {
	tb.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if port+10000 > 65535 {
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000))
		if err != nil {
			continue
		}
		bus.Close()
		return port
	}
	tb.Fatal("redistest: no free port pair for a cluster node")
	return 0
}

// waitFor retries f for up to 10 s.
func waitFor(f func() error) error {
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = f(); err == nil {
			return nil
		}
	}
	return err
}
