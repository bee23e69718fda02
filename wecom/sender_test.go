package wecom

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplitAndTruncateKeepCharacters(t *testing.T) {
	long := strings.Repeat("监护仪黑屏，", 300) + "\n" + strings.Repeat("a", 3000)
	for _, limit := range []int{TextLimit, MarkdownLimit, 7} {
		parts := Split(long, limit)
		if strings.Join(parts, "") != long {
			t.Fatalf("Split(%d) lost text", limit)
		}
		for _, p := range parts {
			if len(p) > limit || !utf8.ValidString(p) {
				t.Fatalf("Split(%d) part of %d bytes, valid UTF-8 %v", limit, len(p), utf8.ValidString(p))
			}
		}
		if got := Truncate(long, limit); len(got) > limit || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
			t.Errorf("Truncate(%d) = %d bytes %q…", limit, len(got), got[:min(len(got), 12)])
		}
	}
	if got := Split("短", TextLimit); len(got) != 1 || got[0] != "短" {
		t.Errorf("Split(short) = %q", got)
	}
}
