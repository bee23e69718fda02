// Package aliyun pages through Alibaba Cloud: voice notifications with
// SingleCallByTts, or IvrCall ("press 1 to acknowledge") when a purchased
// number is configured (Dyvmsapi 2017-05-25), and SMS with SendSms (Dysmsapi
// 2017-05-25). Requests are signed with the V2 RPC HMAC-SHA1 scheme, the
// one both products accept without the SDK.
package aliyun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
const Provider = "aliyun"

// Config configures the client. AccessKeySecret is filled from the
// environment by the main program, never from a committed file.
type Config struct {
	AccessKeyID     string        `yaml:"access_key_id"`
	AccessKeySecret string        `yaml:"access_key_secret"`
	RegionID        string        `yaml:"region_id"`      // default cn-hangzhou
	VoiceEndpoint   string        `yaml:"voice_endpoint"` // default https://dyvmsapi.aliyuncs.com/
	SMSEndpoint     string        `yaml:"sms_endpoint"`   // default https://dysmsapi.aliyuncs.com/
	Timeout         time.Duration `yaml:"timeout"`        // per request, default 5s

	// CalledShowNumber is the caller id for SingleCallByTts; empty means
	// the shared number pool, which the template mode must match.
	CalledShowNumber string   `yaml:"called_show_number"`
	TTSCode          string   `yaml:"tts_code"`     // approved TTS template; enables voice
	PlayTimes        int      `yaml:"play_times"`   // 1–3; 0 leaves the provider default
	VoiceParams      []string `yaml:"voice_params"` // page params the TTS templates take; empty means all
	IVR              IVR      `yaml:"ivr"`

	SignName        string   `yaml:"sign_name"`
	SMSTemplateCode string   `yaml:"sms_template_code"` // approved SMS template; enables SMS
	SMSParams       []string `yaml:"sms_params"`        // page params the SMS template takes; empty means all

	// VoiceLimit and SMSLimit override the documented defaults for accounts
	// whose limits were raised in the console.
	VoiceLimit *pager.Limit `yaml:"voice_limit"`
	SMSLimit   *pager.Limit `yaml:"sms_limit"`

	Queues Queues `yaml:"queues"`
}

// IVR configures IvrCall. Setting ShowNumber switches voice pages from
// SingleCallByTts to IvrCall; the pressed key comes back in receipts.
type IVR struct {
	ShowNumber string        `yaml:"show_number"` // purchased number (IvrCall requires one)
	StartCode  string        `yaml:"start_code"`  // TTS template ending with "press 1 to acknowledge"
	AckCode    string        `yaml:"ack_code"`    // played after 1 is pressed
	ByeCode    string        `yaml:"bye_code"`    // optional, played before hanging up
	KeyTimeout time.Duration `yaml:"key_timeout"` // how long to wait for a key; 0 leaves the provider default
}

// VoiceLimit is the documented per-called-number cap on voice
// notifications: 1 a minute, 5 an hour, 20 a day, failed calls included.
func VoiceLimit() pager.Limit {
	return pager.Limit{Rules: []pager.Rule{
		{Window: time.Minute, Max: 1}, {Window: time.Hour, Max: 5}, {Window: 24 * time.Hour, Max: 20},
	}}
}

// SMSLimit is the documented mainland cap on notification SMS: 50 a day per
// signature, template and number.
func SMSLimit() pager.Limit {
	return pager.Limit{Rules: []pager.Rule{{Window: 24 * time.Hour, Max: 50}}}
}

// maxOutID is the OutId limit; receipts echo it.
const maxOutID = 15

// Client is an Alibaba Cloud pager.Notifier.
type Client struct {
	cfg   Config
	hc    *http.Client
	now   func() time.Time
	nonce func() string
}

var _ pager.Notifier = (*Client)(nil)

// New checks cfg and fills defaults.
func New(cfg Config) (*Client, error) {
	if cfg.AccessKeyID == "" || cfg.AccessKeySecret == "" {
		return nil, errors.New("aliyun: access key id and secret are required")
	}
	if cfg.TTSCode == "" && cfg.IVR.ShowNumber == "" && cfg.SMSTemplateCode == "" {
		return nil, errors.New("aliyun: configure tts_code, ivr or sms_template_code")
	}
	if cfg.IVR.ShowNumber != "" && (cfg.IVR.StartCode == "" || cfg.IVR.AckCode == "") {
		return nil, errors.New("aliyun: ivr needs start_code and ack_code")
	}
	if cfg.SMSTemplateCode != "" && cfg.SignName == "" {
		return nil, errors.New("aliyun: sms needs sign_name")
	}
	if cfg.RegionID == "" {
		cfg.RegionID = "cn-hangzhou"
	}
	if cfg.VoiceEndpoint == "" {
		cfg.VoiceEndpoint = "https://dyvmsapi.aliyuncs.com/"
	}
	if cfg.SMSEndpoint == "" {
		cfg.SMSEndpoint = "https://dysmsapi.aliyuncs.com/"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}, now: time.Now, nonce: newNonce}, nil
}

