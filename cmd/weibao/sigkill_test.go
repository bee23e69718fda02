package main

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
	"weibao/wecom/wecomtest"
)

// TestSIGKILLedReplicaIsTakenOverInSeconds: `weibao serve` is killed with
// SIGKILL while it holds stored, unhandled events; another replica (its own
// journal, the same database and Redis) handles every one of them within a
// lease of seconds, not after minutes.
func TestSIGKILLedReplicaIsTakenOverInSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two weibao processes")
	}
	fake := wecomtest.New(t)
	driver, dsn := storagetest.DSN(t)
	redisURL := os.Getenv(redistest.EnvRedis)
	if redisURL == "" {
		_, mr := redistest.Open(t)
		redisURL = "redis://" + mr.Addr()
	}
	dir := t.TempDir()
	env := func(replica string) (string, []string) {
		port := freePort(t)
		return "http://127.0.0.1:" + port, []string{"WEIBAO_SERVER_ADDR=127.0.0.1:" + port,
			"WEIBAO_DATABASE_DRIVER=" + driver, "WEIBAO_DATABASE_DSN=" + dsn,
			"WEIBAO_REDIS_URL=" + redisURL, "WEIBAO_REDIS_PREFIX=weibao:" + redistest.Prefix(),
			"WEIBAO_WECOM_API_BASE=" + fake.URL, "WEIBAO_WECOM_INBOX_JOURNAL=" + filepath.Join(dir, replica+".journal"),
			"WEIBAO_WECOM_CORP_ID=" + wecomtest.CorpID, "WEIBAO_WECOM_AGENT_ID=" + wecomtest.AgentID, "WEIBAO_WECOM_SECRET=" + wecomtest.Secret,
			"WEIBAO_WECOM_BOT_MODE=callback", "WEIBAO_WECOM_BOT_TOKEN=" + wecomtest.BotToken,
			"WEIBAO_WECOM_BOT_ENCODING_AES_KEY=" + wecomtest.BotAESKey, "WEIBAO_LOG_LEVEL=warn",
			"WEIBAO_REPORTS_JOBS_DIGEST_SPEC=off", "WEIBAO_REPORTS_JOBS_MONTHLY_SPEC=off",
			"WEIBAO_REPORTS_JOBS_QUARTERLY_SPEC=off", "WEIBAO_REPORTS_JOBS_ANALYSIS_SPEC=off"}
	}
	start := func(replica string) (string, func()) {
		url, e := env(replica)
		cmd := weibaoCmd(t, e, "serve")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		kill := func() {
			once.Do(func() {
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
			})
		}
		t.Cleanup(kill)
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if res, err := http.Get(url + "/healthz"); err == nil {
				res.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				kill()
				t.Fatalf("replica %s did not start:\n%s", replica, out.String())
			}
		}
		return url, kill
	}
	sqlDSN := dsn
	if driver == "sqlite" {
		sqlDSN += "?_pragma=busy_timeout(10000)"
	}
	db, err := sql.Open(driver, sqlDSN) // the driver storage registers
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(status string) int {
		t.Helper()
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM inbox WHERE status = ? OR ? = ''", status, status).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	a, kill := start("a")
	const n = 600
	postReports(t, a, n)
	// Every event acknowledged is stored (the journal is a's own and goes
	// with it); kill a while it still holds some unhandled.
	for deadline := time.Now().Add(30 * time.Second); count("") < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events stored", count(""), n)
		}
	}
	kill()
	held := count("pending")
	if held == 0 {
		t.Fatal("every event was handled before the kill: nothing to take over")
	}
	killed := time.Now()
	start("b")
	for deadline := killed.Add(60 * time.Second); count("done") < n; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events handled 60 s after the kill (%d were held): a lease of minutes?", count("done"), n, held)
		}
	}
	t.Logf("%d events held by the killed replica; all %d handled %s after the kill", held, n, time.Since(killed).Round(100*time.Millisecond))
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// postReports sends n robot callbacks, one nurse's report each, from 16 senders.
func postReports(t *testing.T, base string, n int) {
	t.Helper()
	c := wecomtest.RobotCrypto()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				msg := fmt.Sprintf(`{"msgid":"k%d","aibotid":"b","chatid":"demo-med-icu","chattype":"group","from":{"userid":"u%d"},"msgtype":"text","text":{"content":"@运维助手 监护仪黑屏 %d"}}`, i, i, i)
				q, body := wecomtest.RobotCallback(c, time.Now(), msg)
				res, err := http.Post(base+"/wecom/bot?"+q.Encode(), "application/json", strings.NewReader(string(body)))
				if err == nil {
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						err = fmt.Errorf("callback %d: status %d", i, res.StatusCode)
					}
				}
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
