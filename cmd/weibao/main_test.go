package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"weibao/configs"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
)

// openTestMain boots weibao as the binary does, on a free port, on a fresh
// database (SQLite, or MariaDB with WEIBAO_TEST_MYSQL_DSN) and Redis
// (in-process, or the server at WEIBAO_TEST_REDIS_URL).
func openTestMain(t *testing.T, extraEnv map[string]string) (*Main, func()) {
	t.Helper()
	driver, dsn := storagetest.DSN(t)
	env := map[string]string{
		"WEIBAO_SERVER_ADDR":     "127.0.0.1:0",
		"WEIBAO_DATABASE_DRIVER": driver,
		"WEIBAO_DATABASE_DSN":    dsn,
		"WEIBAO_REDIS_URL":       os.Getenv(redistest.EnvRedis), "WEIBAO_REDIS_PREFIX": "weibao:" + redistest.Prefix(),
	}
	for k, v := range extraEnv {
		env[k] = v
	}
	cfg, err := configs.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after shutdown")
		}
		m.Close()
	}
	t.Cleanup(func() {
		if m.closers != nil {
			stop()
		}
	})
	return m, stop
}

func TestServeHealthAndReady(t *testing.T) {
	m, stop := openTestMain(t, nil)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		res, err := http.Get(m.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("GET %s = %d %s", path, res.StatusCode, body)
		}
		if path == "/readyz" && !strings.Contains(string(body), `"database":"ok"`) {
			t.Errorf("readyz: %s", body)
		}
	}
	people, err := m.DB.People(context.Background(), "")
	if err != nil || len(people) == 0 {
		t.Errorf("demo roster not synced: %v %v", people, err)
	}
	stop()
	if _, err := http.Get(m.URL() + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestRunCommand(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
	if err := run(context.Background(), []string{"serve", "--config", "/nonexistent.yaml"}); err == nil {
		t.Error("a missing --config file must stop start-up")
	}
}
