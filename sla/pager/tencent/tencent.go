// Package tencent pages through Tencent Cloud: voice notifications with VMS
// SendTtsVoice (2020-09-02) and SMS with SendSms (2021-01-11), signed with
// TC3-HMAC-SHA256, and parses the VMS status and key-press callbacks.
package tencent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"weibao/sla/pager"
)

// Provider is the name routes use.
const Provider = "tencent"

// Config configures the client. SecretKey is filled from the environment by
// the main program, never from a committed file.
type Config struct {
	SecretID    string        `yaml:"secret_id"`
	SecretKey   string        `yaml:"secret_key"`
	Region      string        `yaml:"region"`       // default ap-guangzhou
	VMSEndpoint string        `yaml:"vms_endpoint"` // default https://vms.tencentcloudapi.com/
	SMSEndpoint string        `yaml:"sms_endpoint"` // default https://sms.tencentcloudapi.com/
	Timeout     time.Duration `yaml:"timeout"`      // per request, default 5s

	VoiceSdkAppID   string   `yaml:"voice_sdk_app_id"`
	VoiceTemplateID string   `yaml:"voice_template_id"` // approved voice template; enables voice
	PlayTimes       int      `yaml:"play_times"`        // 1–3; 0 leaves the provider default
	VoiceParams     []string `yaml:"voice_params"`      // page params in template order; empty means all

	SMSSdkAppID   string   `yaml:"sms_sdk_app_id"`
	SMSTemplateID string   `yaml:"sms_template_id"` // approved SMS template; enables SMS
	SignName      string   `yaml:"sign_name"`       // the approved signature text
	SMSParams     []string `yaml:"sms_params"`      // page params in template order; empty means all

	// VoiceLimit and SMSLimit override the documented defaults for accounts
	// whose limits were raised with Tencent.
	VoiceLimit *pager.Limit `yaml:"voice_limit"`
	SMSLimit   *pager.Limit `yaml:"sms_limit"`
}

// VoiceLimit is the documented default per called number: 1 per 30 s, 2 per
// 10 min, 3 a day, and only 1 between 22:00 and 08:00 Beijing time.
func VoiceLimit() pager.Limit {
	return pager.Limit{
		Rules: []pager.Rule{{Window: 30 * time.Second, Max: 1}, {Window: 10 * time.Minute, Max: 2}, {Window: 24 * time.Hour, Max: 3}},
		Night: &pager.Night{From: 22 * time.Hour, To: 8 * time.Hour, Max: 1},
	}
}

// SMSLimit is the documented default per number: 1 per 30 s and 2 a day
// (both adjustable in the console; raise them through Config.SMSLimit).
func SMSLimit() pager.Limit {
	return pager.Limit{Rules: []pager.Rule{{Window: 30 * time.Second, Max: 1}, {Window: 24 * time.Hour, Max: 2}}}
}

const contentType = "application/json; charset=utf-8"

// Client is a Tencent Cloud pager.Notifier.
type Client struct {
	cfg Config
	hc  *http.Client
	now func() time.Time
}

var _ pager.Notifier = (*Client)(nil)

// New checks cfg and fills defaults.
func New(cfg Config) (*Client, error) {
	if cfg.SecretID == "" || cfg.SecretKey == "" {
		return nil, errors.New("tencent: secret id and key are required")
	}
	if cfg.VoiceTemplateID == "" && cfg.SMSTemplateID == "" {
		return nil, errors.New("tencent: configure voice_template_id or sms_template_id")
	}
	if cfg.VoiceTemplateID != "" && cfg.VoiceSdkAppID == "" {
		return nil, errors.New("tencent: voice needs voice_sdk_app_id")
	}
	if cfg.SMSTemplateID != "" && (cfg.SMSSdkAppID == "" || cfg.SignName == "") {
		return nil, errors.New("tencent: sms needs sms_sdk_app_id and sign_name")
	}
	if cfg.Region == "" {
		cfg.Region = "ap-guangzhou"
	}
	if cfg.VMSEndpoint == "" {
		cfg.VMSEndpoint = "https://vms.tencentcloudapi.com/"
	}
	if cfg.SMSEndpoint == "" {
		cfg.SMSEndpoint = "https://sms.tencentcloudapi.com/"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}, now: time.Now}, nil
}