func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// Provider returns "aliyun".
func (c *Client) Provider() string { return Provider }

// Channels returns the configured channels.
func (c *Client) Channels() []pager.Channel {
	var chs []pager.Channel
	if c.cfg.TTSCode != "" || c.cfg.IVR.ShowNumber != "" {
		chs = append(chs, pager.Voice)
	}
	if c.cfg.SMSTemplateCode != "" {
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

// Send places one call or sends one SMS. It never retries.
func (c *Client) Send(ctx context.Context, ch pager.Channel, p pager.Page) (pager.Sent, error) {
	number, err := pager.NationalNumber(p.Mobile)
	if err != nil {
		return pager.Sent{}, err
	}
	if len(p.ID) > maxOutID {
		return pager.Sent{}, fmt.Errorf("%w: page id %q longer than the %d-byte OutId", pager.ErrInvalidPage, p.ID, maxOutID)
	}
	switch ch {
	case pager.Voice:
		if c.cfg.IVR.ShowNumber != "" {
			return c.ivrCall(ctx, number, p)
		}
		return c.singleCallByTTS(ctx, number, p)
	case pager.SMS:
		return c.sendSMS(ctx, number, p)
	}
	return pager.Sent{}, fmt.Errorf("%w: aliyun has no channel %q", pager.ErrInvalidPage, ch)
}

func (c *Client) singleCallByTTS(ctx context.Context, number string, p pager.Page) (pager.Sent, error) {
	v := url.Values{"CalledNumber": {number}, "TtsCode": {c.cfg.TTSCode}, "OutId": {p.ID}}
	setIf(v, "CalledShowNumber", c.cfg.CalledShowNumber)
	setIf(v, "TtsParam", params(p, c.cfg.VoiceParams))
	setInt(v, "PlayTimes", c.cfg.PlayTimes)
	return c.call(ctx, c.cfg.VoiceEndpoint, "SingleCallByTts", v)
}

func (c *Client) ivrCall(ctx context.Context, number string, p pager.Page) (pager.Sent, error) {
	ivr := c.cfg.IVR
	tts := params(p, c.cfg.VoiceParams)
	v := url.Values{
		"CalledShowNumber": {ivr.ShowNumber}, "CalledNumber": {number}, "StartCode": {ivr.StartCode}, "OutId": {p.ID},
		"MenuKeyMap.1.Key": {pager.AckDigit}, "MenuKeyMap.1.Code": {ivr.AckCode},
	}
	setIf(v, "StartTtsParams", tts)
	setIf(v, "MenuKeyMap.1.TtsParams", tts)
	setIf(v, "ByeCode", ivr.ByeCode)
	if ivr.ByeCode != "" {
		setIf(v, "ByeTtsParams", tts)
	}
	setInt(v, "Timeout", int(ivr.KeyTimeout/time.Millisecond))
	setInt(v, "PlayTimes", c.cfg.PlayTimes)
	return c.call(ctx, c.cfg.VoiceEndpoint, "IvrCall", v)
}

func (c *Client) sendSMS(ctx context.Context, number string, p pager.Page) (pager.Sent, error) {
	v := url.Values{"PhoneNumbers": {number}, "SignName": {c.cfg.SignName}, "TemplateCode": {c.cfg.SMSTemplateCode}, "OutId": {p.ID}}
	setIf(v, "TemplateParam", params(p, c.cfg.SMSParams))
	return c.call(ctx, c.cfg.SMSEndpoint, "SendSms", v)
}

func setIf(v url.Values, k, val string) {
	if val != "" {
		v.Set(k, val)
	}
}

func setInt(v url.Values, k string, n int) {
	if n > 0 {
		v.Set(k, strconv.Itoa(n))
	}
}

// params renders template variables as the JSON object Alibaba expects, or
// "" when there are none.
func params(p pager.Page, names []string) string {
	if len(p.Params) == 0 {
		return ""
	}
	m := make(map[string]string)
	if len(names) == 0 {
		for _, prm := range p.Params {
			m[prm.Name] = prm.Value
		}
	} else {
		for i, val := range p.Values(names) {
			m[names[i]] = val
		}
	}
	b, _ := json.Marshal(m) // a map of strings always marshals
	return string(b)
}

type response struct {
	Code      string
	Message   string
	RequestID string `json:"RequestId"`
	CallID    string `json:"CallId"`
	BizID     string `json:"BizId"`
}

// call signs and POSTs an RPC request with the params in the form body.
func (c *Client) call(ctx context.Context, endpoint, action string, v url.Values) (pager.Sent, error) {
	c.common(v, action)
	resp, body, err := rpc(ctx, c.hc, c.cfg.AccessKeySecret, endpoint, action, v)
	if err != nil {
		return pager.Sent{}, err
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil || r.Code == "" {
		return pager.Sent{}, &pager.ProviderError{Provider: Provider, HTTPStatus: resp.StatusCode,
			Message: fmt.Sprintf("%s: unreadable response (%d bytes)", action, len(body)), Unknown: true}
	}
	if resp.StatusCode == http.StatusOK && r.Code == "OK" {
		id := r.CallID // voice
		if id == "" {
			id = r.BizID // SMS
		}
		return pager.Sent{MessageID: id, RequestID: r.RequestID}, nil
	}
	thr := throttled(resp.StatusCode, r.Code)
	return pager.Sent{}, &pager.ProviderError{
		Provider: Provider, HTTPStatus: resp.StatusCode, Code: r.Code, Message: action + ": " + r.Message, RequestID: r.RequestID,
		Throttled: thr,
		// A throttled request was refused whatever the status says.
		Unknown: !thr && (resp.StatusCode >= 500 || unknownCodes[r.Code]),
	}
}

// common sets the V2 RPC parameters every product (Dyvmsapi, Dysmsapi,
// Dybaseapi) takes; all three are version 2017-05-25.
func (c *Client) common(v url.Values, action string) {
	v.Set("Action", action)
	v.Set("Version", "2017-05-25")
	v.Set("Format", "JSON")
	v.Set("RegionId", c.cfg.RegionID)
	v.Set("AccessKeyId", c.cfg.AccessKeyID)
	v.Set("SignatureMethod", "HMAC-SHA1")
	v.Set("SignatureVersion", "1.0")
	v.Set("SignatureNonce", c.nonce())
	v.Set("Timestamp", c.now().UTC().Format("2006-01-02T15:04:05Z"))
}

// rpc signs v (common already set) and POSTs it as the form body, so what
// is signed is what is sent.
func rpc(ctx context.Context, hc *http.Client, secret, endpoint, action string, v url.Values) (*http.Response, []byte, error) {
	v.Set("Signature", sign(secret, stringToSign(http.MethodPost, v)))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(canonicalQuery(v)))
	if err != nil {
		return nil, nil, fmt.Errorf("aliyun %s: %w", action, pager.RedactURL(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("aliyun %s: %w", action, pager.RedactURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("aliyun %s: read response: %w", action, err)
	}
	return resp, body, nil
}

// throttled recognises flow control: API throttling (Throttling.User,
// Throttling.Api) and per-number business limits (isv.BUSINESS_LIMIT_CONTROL,
// isv.DAY_LIMIT_CONTROL).
func throttled(status int, code string) bool {
	return status == http.StatusTooManyRequests || strings.HasPrefix(code, "Throttling") || strings.Contains(code, "LIMIT_CONTROL")
}

// unknownCodes leave open whether the request was carried out.
var unknownCodes = map[string]bool{"InternalError": true, "ServiceUnavailable": true, "isp.SYSTEM_ERROR": true, "UnknownError": true}

// ReceiptAck is the reply Alibaba requires for an HTTP-push batch: HTTP 200
// with a numeric code, within 700 ms.
var ReceiptAck = []byte(`{"code":0,"msg":"OK"}`)

// NewReceiptHandler serves the HTTP push of VoiceReport and VoiceCallReport
// (POST /notify/aliyun/receipt); the sink deduplicates.
func NewReceiptHandler(sink pager.ReceiptSink, logger *slog.Logger) http.Handler {
	return pager.NewPushHandler(func(_ http.Header, body []byte) ([]pager.Receipt, error) {
		return ParseReceipts(body)
	}, ReceiptAck, sink, logger)
}
