package main

import (
	"context"
	"strings"
	"testing"

	"weibao/configs"
	"weibao/storage/storagetest"
)

// TestChat types the README's "Try it" session into `weibao chat` and reads
// what the terminal prints.
func TestChat(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   []string
	}{
		{"report, acknowledge, resolve, confirm", `内科ICU护士站电脑登不上重症系统
1
2
2
/as eng1
/in -
接单
已解决 原因:浏览器缓存损坏 方案:清除缓存
/as nurse1
/in med-icu
1
/quit
`, []string{
			"王护士@内科ICU群> ",
			"【内科ICU群】 维保：@王护士 收到，正在为您登记报修",
			"【内科ICU群】 维保：@王护士 已登记工单 F",
			"【私聊 → 张工】 维保：\n    ┌─ 【P2】内科ICU · 无法登录\n    │ 内科ICU护士站电脑登不上重症系统\n",
			"    │ [接单] [到场] [已解决]\n    └─\n",
			"【内科ICU群】 维保：@张工 P2 工单 F",
			"张工@私聊> ",
			"张工 已接单（F",
			"的按钮变为「已由 张工 接单」\n",
			"已处理完毕。\n      原因：浏览器缓存损坏\n      处理：清除缓存\n",
			"【私聊 → 张工】 维保：报修人已确认工单 F",
			"【内科ICU群】 维保：@王护士 感谢确认，工单 F",
		}},
		{"an unfinished report is ticketed after 3 minutes", "护士站打印机打不出来\n/later 3m\n", []string{
			"（时间前进 3m0s，现在 ",
			"分级：P3（仅本人·影响日常工作）·待分诊",
			"您 3 分钟内未继续回答，已按您描述的内容登记工单 F",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			driver, dsn := storagetest.DSN(t)
			t.Setenv("WEIBAO_DATABASE_DRIVER", driver)
			t.Setenv("WEIBAO_DATABASE_DSN", dsn)
			t.Setenv("WEIBAO_REDIS_URL", "")
			var out strings.Builder
			if err := chat(context.Background(), []string{"--as", "nurse1", "--in", "med-icu"}, strings.NewReader(tt.script), &out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("transcript lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestChatNeedsARosterPerson(t *testing.T) {
	t.Setenv("WEIBAO_DATABASE_DSN", t.TempDir()+"/chat.db")
	for _, args := range [][]string{{}, {"--as", "nobody"}} {
		if err := chat(context.Background(), args, strings.NewReader(""), &strings.Builder{}); err == nil {
			t.Errorf("chat %v: want an error", args)
		}
	}
}

func TestChatOwnStores(t *testing.T) {
	tests := []struct {
		name      string
		db        configs.Database
		redis     string
		wantDB    configs.Database
		wantRedis string
	}{
		{"the server's default file", configs.Database{Driver: "sqlite", DSN: "data/weibao.db"}, "redis://127.0.0.1:6379/0",
			configs.Database{Driver: "sqlite", DSN: "data/chat.db"}, ""},
		{"a named SQLite file", configs.Database{Driver: "sqlite", DSN: "/tmp/try.db"}, "redis://127.0.0.1:6379/0",
			configs.Database{Driver: "sqlite", DSN: "/tmp/try.db"}, "redis://127.0.0.1:6379/0"},
		{"MySQL", configs.Database{Driver: "mysql", DSN: "weibao@tcp(db:3306)/weibao"}, "",
			configs.Database{Driver: "mysql", DSN: "weibao@tcp(db:3306)/weibao"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &configs.Config{Database: tt.db, Redis: configs.Redis{URL: tt.redis}}
			ownStores(cfg)
			if cfg.Database != tt.wantDB || cfg.Redis.URL != tt.wantRedis {
				t.Errorf("ownStores = %+v %q, want %+v %q", cfg.Database, cfg.Redis.URL, tt.wantDB, tt.wantRedis)
			}
		})
	}
}