// Provider returns "tencent".
func (c *Client) Provider() string { return Provider }

// Channels returns the configured channels.
func (c *Client) Channels() []pager.Channel {
	var chs []pager.Channel
	if c.cfg.VoiceTemplateID != "" {
		chs = append(chs, pager.Voice)
	}
	if c.cfg.SMSTemplateID != "" {
		chs = append(chs, pager.SMS)
	}
	return chs
}

// Limit returns the configured or documented per-number limit.
func (c *Client) Limit(ch pager.Channel) pager.Limit {
	switch {
	case ch == pager.Voice && c.cfg.VoiceLimit != nil:
		return *c.cfg.VoiceLimit
	case ch == pager.Voice:
		return VoiceLimit()
	case ch == pager.SMS && c.cfg.SMSLimit != nil:
		return *c.cfg.SMSLimit
	case ch == pager.SMS:
		return SMSLimit()
	}
	return pager.Limit{}
}

type sendTTSVoice struct {
	TemplateID       string   `json:"TemplateId"`
	TemplateParamSet []string `json:"TemplateParamSet"`
	CalledNumber     string   `json:"CalledNumber"`
	VoiceSdkAppid    string   `json:"VoiceSdkAppid"`
	PlayTimes        int      `json:"PlayTimes,omitempty"`
	SessionContext   string   `json:"SessionContext,omitempty"`
}

type sendSMS struct {
	PhoneNumberSet   []string `json:"PhoneNumberSet"`
	SmsSdkAppID      string   `json:"SmsSdkAppId"`
	TemplateID       string   `json:"TemplateId"`
	SignName         string   `json:"SignName"`
	TemplateParamSet []string `json:"TemplateParamSet"`
	SessionContext   string   `json:"SessionContext,omitempty"`
}

type response struct {
	Response struct {
		Error *struct {
			Code    string
			Message string
		}
		RequestID  string `json:"RequestId"`
		SendStatus *struct {
			CallID string `json:"CallId"`
		}
		SendStatusSet []struct {
			SerialNo string
			Code     string
			Message  string
		}
	}
}

// Send places one call or sends one SMS. It never retries.
func (c *Client) Send(ctx context.Context, ch pager.Channel, p pager.Page) (pager.Sent, error) {
	number, err := pager.NationalNumber(p.Mobile)
	if err != nil {
		return pager.Sent{}, err
	}
	e164 := "+86" + strings.TrimPrefix(number, "0") // fixed lines drop the trunk 0
	switch ch {
	case pager.Voice:
		r, err := c.call(ctx, c.cfg.VMSEndpoint, "vms", "SendTtsVoice", "2020-09-02", sendTTSVoice{
			TemplateID: c.cfg.VoiceTemplateID, TemplateParamSet: p.Values(c.cfg.VoiceParams), CalledNumber: e164,
			VoiceSdkAppid: c.cfg.VoiceSdkAppID, PlayTimes: c.cfg.PlayTimes, SessionContext: p.ID,
		})
		if err != nil {
			return pager.Sent{}, err
		}
		if r.Response.SendStatus == nil {
			return pager.Sent{}, &pager.ProviderError{Provider: Provider, HTTPStatus: http.StatusOK, Message: "SendTtsVoice: no SendStatus", RequestID: r.Response.RequestID, Unknown: true}
		}
		return pager.Sent{MessageID: r.Response.SendStatus.CallID, RequestID: r.Response.RequestID}, nil
	case pager.SMS:
		r, err := c.call(ctx, c.cfg.SMSEndpoint, "sms", "SendSms", "2021-01-11", sendSMS{
			PhoneNumberSet: []string{e164}, SmsSdkAppID: c.cfg.SMSSdkAppID, TemplateID: c.cfg.SMSTemplateID,
			SignName: c.cfg.SignName, TemplateParamSet: p.Values(c.cfg.SMSParams), SessionContext: p.ID,
		})
		if err != nil {
			return pager.Sent{}, err
		}
		set := r.Response.SendStatusSet
		if len(set) != 1 {
			return pager.Sent{}, &pager.ProviderError{Provider: Provider, HTTPStatus: http.StatusOK, Message: fmt.Sprintf("SendSms: %d statuses for one number", len(set)), RequestID: r.Response.RequestID, Unknown: true}
		}
		if !strings.EqualFold(set[0].Code, "Ok") {
			return pager.Sent{}, providerError(http.StatusOK, set[0].Code, "SendSms: "+set[0].Message, r.Response.RequestID)
		}
		return pager.Sent{MessageID: set[0].SerialNo, RequestID: r.Response.RequestID}, nil
	}
	return pager.Sent{}, fmt.Errorf("%w: tencent has no channel %q", pager.ErrInvalidPage, ch)
}

