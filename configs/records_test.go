package configs

import (
	"strings"
	"testing"
	"time"
)

func TestRecordsValidate(t *testing.T) {
	sys := func(mod func(*RecordSystem)) Records {
		s := RecordSystem{Code: "db", Name: "数据库服务器", Type: "server"}
		mod(&s)
		return Records{Systems: []RecordSystem{s}}
	}
	c := &Config{Wards: []Ward{{Code: "med-icu"}}}
	for _, tt := range []struct {
		name string
		r    Records
		want string // "" accepts
	}{
		{"ok", sys(func(s *RecordSystem) { s.Items = []string{"cpu", "interfaces"} }), ""},
		{"no name", sys(func(s *RecordSystem) { s.Name = "" }), "records.systems[0]: needs a code and a name"},
		{"type", sys(func(s *RecordSystem) { s.Type = "network" }), "records.systems[0].type"},
		{"item", sys(func(s *RecordSystem) { s.Items = []string{"gpu"} }), `unknown item "gpu"`},
		{"twice", Records{Systems: []RecordSystem{{Code: "a", Name: "A", Type: "server"}, {Code: "a", Name: "B", Type: "software"}}}, "used twice"},
		{"url", Records{PrometheusURL: "prometheus:9090"}, "records.prometheus_url"},
		{"ward", Records{Ward: "nowhere"}, "records.ward"},
		{"interval", Records{BackupCheckEvery: time.Hour}, "records.backup_check_every"},
		{"start", Records{Contract: Contract{Start: "2026/07/01"}}, "records.contract"},
		{"notice", Records{Contract: Contract{Start: "2026-07-01", Notice: []int{0}}}, "records.contract.notice"},
	} {
		err := tt.r.validate(c)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
	start, end, err := Contract{Start: "2026-07-01"}.Period(time.UTC)
	if err != nil || !end.Equal(start.AddDate(0, 6, 0)) {
		t.Errorf("six months by default: %s–%s %v", start, end, err)
	}
}
