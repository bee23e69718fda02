package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"weibao/wecom/wecomtest"
)

// SLA budgets of seconds, so that reminders, breaches and escalations come
// due within the run on the wall clock (no clock jumps). The calendar is
// a working day around the clock, today and tomorrow.
const slaFile = `policy:
  classes:
    simple: {ack: 20s, resolve: 60s}
    routine: {ack: 30s, resolve: 90s}
    other: {ack: 40s, resolve: 120s}
  onsite: 3m
  reminders: [50, 80]
calendar:
  timezone: UTC
  hours: ["00:00-23:59"]
  statutory: false
  workdays: [%q, %q]
`

const configFile = `server:
  public_url: %s
database:
  driver: mysql
  dsn: root@tcp(%s)/%s?charset=utf8mb4&loc=UTC
redis:
  url: %s
  prefix: "weibao:"
timezone: UTC
log: {level: info, format: json}
wecom:
  corp_id: %s
  agent_id: %q
  api_base: %s
  bot:
    mode: callback
    id: %s
campuses:
  - {code: dongjie, name: 东街院区, lat: 26.0790, lng: 119.3000}
  - {code: jinshan, name: 金山院区, lat: 26.0480, lng: 119.2650}
wards:
%speople:
  - {userid: eng1, name: 张工, role: engineer, mobile: "13800000001"}
  - {userid: eng2, name: 刘工, role: engineer, mobile: "13800000002"}
  - {userid: lead1, name: 赵经理, role: lead, mobile: "13800000003"}
oncall:
  lead: lead1
  start: "2026-01-05 09:00"
  shift: 168h
  primary: [eng1]
  backup: [eng2]
dialog:
  timeout: 30s
escalation:
  sla_file: %s
  levels:
    - {level: 1, to: primary, channels: [voice, sms], after: 40s, urgent_after: 0s}
    - {level: 2, to: backup, channels: [voice, sms], after: 80s, urgent_after: 30s}
    - {level: 3, to: lead, channels: [voice, sms], after: 120s, urgent_after: 60s}
  reconcile: 30s
pager:
  webhook:
    url: %s
    channels: [voice, sms]
reports:
  jobs:
    digest: {spec: "off"}
    monthly: {spec: "off"}
    quarterly: {spec: "off"}
    analysis: {spec: "* * * * *"}
`

// wardCodes are the configured wards; each group has its own robot webhook
// (WeCom limits each to 20 messages a minute).
var wardCodes = []string{"ed-icu", "med-icu", "picu", "js-icu", "ccu", "neuro-icu", "surg-icu", "js-picu"}

// wards are the wards' group chats.
var wards = func() []string {
	var chats []string
	for _, c := range wardCodes {
		chats = append(chats, "soak-"+c)
	}
	return chats
}()

// writeConfig writes the replicas' configuration into dir and returns its
// path and the secrets, which go in the environment as in production.
func writeConfig(dir, publicURL, dbAddr, dbName, redisURL, wecomURL, phoneURL string) (string, []string, error) {
	now := time.Now().UTC()
	sla := filepath.Join(dir, "sla.yaml")
	if err := os.WriteFile(sla, fmt.Appendf(nil, slaFile, now.Format(time.DateOnly), now.Add(24*time.Hour).Format(time.DateOnly)), 0o600); err != nil {
		return "", nil, err
	}
	cfg := filepath.Join(dir, "weibao.yaml")
	var wardList strings.Builder
	for i, c := range wardCodes {
		fmt.Fprintf(&wardList, "  - {code: %s, name: 病区%s, campus: %s, chat_id: soak-%s}\n", c, c, []string{"dongjie", "jinshan"}[i%2], c)
	}
	body := fmt.Sprintf(configFile, publicURL, dbAddr, dbName, redisURL, wecomtest.CorpID, wecomtest.AgentID, wecomURL,
		wecomtest.BotID, wardList.String(), sla, phoneURL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		return "", nil, err
	}
	env := []string{
		"WEIBAO_WECOM_SECRET=" + wecomtest.Secret, "WEIBAO_WECOM_TOKEN=" + wecomtest.AppToken,
		"WEIBAO_WECOM_ENCODING_AES_KEY=" + wecomtest.AppAESKey, "WEIBAO_WECOM_BOT_TOKEN=" + wecomtest.BotToken,
		"WEIBAO_WECOM_BOT_ENCODING_AES_KEY=" + wecomtest.BotAESKey, "WEIBAO_PAGER_WEBHOOK_SECRET=soak-phone-secret",
	}
	for _, c := range wardCodes {
		env = append(env, "WEIBAO_WARD_"+strings.ToUpper(strings.ReplaceAll(c, "-", "_"))+"_WEBHOOK_KEY="+wecomtest.WebhookKey+"-"+c)
	}
	return cfg, env, nil
}
