package main

import (
	"os/exec"
	"strings"
	"testing"
)

// homes names each technology's one home: the packages (and their
// subpackages) that may import it. The load tools under bench/ drive the
// product from outside and may use anything.
var homes = map[string][]string{
	"github.com/redis/go-redis/":     {"weibao/storage/redisstore", "weibao/sla/timerwheel"},
	"github.com/alicebob/miniredis/": {"weibao/storage/redisstore"},
	"gorm.io/":                       {"weibao/storage"},
	"github.com/glebarez/":           {"weibao/storage"},
	"github.com/go-sql-driver/mysql": {"weibao/storage"},
	"github.com/gin-gonic/gin":       {"weibao/handlers"},
	"github.com/xuri/excelize/":      {"weibao/xlsx"},
	"github.com/silenceper/wechat/":  {"weibao/wecom"},
	"github.com/coder/websocket":     {"weibao/wecom"},
	"github.com/robfig/cron/":        {"weibao/scheduler"},
}

// TestHouse fails when a package imports what its room may not: the domain
// root anything but the standard library, the sla library weibao's other
// packages, a technology anything outside its home.
func TestHouse(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "weibao/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		if within(pkg, "weibao/bench") {
			continue
		}
		for _, imp := range imports {
			if msg := forbidden(pkg, imp); msg != "" {
				t.Errorf("%s imports %s: %s", pkg, imp, msg)
			}
		}
	}
}

func forbidden(pkg, imp string) string {
	std := !strings.Contains(strings.Split(imp, "/")[0], ".") && !within(imp, "weibao")
	switch {
	case pkg == "weibao/bot" && !std:
		return "the domain root imports the standard library only"
	case within(pkg, "weibao/sla") && within(imp, "weibao") && !within(imp, "weibao/sla"):
		return "sla is a library that knows nothing of weibao's other packages"
	}
	for tech, allowed := range homes {
		if !strings.HasPrefix(imp, tech) && imp != strings.TrimSuffix(tech, "/") {
			continue
		}
		for _, home := range allowed {
			if within(pkg, home) {
				return ""
			}
		}
		return "its home is " + strings.Join(allowed, " or ")
	}
	return ""
}

// within reports whether pkg is root or below it.
func within(pkg, root string) bool { return pkg == root || strings.HasPrefix(pkg, root+"/") }

func TestForbidden(t *testing.T) {
	for _, tc := range []struct {
		pkg, imp string
		bad      bool
	}{
		{"weibao/bot", "time", false},
		{"weibao/bot", "weibao/catalog", true},
		{"weibao/bot", "github.com/redis/go-redis/v9", true},
		{"weibao/bot/ticketing", "weibao/catalog", false},
		{"weibao/sla/pager", "weibao/sla", false},
		{"weibao/sla/pager", "weibao/bot", true},
		{"weibao/storage/redisstore", "github.com/redis/go-redis/v9", false},
		{"weibao/bot/inbox", "github.com/redis/go-redis/v9", true},
		{"weibao/cmd/weibao", "gorm.io/gorm", true},
		{"weibao/handlers", "github.com/gin-gonic/gin", false},
		{"weibao/handlersx", "github.com/gin-gonic/gin", true},
		{"weibao/wecom/wecomtest", "github.com/coder/websocket", false},
	} {
		if got := forbidden(tc.pkg, tc.imp) != ""; got != tc.bad {
			t.Errorf("forbidden(%s, %s) = %v, want %v", tc.pkg, tc.imp, got, tc.bad)
		}
	}
}
