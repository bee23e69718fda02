package configs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDoctor(t *testing.T) {
	const wards = "wards:\n  - {code: med-icu, name: 内科ICU, chat_id: wrA}\n  - {code: picu, name: 小儿ICU}\n" +
		"  - {code: ed-icu, name: 急诊ICU, chat_id: wrC, webhook_key: k}\n" +
		"people:\n  - {userid: nurse1, name: 护士, role: nurse, ward: med-icu}\n"
	tests := []struct {
		name         string
		yaml         string
		env          map[string]string
		checks       []string // path, "in"/"out"
		warnings     []string // a part of each
		howSubstring string   // a part of some check's How
	}{
		{
			name:   "outbound only: long connection, app sends, aliyun push",
			yaml:   "wecom:\n  corp_id: ww1\n  secret: s\n  bot: {mode: websocket, id: b1}\n" + wards + "pager:\n  aliyun: {access_key_id: ak}\n",
			checks: []string{"robot out", "app messages out", "phone receipts (aliyun) in"},
			warnings: []string{"no on-call roster", "ward med-icu has no webhook_key: weibao can speak first in its group only after someone has messaged the bot there",
				"ward picu has no chat_id"},
			howSubstring: "needs server.public_url, which is not set",
		},
		{
			name: "outbound only with pulled receipts",
			yaml: "wecom:\n  corp_id: ww1\n  secret: s\n  bot: {mode: websocket, id: b1}\n" + wards +
				"pager:\n  aliyun: {access_key_id: ak, queues: {voice_report: Alicom-Queue-1-VoiceReport}}\n",
			checks: []string{"robot out", "app messages out", "phone receipts (aliyun) out"},
			warnings: []string{"no on-call roster", "ward med-icu has no webhook_key: weibao can speak first in its group only after someone has messaged the bot there",
				"ward picu has no chat_id"},
			howSubstring: "pulled from the receipt queue Alicom-Queue-1-VoiceReport",
		},
		{
			name:   "callback mode",
			yaml:   "server: {public_url: https://wb.example.cn/}\nwecom:\n  corp_id: ww1\n  token: t\n  bot: {mode: callback, token: t}\n" + wards,
			checks: []string{"robot in", "app messages out", "app callback in"},
			warnings: []string{"no phone provider", "no on-call roster", "ward med-icu has no webhook_key: notices weibao starts in its group will fail",
				"ward picu has no chat_id"},
			howSubstring: "https://wb.example.cn/wecom/bot",
		},
		{
			name:         "demo",
			checks:       []string{"wecom out"},
			warnings:     []string{"no phone provider"},
			howSubstring: "weibao chat --as nurse1 --in med-icu",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.yaml != "" {
				path = write(t, tt.yaml)
			} else {
				t.Chdir(t.TempDir())
			}
			c, err := Load(path, env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			d := c.Doctor()
			var checks []string
			hows := ""
			for _, ch := range d.Checks {
				dir := "out"
				if ch.Inbound {
					dir = "in"
				}
				checks = append(checks, ch.Path+" "+dir)
				hows += ch.How + "\n"
			}
			if diff := cmp.Diff(tt.checks, checks); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
			if !strings.Contains(hows, tt.howSubstring) {
				t.Errorf("no check says %q:\n%s", tt.howSubstring, hows)
			}
			if len(d.Warnings) != len(tt.warnings) {
				t.Errorf("warnings %q, want %d", d.Warnings, len(tt.warnings))
			}
			for _, w := range tt.warnings {
				if !strings.Contains(strings.Join(d.Warnings, "\n"), w) {
					t.Errorf("no warning says %q: %q", w, d.Warnings)
				}
			}
		})
	}
}