// call signs and POSTs one API request.
func (c *Client) call(ctx context.Context, endpoint, service, action, version string, payload any) (response, error) {
	var r response
	body, err := json.Marshal(payload)
	if err != nil {
		return r, fmt.Errorf("tencent %s: %w", action, err)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return r, fmt.Errorf("tencent %s: endpoint: %w", action, pager.RedactURL(err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return r, fmt.Errorf("tencent %s: %w", action, pager.RedactURL(err))
	}
	ts := c.now().Unix()
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", version)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-TC-Region", c.cfg.Region)
	req.Header.Set("Authorization", authorization(c.cfg.SecretID, c.cfg.SecretKey, service, ts, canonicalRequest(contentType, u.Host, body)))
	resp, err := c.hc.Do(req)
	if err != nil {
		return r, fmt.Errorf("tencent %s: %w", action, pager.RedactURL(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return r, fmt.Errorf("tencent %s: read response: %w", action, err)
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.Response.RequestID == "" {
		return r, &pager.ProviderError{Provider: Provider, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("%s: unreadable response (%d bytes)", action, len(raw)), Unknown: true}
	}
	if e := r.Response.Error; e != nil {
		return r, providerError(resp.StatusCode, e.Code, action+": "+e.Message, r.Response.RequestID)
	}
	if resp.StatusCode != http.StatusOK {
		return r, &pager.ProviderError{Provider: Provider, HTTPStatus: resp.StatusCode, Message: action + ": unexpected status", RequestID: r.Response.RequestID, Unknown: true}
	}
	return r, nil
}

// providerError maps Tencent codes: LimitExceeded.* (per-number frequency,
// e.g. LimitExceeded.PhoneNumberDailyLimit) and RequestLimitExceeded are
// flow control; InternalError.* leaves the outcome open.
func providerError(status int, code, msg, requestID string) *pager.ProviderError {
	thr := strings.HasPrefix(code, "LimitExceeded") || strings.HasPrefix(code, "RequestLimitExceeded")
	return &pager.ProviderError{
		Provider: Provider, HTTPStatus: status, Code: code, Message: msg, RequestID: requestID,
		Throttled: thr,
		Unknown:   !thr && (status >= 500 || strings.HasPrefix(code, "InternalError")),
	}
}

// CallbackReply is the body Tencent requires in answer to a callback.
var CallbackReply = []byte(`{"result":0,"errmsg":"OK"}`)

// NewCallbackHandler serves the VMS status and key-press callbacks
// (POST /notify/tencent/...); the sink deduplicates.
func NewCallbackHandler(sink pager.ReceiptSink, logger *slog.Logger) http.Handler {
	return pager.NewPushHandler(func(_ http.Header, body []byte) ([]pager.Receipt, error) {
		return ParseCallback(body)
	}, CallbackReply, sink, logger)
}
