package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "weibao.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEmbeddedDefault(t *testing.T) {
	t.Chdir(t.TempDir()) // no configs/weibao.yaml here
	c, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Embedded || c.Database.Driver != "sqlite" || c.Redis.URL != "" || c.Server.Addr != "127.0.0.1:8080" {
		t.Errorf("embedded default: %+v", c)
	}
	if len(c.Wards) != 4 || len(c.People) == 0 || len(c.Categories) < 5 || c.Location.String() != "Asia/Shanghai" {
		t.Errorf("embedded demo directory: %d wards, %d people, %d categories", len(c.Wards), len(c.People), len(c.Categories))
	}
}

func TestExampleIsValid(t *testing.T) {
	c, err := Load("weibao.example.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Embedded || c.Database.Driver != "mysql" || len(c.Categories) < 5 {
		t.Errorf("example: %+v", c)
	}
}

func TestEnvOverrides(t *testing.T) {
	p := write(t, "wecom:\n  bot:\n    mode: websocket\n")
	c, err := Load(p, env(map[string]string{
		"WEIBAO_DATABASE_DSN":               "root@tcp(127.0.0.1:3306)/test",
		"WEIBAO_DATABASE_DRIVER":            "mysql",
		"WEIBAO_WECOM_BOT_SECRET":           "s3cret",
		"WEIBAO_WECOM_BOT_ENCODING_AES_KEY": strings.Repeat("a", 43),
		"WEIBAO_SERVER_ADDR":                ":9999",
		"WEIBAO_DIALOG_TIMEOUT":             "5m",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.Driver != "mysql" || c.WeCom.Bot.Secret != "s3cret" || c.Server.Addr != ":9999" || c.WeCom.Bot.Mode != "websocket" ||
		c.Dialog.Timeout != 5*time.Minute {
		t.Errorf("overrides not applied: %+v", c)
	}
	if len(c.People) != 0 {
		t.Errorf("a configuration file must not inherit the demo roster, got %d people", len(c.People))
	}
}

func TestWardWebhookKey(t *testing.T) {
	p := write(t, "wards:\n  - {code: med-icu, name: 内科ICU, chat_id: c1, webhook_key: from-file}\n"+
		"  - {code: picu, name: 小儿ICU, chat_id: c2}\n  - {code: ed-icu, name: 急诊ICU, chat_id: c3, webhook_key: kept}\n")
	c, err := Load(p, env(map[string]string{"WEIBAO_WARD_MED_ICU_WEBHOOK_KEY": "from-env", "WEIBAO_WARD_PICU_WEBHOOK_KEY": "env-only"}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Wards {
		got = append(got, w.Code+"="+w.WebhookKey)
	}
	if want := "med-icu=from-env picu=env-only ed-icu=kept"; strings.Join(got, " ") != want {
		t.Errorf("webhook keys %v, want %s", got, want)
	}
	if got := WardWebhookEnv("js-icu"); got != "WEIBAO_WARD_JS_ICU_WEBHOOK_KEY" {
		t.Errorf("WardWebhookEnv = %s", got)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		wantKey    string
	}{
		{"unknown key", "server:\n  adr: x\n", nil, "field adr not found"},
		{"bad driver", "database:\n  driver: oracle\n", nil, "database.driver"},
		{"shared admin token", "", map[string]string{"WEIBAO_SERVER_ADMIN_TOKEN": "t0k"}, "weibao token create"},
		{"bad trusted proxy", "server:\n  trusted_proxies: [nginx]\n", nil, "server.trusted_proxies"},
		{"bad timezone", "timezone: Mars/Olympus\n", nil, "timezone"},
		{"bad redis url", "redis:\n  url: http://x\n", nil, "redis.url"},
		{"short aes key", "wecom:\n  encoding_aes_key: abc\n", nil, "wecom.encoding_aes_key"},
		{"bad bot mode", "wecom:\n  bot:\n    mode: carrier-pigeon\n", nil, "wecom.bot.mode"},
		{"bad role", "people:\n  - {userid: a, role: doctor}\n", nil, "people[0].role"},
		{"duplicate user", "people:\n  - {userid: a, role: nurse}\n  - {userid: a, role: nurse}\n", nil, "people[1].userid"},
		{"unknown ward", "people:\n  - {userid: a, role: nurse, ward: nowhere}\n", nil, "people[0].ward"},
		{"bad mobile", "people:\n  - {userid: a, role: engineer, mobile: '12345'}\n", nil, "people[0].mobile"},
		{"webhook key without chat", "wards:\n  - {code: a, name: A, webhook_key: k}\n", nil, "wards[0].webhook_key"},
		{"webhook key from env without chat", "wards:\n  - {code: a, name: A}\n", map[string]string{"WEIBAO_WARD_A_WEBHOOK_KEY": "k"}, "wards[0].webhook_key"},
		{"codes share a variable", "wards:\n  - {code: a-b, name: A}\n  - {code: a_b, name: B}\n", nil, "WEIBAO_WARD_A_B_WEBHOOK_KEY"},
		{"chat twice", "wards:\n  - {code: a, name: A, chat_id: c}\n  - {code: b, name: B, chat_id: c}\n", nil, "wards[1].chat_id"},
		{"negative department", "wards:\n  - {code: a, name: A, department_id: -3}\n", nil, "wards[0].department_id"},
		{"department twice", "wecom:\n  corp_id: ww1\n  secret: s\nwards:\n  - {code: a, name: A, department_id: 7}\n  - {code: b, name: B, department_id: 7}\n", nil, "wards[1].department_id"},
		{"department without the app", "wards:\n  - {code: a, name: A}\n  - {code: b, name: B, department_id: 7}\n", map[string]string{"WEIBAO_WECOM_CORP_ID": "ww1"}, "wards[1].department_id"},
		{"bad category", "categories:\n  - {code: x, name: X, type: magic, difficulty: simple}\n", nil, "categories[0].type"},
		{"no categories", "categories: []\n", nil, "categories"},
		{"bad log level", "log:\n  level: loud\n", nil, "log.level"},
		{"dialog timeout too short", "dialog:\n  timeout: 5s\n", nil, "dialog.timeout"},
		{"dialog timeout not a duration", "", map[string]string{"WEIBAO_DIALOG_TIMEOUT": "3 minutes"}, "WEIBAO_DIALOG_TIMEOUT"},
		{"bad env value", "", map[string]string{"WEIBAO_DATABASE_DRIVER": "oracle"}, "database.driver"},
		{"not yaml", "server: [\n", nil, "weibao.yaml"},
		{"unknown pager key", "pager:\n  route: []\n", nil, "field route not found"},
		{"unknown provider key", "pager:\n  aliyun:\n    acces_key_id: x\n", nil, "field acces_key_id not found"},
		{"bad provider env value", "", map[string]string{"WEIBAO_PAGER_TENCENT_PLAY_TIMES": "twice"}, "WEIBAO_PAGER_TENCENT_PLAY_TIMES"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(write(t, tt.yaml), env(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.wantKey) {
				t.Errorf("err = %v, want one naming %q", err, tt.wantKey)
			}
		})
	}
}

func TestWardDepartment(t *testing.T) {
	p := write(t, "wecom:\n  corp_id: ww1\nwards:\n  - {code: med-icu, name: 内科ICU, chat_id: c1, department_id: 12}\n  - {code: picu, name: 小儿ICU}\n")
	c, err := Load(p, env(map[string]string{"WEIBAO_WECOM_SECRET": "app-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Wards[0].DepartmentID != 12 || c.Wards[1].DepartmentID != 0 {
		t.Errorf("department ids: %+v", c.Wards)
	}
}

func TestInvalidRedisURLHidesPassword(t *testing.T) {
	_, err := Load(write(t, "redis:\n  url: http://:s3cret-pw@x\n"), env(nil))
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Errorf("err = %v, want one without the password", err)
	}
}

func TestMissingExplicitFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), env(nil)); err == nil {
		t.Error("a --config file that does not exist must stop start-up")
	}
}

// A secret may come from a file outside the repository (a mounted secret).
func TestEnvFromFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "wecom-secret")
	if err := os.WriteFile(secret, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(write(t, ""), env(map[string]string{"WEIBAO_WECOM_SECRET_FILE": secret}))
	if err != nil {
		t.Fatal(err)
	}
	if c.WeCom.Secret != "s3cret-from-file" {
		t.Errorf("wecom.secret = %q", c.WeCom.Secret)
	}
	for name, vars := range map[string]map[string]string{
		"both":    {"WEIBAO_WECOM_SECRET_FILE": secret, "WEIBAO_WECOM_SECRET": "x"},
		"missing": {"WEIBAO_WECOM_SECRET_FILE": secret + ".gone"},
	} {
		if _, err := Load(write(t, ""), env(vars)); err == nil {
			t.Errorf("%s: Load accepted it", name)
		}
	}
	if err := CheckEnv([]string{"WEIBAO_WECOM_SECRET_FILE=/run/secrets/x"}); err != nil {
		t.Errorf("CheckEnv: %v", err)
	}
	if err := CheckEnv([]string{"WEIBAO_DIALOG_TIMEOUT_FILE=/x"}); err == nil {
		t.Error("CheckEnv accepted _FILE for a duration")
	}
}

func TestEnvDurationAsInYAML(t *testing.T) {
	c, err := Load(write(t, ""), env(map[string]string{"WEIBAO_ESCALATION_RECONCILE": "2m", "WEIBAO_PAGER_ALIYUN_TIMEOUT": "1500ms"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Escalation.Reconcile != 2*time.Minute || c.Pager.Aliyun.Timeout != 1500*time.Millisecond {
		t.Errorf("reconcile %s, aliyun timeout %s; want 2m0s, 1.5s", c.Escalation.Reconcile, c.Pager.Aliyun.Timeout)
	}
}

func TestCheckEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		bad     string // the variable the error names; empty: accepted
	}{
		{"keys", []string{"WEIBAO_DATABASE_DSN=x", "WEIBAO_ESCALATION_RECONCILE=2m", "WEIBAO_PAGER_ALIYUN_ACCESS_KEY_SECRET=s", "WEIBAO_WECOM_BOT_ENCODING_AES_KEY=k"}, ""},
		{"inlined pager key", []string{"WEIBAO_PAGER_CALL_ONCE_TTL=1h"}, ""},
		{"not ours", []string{"PATH=/bin", "HOME=/root", "WEIBAOX=1"}, ""},
		{"ward webhook key", []string{"WEIBAO_WARD_MED_ICU_WEBHOOK_KEY=k"}, ""},
		{"tests and bench", []string{"WEIBAO_TEST_MYSQL_DSN=x", "WEIBAO_BENCH_SERVE=1s"}, ""},
		{"misspelt", []string{"WEIBAO_DATABASE_DSN=x", "WEIBAO_ESCALATION_RECONCIL=2m"}, "WEIBAO_ESCALATION_RECONCIL"},
		{"a section", []string{"WEIBAO_WECOM=x"}, "WEIBAO_WECOM"},
		{"a list", []string{"WEIBAO_WARDS=x"}, "WEIBAO_WARDS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckEnv(tt.environ)
			switch {
			case tt.bad == "" && err != nil:
				t.Errorf("CheckEnv: %v", err)
			case tt.bad != "" && (err == nil || !strings.Contains(err.Error(), tt.bad+" ")):
				t.Errorf("CheckEnv = %v, want an error naming %s", err, tt.bad)
			}
		})
	}
}
