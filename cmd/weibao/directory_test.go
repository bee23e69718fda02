package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"weibao/bot"
	"weibao/configs"
	"weibao/storage"
	"weibao/storage/redisstore/redistest"
	"weibao/storage/storagetest"
	"weibao/wecom/wecomtest"
)

// logBuffer is a log sink several goroutines write to.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runWithDepartments runs weibao on the demo roster against fake, with
// med-icu naming WeCom department 12 and picu 13, on the database at
// driver/dsn, and returns what it logs.
func runWithDepartments(t *testing.T, fake *wecomtest.Server, driver, dsn string) (*Main, *logBuffer) {
	t.Helper()
	env := map[string]string{
		"WEIBAO_SERVER_ADDR":     "127.0.0.1:0",
		"WEIBAO_DATABASE_DRIVER": driver,
		"WEIBAO_DATABASE_DSN":    dsn,
		"WEIBAO_REDIS_URL":       os.Getenv(redistest.EnvRedis), "WEIBAO_REDIS_PREFIX": "weibao:" + redistest.Prefix(),
		"WEIBAO_WECOM_API_BASE":      fake.URL,
		"WEIBAO_WECOM_INBOX_JOURNAL": filepath.Join(t.TempDir(), "inbox.journal"),
		"WEIBAO_WECOM_CORP_ID":       wecomtest.CorpID,
		"WEIBAO_WECOM_AGENT_ID":      wecomtest.AgentID,
		"WEIBAO_WECOM_SECRET":        wecomtest.Secret,
		"WEIBAO_WECOM_BOT_MODE":      "callback",
	}
	for k, v := range noJobs {
		env[k] = v
	}
	cfg, err := configs.Load("", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range cfg.Wards {
		cfg.Wards[i].DepartmentID = map[string]int{"med-icu": 12, "picu": 13}[w.Code]
	}
	logs := &logBuffer{}
	m, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := connectWeCom(m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		m.Close()
	})
	return m, logs
}

// TestWeComDepartmentsAtStart: at start weibao reads the wards' departments
// into the roster as their nurses, keeps the hand-written nurse1 as written,
// and schedules the daily read.
func TestWeComDepartmentsAtStart(t *testing.T) {
	fake := wecomtest.New(t)
	fake.SetDepartment(12, wecomtest.Member{UserID: "li", Name: "李护士"}, wecomtest.Member{UserID: "nurse1", Name: "王某"})
	fake.SetDepartment(13, wecomtest.Member{UserID: "zhao", Name: "赵护士"})
	driver, dsn := storagetest.DSN(t)
	m, _ := runWithDepartments(t, fake, driver, dsn)
	ctx := context.Background()
	waitFor(t, "the departments' members in the roster", func() bool {
		p, err := m.DB.Person(ctx, "zhao")
		return err == nil && p.Active
	})
	for _, want := range []bot.Person{
		{UserID: "li", Name: "李护士", Role: bot.RoleNurse, WardCode: "med-icu", Active: true},
		{UserID: "zhao", Name: "赵护士", Role: bot.RoleNurse, WardCode: "picu", Active: true},
		{UserID: "nurse1", Name: "王护士", Role: bot.RoleNurse, WardCode: "med-icu", Active: true},
	} {
		if p, err := m.DB.Person(ctx, want.UserID); err != nil || *p != want {
			t.Errorf("%s: %+v %v, want %+v", want.UserID, p, err, want)
		}
	}
	var jobs []string
	for _, j := range m.Reports.Scheduler.Jobs() {
		jobs = append(jobs, j.Name)
	}
	if !strings.Contains(strings.Join(jobs, " "), "wecom_directory") {
		t.Errorf("scheduled jobs %v, want wecom_directory among them", jobs)
	}
}

// TestWeComDepartmentsErrorChangesNothing: when WeCom refuses a department
// (here: the server's IP is not trusted), weibao logs it and the roster
// keeps what the last read gave it.
func TestWeComDepartmentsErrorChangesNothing(t *testing.T) {
	fake := wecomtest.New(t)
	fake.SetDepartment(12, wecomtest.Member{UserID: "li", Name: "李护士"})
	fake.SetDepartment(13)
	fake.Inject("user/simplelist", wecomtest.Fault{ErrCode: 60020})
	driver, dsn := storagetest.DSN(t)
	// Last read: zhao was a nurse of picu.
	db, err := storage.Open(context.Background(), driver, dsn, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.SyncDepartmentPeople(context.Background(), []bot.Person{{UserID: "zhao", Name: "赵护士", Role: bot.RoleNurse, WardCode: "picu"}}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	m, logs := runWithDepartments(t, fake, driver, dsn)
	waitFor(t, "the failed read logged", func() bool {
		return strings.Contains(logs.String(), "wecom departments not read")
	})
	if l := logs.String(); !strings.Contains(l, "errcode 60020") || !strings.Contains(l, "department 12") {
		t.Errorf("the log does not say why:\n%s", l)
	}
	ctx := context.Background()
	if p, err := m.DB.Person(ctx, "zhao"); err != nil || !p.Active {
		t.Errorf("zhao after a failed read: %+v %v", p, err)
	}
	if _, err := m.DB.Person(ctx, "li"); err == nil {
		t.Error("li was added by a failed read")
	}
}
