package catalog

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	c := Default()
	tests := []struct {
		key    string
		fields map[string]any
		want   string
	}{
		{"status.new", nil, "待接单"},
		{"err.transition", map[string]any{"no": "F20261126-0001", "status": "closed", "kind": "acknowledged"},
			"工单 F20261126-0001 当前为「已关闭」，不能接单。"},
		{"err.text_too_long", map[string]any{"max": 1000}, "内容过长（最多 1000 字），请精简后再发送。"},
		{"err.not_found", nil, "未找到工单 {no}，请核对工单号。"},
		{"no.such.key", nil, "no.such.key"},
		// Category names often end in 问题 themselves (打印问题).
		{"dlg.confirm_category", map[string]any{"category": "打印问题"}, "是「打印问题」吗？\n1 是\n2 不是"},
	}
	for _, tt := range tests {
		if got := c.Text(tt.key, tt.fields); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

// A duration reaches people as hours and minutes, never "2m41s" or "1342 分钟".
func TestDuration(t *testing.T) {
	c := Default()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "不足1分钟"},
		{41 * time.Second, "不足1分钟"},
		{2*time.Minute + 41*time.Second, "2分钟"},
		{59 * time.Minute, "59分钟"},
		{3 * time.Hour, "3小时"},
		{2*time.Hour + 22*time.Minute, "2小时22分"},
		{1342 * time.Minute, "22小时22分"},
		{48*time.Hour + 10*time.Minute, "2天"},
		{26*time.Hour + 5*time.Minute, "1天2小时"},
	}
	for _, tt := range tests {
		if got := c.Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	if got := c.Text("sla.reason.breach", map[string]any{"clock": "onsite", "late": 1342 * time.Minute}); got != "到场已超时 22小时22分" {
		t.Errorf("breach reason = %q", got)
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("status.new: 新工单\n"), 0o600)
	c, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Text("status.new", nil); got != "新工单" {
		t.Errorf("override not applied: %q", got)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("status.nwe: 新工单\n"), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "status.nwe") {
		t.Errorf("unknown key in override: err = %v", err)
	}
}

// keyRE matches string literals that look like catalogue keys in Go code.
var keyRE = regexp.MustCompile(`"((?:err|msg|bot|dlg|cmd|card|sla|page|wecom|report|digest|status|scope|type|severity|difficulty|kind|field|role|priority|clock)\.[a-z0-9_]+(?:\.[a-z0-9_]+)*)"`)

// TestKeysExist fails when code names a key the catalogue lacks, so a typo
// never reaches a nurse as a raw key.
func TestKeysExist(t *testing.T) {
	c := Default()
	root := ".."
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		// configs names YAML keys ("wecom.bot.mode"), not catalogue keys.
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "configs" || strings.HasPrefix(d.Name(), ".")) && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range keyRE.FindAllStringSubmatch(string(b), -1) {
			if k := m[1]; !c.Has(k) && !strings.HasSuffix(k, ".go") && !strings.HasSuffix(k, ".yaml") {
				t.Errorf("%s: catalogue has no key %q", p, k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
