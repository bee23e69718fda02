package main

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/configs"
	"weibao/storage"
)

// TestHelperProcess is the weibao binary when the tests run it as a child
// (weibaoCmd): main with the arguments after "--", its exit code its own.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("WEIBAO_TEST_HELPER_PROCESS") != "1" {
		t.Skip("run by weibaoCmd")
	}
	for i, a := range os.Args {
		if a == "--" {
			os.Args = append([]string{"weibao"}, os.Args[i+1:]...)
			break
		}
	}
	main()
	os.Exit(0)
}

// weibaoCmd is `weibao args…` as an operator types it: main in a child
// process, in its own empty directory (no configs/weibao.yaml: the demo).
func weibaoCmd(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestHelperProcess$", "--"}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), append(env, "WEIBAO_TEST_HELPER_PROCESS=1")...)
	return cmd
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout string // a part of it
		stderr string
	}{
		{"--help", nil, []string{"--help"}, 0, "usage:\n  weibao [serve]", ""},
		{"-h", nil, []string{"-h"}, 0, "usage:\n  weibao [serve]", ""},
		{"help", nil, []string{"help"}, 0, "weibao doctor", ""},
		{"serve -h", nil, []string{"serve", "-h"}, 0, "", "-config"},
		{"chat --help", nil, []string{"chat", "--help"}, 0, "", "-as string"},
		{"doctor -h", nil, []string{"doctor", "-h"}, 0, "", "-config"},
		{"version", nil, []string{"version"}, 0, "weibao dev", ""},
		{"unknown command", nil, []string{"frobnicate"}, 1, "", `unknown command "frobnicate"`},
		{"bad flag", nil, []string{"serve", "--nope"}, 1, "", "flag provided but not defined: -nope"},
		{"doctor on the demo", nil, []string{"doctor"}, 0, "weibao chat --as nurse1 --in med-icu", ""},
		{"env names no key", []string{"WEIBAO_ESCALATION_RECONCIL=2m"}, []string{"doctor"}, 1, "", "WEIBAO_ESCALATION_RECONCIL names no configuration key"},
		{"env duration", []string{"WEIBAO_ESCALATION_RECONCILE=2m"}, []string{"doctor"}, 0, "outbound only", ""},
		{"wecom chats", []string{"WEIBAO_DATABASE_DSN=chats.db"}, []string{"wecom", "chats"}, 0, "no group chat has messaged the bot yet", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := weibaoCmd(t, tt.env, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("weibao %s: exit %d, want %d\nstdout (want %q):\n%s\nstderr (want %q):\n%s",
					strings.Join(tt.args, " "), code, tt.code, tt.stdout, stdout.String(), tt.stderr, stderr.String())
			}
		})
	}
}

// TestDemoStart starts weibao with no configuration as a new user does: it
// says what to try next (the console's and /try's URLs, the lead's token,
// weibao chat), and logs nothing at WARN or ERROR.
func TestDemoStart(t *testing.T) {
	cmd := weibaoCmd(t, []string{"WEIBAO_SERVER_ADDR=127.0.0.1:0"})
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "pages are shown on /try as text") { // the doctor's last line
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() {
		for lines.Scan() {
			log.WriteString(lines.Text() + "\n")
		}
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("weibao: %v\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("weibao did not stop on SIGTERM\n%s", log.String())
	}
	got := log.String()
	for _, want := range []string{"weibao chat --as nurse1 --in med-icu", "console=http://127.0.0.1:", "/console/",
		"try=http://127.0.0.1:", "/try", "demo lead login"} {
		if !strings.Contains(got, want) {
			t.Errorf("the demo start does not say what to try next (%q):\n%s", want, got)
		}
	}
	if !regexp.MustCompile(`demo lead login.* token=wbt_`).MatchString(got) {
		t.Errorf("the demo start prints no login token for the lead:\n%s", got)
	}
	for _, bad := range []string{"level=WARN", "level=ERROR"} {
		if strings.Contains(got, bad) {
			t.Errorf("the demo start logs %s:\n%s", bad, got)
		}
	}
}

func TestPrintChats(t *testing.T) {
	cfg := &configs.Config{Location: time.UTC, Wards: []configs.Ward{{Code: "med-icu", Name: "内科ICU", ChatID: "wrA"}}}
	at := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	var b strings.Builder
	err := printChats(&b, []storage.HeardChat{
		{ChatID: "wrB", ChatType: bot.ChatGroup, Channel: "robot", Messages: 1, LastAt: at, LastFrom: "nurse7"},
		{ChatID: "wrA", ChatType: bot.ChatGroup, Channel: "robot", Messages: 12, LastAt: at.Add(-time.Hour), LastFrom: "nurse1"},
	}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "CHAT ID  WARD                        MESSAGES  LAST HEARD           LAST FROM\n" +
		"wrB      (no ward has this chat_id)  1         2026-12-01 09:30:00  nurse7\n" +
		"wrA      med-icu 内科ICU               12        2026-12-01 08:30:00  nurse1\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("weibao wecom chats (-want +got):\n%s", diff)
	}
}
