package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// EnvSoak turns the short form on; .ci/run sets it. With it set the test
// fails, never skips, when MariaDB, redis-server or anything else is
// missing.
const EnvSoak = "WEIBAO_SOAK"

// TestSoakShort is the harness's CI form (about two minutes): three
// replicas under the usual load through one SIGKILL and one Redis restart,
// every invariant at zero after each and at the end.
func TestSoakShort(t *testing.T) {
	if os.Getenv(EnvSoak) == "" {
		t.Skip(EnvSoak + " is not set (.ci/run sets it): the soak's short form takes two minutes")
	}
	mysql := "root@tcp(127.0.0.1:3306)"
	if dsn := os.Getenv("WEIBAO_TEST_MYSQL_DSN"); dsn != "" {
		mysql, _, _ = strings.Cut(dsn, "/")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := moduleRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	res, err := soakRun(ctx, options{Root: root, MySQL: mysql, Replicas: 3, Scenarios: []string{"kill", "redis-restart"},
		Warmup: 20 * time.Second, Gap: 15 * time.Second, Every: 6 * time.Second, Noise: 4, Drain: 75 * time.Second, Out: &out})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reports < 5 {
		t.Errorf("only %d reports made: the load did not run", res.Reports)
	}
	if n := res.Failed(); n > 0 {
		t.Errorf("%d invariant violations (tables above)", n)
	}
}
