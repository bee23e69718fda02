package configs

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/sla"
	"weibao/sla/pager"
	"weibao/sla/pager/aliyun"
	"weibao/sla/pager/tencent"
	"weibao/sla/pager/webhook"
)

// TestPagerKeys checks every pager key of the file and every WEIBAO_PAGER_*
// override reaches the providers' own Config types, the providers' keys
// that configs did not mirror (timeout, limits, max_skew) included.
func TestPagerKeys(t *testing.T) {
	p := write(t, `pager:
  routes:
    - {provider: aliyun, channel: voice}
    - {provider: webhook, channel: sms}
  call_once_ttl: 24h
  aliyun:
    access_key_id: ak
    region_id: cn-shanghai
    voice_endpoint: https://voice.test/
    sms_endpoint: https://sms.test/
    called_show_number: "0571"
    tts_code: TTS_1
    play_times: 2
    voice_params: [no, level]
    ivr: {show_number: "0572", start_code: S, ack_code: A, bye_code: B, key_timeout: 10s}
    sign_name: 维保
    sms_template_code: SMS_1
    sms_params: [no]
    timeout: 3s
    voice_limit: {rules: [{window: 1m, max: 2}]}
  tencent:
    secret_id: sid
    region: ap-beijing
    vms_endpoint: https://vms.test/
    sms_endpoint: https://tsms.test/
    voice_sdk_app_id: "1400"
    voice_template_id: "11"
    play_times: 3
    voice_params: [no]
    sms_sdk_app_id: "1401"
    sms_template_id: "12"
    sign_name: 维保
    sms_params: [level]
  webhook:
    name: pbx
    url: https://pbx.test/page
    channels: [voice]
    max_skew: 1m
    sms_limit: {night: {from: 22h, to: 8h, max: 1}}
`)
	c, err := Load(p, env(map[string]string{
		"WEIBAO_PAGER_ALIYUN_ACCESS_KEY_SECRET": "a-secret",
		"WEIBAO_PAGER_TENCENT_SECRET_KEY":       "t-secret",
		"WEIBAO_PAGER_WEBHOOK_SECRET":           "w-secret",
		"WEIBAO_PAGER_ALIYUN_TTS_CODE":          "TTS_2",
		"WEIBAO_PAGER_ALIYUN_IVR_ACK_CODE":      "A2",
		"WEIBAO_PAGER_TENCENT_PLAY_TIMES":       "1",
		"WEIBAO_PAGER_CALL_ONCE_TTL":            "3600000000000", // a Duration's env value is nanoseconds
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Pager{
		Config: pager.Config{Routes: []pager.Route{{Provider: "aliyun", Channel: pager.Voice}, {Provider: "webhook", Channel: pager.SMS}},
			CallOnceTTL: time.Hour},
		Aliyun: aliyun.Config{AccessKeyID: "ak", AccessKeySecret: "a-secret", RegionID: "cn-shanghai",
			VoiceEndpoint: "https://voice.test/", SMSEndpoint: "https://sms.test/", CalledShowNumber: "0571", TTSCode: "TTS_2",
			PlayTimes: 2, VoiceParams: []string{"no", "level"},
			IVR:      aliyun.IVR{ShowNumber: "0572", StartCode: "S", AckCode: "A2", ByeCode: "B", KeyTimeout: 10 * time.Second},
			SignName: "维保", SMSTemplateCode: "SMS_1", SMSParams: []string{"no"},
			Timeout: 3 * time.Second, VoiceLimit: &pager.Limit{Rules: []pager.Rule{{Window: time.Minute, Max: 2}}}},
		Tencent: tencent.Config{SecretID: "sid", SecretKey: "t-secret", Region: "ap-beijing", VMSEndpoint: "https://vms.test/",
			SMSEndpoint: "https://tsms.test/", VoiceSdkAppID: "1400", VoiceTemplateID: "11", PlayTimes: 1, VoiceParams: []string{"no"},
			SMSSdkAppID: "1401", SMSTemplateID: "12", SignName: "维保", SMSParams: []string{"level"}},
		Webhook: webhook.Config{Name: "pbx", URL: "https://pbx.test/page", Secret: "w-secret", Channels: []pager.Channel{pager.Voice},
			MaxSkew: time.Minute, SMSLimit: pager.Limit{Night: &pager.Night{From: 22 * time.Hour, To: 8 * time.Hour, Max: 1}}},
	}
	if diff := cmp.Diff(want, c.Pager); diff != "" {
		t.Errorf("pager (-want +got):\n%s", diff)
	}
}

func TestSLAFile(t *testing.T) {
	// sla.yaml beside this file equals the built-in policy.
	c, err := Load(write(t, "escalation:\n  sla_file: "+abs(t, "sla.yaml")+"\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Calendar == nil || c.SLA.Calendar != c.Calendar {
		t.Fatalf("the policy's calendar %v is not the loaded one %v", c.SLA.Calendar, c.Calendar)
	}
	got := c.SLA
	got.Calendar = nil
	if diff := cmp.Diff(sla.DefaultPolicy(), got); diff != "" {
		t.Errorf("policy of sla.yaml (-want +got):\n%s", diff)
	}
	day := time.Date(2026, 10, 1, 12, 0, 0, 0, c.Location)
	if c.Calendar.IsWorkday(day) {
		t.Errorf("calendar: %s is National Day", day.Format(time.DateOnly))
	}

	if _, err := Load(write(t, "escalation:\n  sla_file: nowhere.yaml\n"), env(nil)); err == nil || !strings.Contains(err.Error(), "escalation.sla_file") {
		t.Errorf("missing sla_file: err = %v, want one naming escalation.sla_file", err)
	}
}

func abs(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
