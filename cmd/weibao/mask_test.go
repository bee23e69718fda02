package main

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// Whatever a log line carries, in the message, a field or an error string,
// reaches the log masked (issue 18 item 9).
func TestLogsAreMasked(t *testing.T) {
	for _, json := range []bool{false, true} {
		var out strings.Builder
		opt := &slog.HandlerOptions{ReplaceAttr: maskAttr}
		var h slog.Handler = slog.NewTextHandler(&out, opt)
		if json {
			h = slog.NewJSONHandler(&out, opt)
		}
		err := fmt.Errorf("store: %w", errors.New(`bad row "12床患者张三 电话13812345678"`))
		slog.New(quietCancel{h}).With("component", "test").Error("message failed", "err", err, "text", "病人：李四 身份证110101199003071234",
			slog.Group("msg", "from", "13912345678"))
		for _, leak := range []string{"张三", "李四", "12床", "13812345678", "13912345678", "110101199003071234"} {
			if strings.Contains(out.String(), leak) {
				t.Errorf("json %v: log keeps %q: %s", json, leak, out.String())
			}
		}
		if !strings.Contains(out.String(), "138****5678") || !strings.Contains(out.String(), "component") {
			t.Errorf("json %v: log lost what it may keep: %s", json, out.String())
		}
	}
}
