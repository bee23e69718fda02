package conversation

import (
	"strings"
	"testing"
	"unicode"
)

// A command with a bad argument is answered from the catalogue in Chinese,
// never with a Go error's English.
func TestBadArgumentsGetCatalogueText(t *testing.T) {
	h := newHarness(t)
	for _, text := range []string{"改级 P9 太慢", "改级 P2", "转派", "转派 @nobody", "已解决 重启了", "备注", "备用方案",
		"接单 F20261126-9999", "进度 F20261126-9999"} {
		got := render(h.say("eng1", "", text))
		_, reply, _ := strings.Cut(got, "] ")
		if reply == "" || strings.IndexFunc(reply, func(r rune) bool { return r < unicode.MaxASCII && unicode.IsLower(r) }) >= 0 {
			t.Errorf("%q answered %q, want a catalogue sentence", text, got)
		}
	}
}
