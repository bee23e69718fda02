package configs

import (
	"fmt"
	"reflect"
	"strings"
)

// CheckEnv fails on a WEIBAO_ variable in environ (os.Environ's form) that
// names no configuration key, as an unknown YAML key does: a misspelt
// override would otherwise be ignored without a word. Allowed besides the
// keys: the wards' WardWebhookEnv and the tests' and load tools' own
// WEIBAO_TEST_* and WEIBAO_BENCH_*.
func CheckEnv(environ []string) error {
	known := map[string]bool{}
	// The names are those applyEnv reads, asked of a getenv that only
	// records them.
	applyEnv(reflect.ValueOf(&Config{}).Elem(), "WEIBAO", func(name string) string {
		known[name] = true
		return ""
	})
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "WEIBAO_") || known[name] ||
			strings.HasPrefix(name, "WEIBAO_TEST_") || strings.HasPrefix(name, "WEIBAO_BENCH_") ||
			strings.HasPrefix(name, "WEIBAO_WARD_") && strings.HasSuffix(name, "_WEBHOOK_KEY") {
			continue
		}
		return fmt.Errorf("config: environment variable %s names no configuration key (see configs/weibao.example.yaml; lists such as wards and people are set only in the file)", name)
	}
	return nil
}
