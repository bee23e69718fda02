// Package webhook pages through an in-hospital gateway (SMS modem, PBX) by a
// signed HTTP POST, and verifies the receipts the gateway posts back.
//
// Outbound: POST Config.URL, Content-Type application/json, body Message.
// Both directions carry two headers:
//
//	X-Weibao-Timestamp: <unix seconds>
//	X-Weibao-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// The gateway answers 2xx (optionally {"id":"<call or message id>"}) when it
// accepted the page, 429 when it is throttling, another 4xx when it refuses
// (nothing sent), and 5xx when the outcome is unknown.
//
// Receipts: the gateway POSTs a signed ReceiptMessage to the bot; the reply
// is {"ok":true}.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"weibao/sla/pager"
)

// Header names.
const (
	HeaderTimestamp = "X-Weibao-Timestamp"
	HeaderSignature = "X-Weibao-Signature"
)

// Config configures the gateway. Secret is filled from the environment by
// the main program, never from a committed file.
type Config struct {
	Name       string          `yaml:"name"` // provider name in routes, default "webhook"
	URL        string          `yaml:"url"`
	Secret     string          `yaml:"secret"`
	Channels   []pager.Channel `yaml:"channels"` // default voice and sms
	Timeout    time.Duration   `yaml:"timeout"`  // default 3s
	MaxSkew    time.Duration   `yaml:"max_skew"` // accepted receipt clock skew, default 5m
	VoiceLimit pager.Limit     `yaml:"voice_limit"`
	SMSLimit   pager.Limit     `yaml:"sms_limit"`
}

// Message is the JSON body sent to the gateway.
type Message struct {
	PageID  string        `json:"page_id"`
	Ticket  string        `json:"ticket"`
	Channel pager.Channel `json:"channel"`
	Mobile  string        `json:"mobile"` // national number
	Text    string        `json:"text"`
	Params  []Param       `json:"params"`
}

// Param is one template variable.
type Param struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// ReceiptMessage is the JSON body of a receipt from the gateway.
type ReceiptMessage struct {
	CallID string       `json:"call_id"`
	PageID string       `json:"page_id"`
	Status pager.Status `json:"status"`
	Digits string       `json:"digits"`
	At     time.Time    `json:"at"` // RFC 3339
}

// Sign returns the signature header value for body sent at ts.
func Sign(secret string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks the signature and that the timestamp is within maxSkew of
// now. Failures wrap pager.ErrBadSignature.
func Verify(secret string, h http.Header, body []byte, now time.Time, maxSkew time.Duration) error {
	ts, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: %w: bad timestamp", pager.ErrBadSignature)
	}
	if d := now.Sub(time.Unix(ts, 0)); d > maxSkew || d < -maxSkew {
		return fmt.Errorf("webhook: %w: timestamp off by %s", pager.ErrBadSignature, d.Round(time.Second))
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return fmt.Errorf("webhook: %w", pager.ErrBadSignature)
	}
	return nil
}

// Client is a webhook pager.Notifier.
type Client struct {
	cfg Config
	hc  *http.Client
	now func() time.Time
}

var _ pager.Notifier = (*Client)(nil)

// New checks cfg and fills defaults.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" || cfg.Secret == "" {
		return nil, errors.New("webhook: url and secret are required")
	}
	if cfg.Name == "" {
		cfg.Name = "webhook"
	}
	if cfg.Channels == nil {
		cfg.Channels = []pager.Channel{pager.Voice, pager.SMS}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 5 * time.Minute
	}
	return &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}, now: time.Now}, nil
}

// Provider returns the configured name.
func (c *Client) Provider() string { return c.cfg.Name }

// Channels returns the configured channels.
func (c *Client) Channels() []pager.Channel { return c.cfg.Channels }

// Limit returns the configured gateway limit; unlimited by default.
func (c *Client) Limit(ch pager.Channel) pager.Limit {
	if ch == pager.Voice {
		return c.cfg.VoiceLimit
	}
	return c.cfg.SMSLimit
}

// Send posts one signed Message. It never retries.
func (c *Client) Send(ctx context.Context, ch pager.Channel, p pager.Page) (pager.Sent, error) {
	number, err := pager.NationalNumber(p.Mobile)
	if err != nil {
		return pager.Sent{}, err
	}
	msg := Message{PageID: p.ID, Ticket: p.TicketNumber, Channel: ch, Mobile: number, Text: p.Text, Params: []Param{}}
	for _, prm := range p.Params {
		msg.Params = append(msg.Params, Param(prm))
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return pager.Sent{}, fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return pager.Sent{}, fmt.Errorf("webhook: %w", pager.RedactURL(err))
	}
	ts := c.now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(c.cfg.Secret, ts, body))
	resp, err := c.hc.Do(req)
	if err != nil {
		return pager.Sent{}, fmt.Errorf("webhook %s: %w", c.cfg.Name, pager.RedactURL(err))
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10)) // the body is informational
	if resp.StatusCode/100 == 2 {
		var ack struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(raw, &ack) // an empty or non-JSON 2xx still means accepted
		return pager.Sent{MessageID: ack.ID}, nil
	}
	return pager.Sent{}, &pager.ProviderError{
		Provider: c.cfg.Name, HTTPStatus: resp.StatusCode, Code: strconv.Itoa(resp.StatusCode),
		Message:   fmt.Sprintf("gateway answered %d (%d bytes)", resp.StatusCode, len(raw)),
		Throttled: resp.StatusCode == http.StatusTooManyRequests,
		Unknown:   resp.StatusCode >= 500,
	}
}

// ParseReceipt verifies and parses one receipt from the gateway.
func (c *Client) ParseReceipt(h http.Header, body []byte) ([]pager.Receipt, error) {
	if err := Verify(c.cfg.Secret, h, body, c.now(), c.cfg.MaxSkew); err != nil {
		return nil, err
	}
	var m ReceiptMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("webhook receipt: %w", err)
	}
	if m.CallID == "" {
		return nil, errors.New("webhook receipt: no call_id")
	}
	return []pager.Receipt{{Provider: c.cfg.Name, CallID: m.CallID, PageID: m.PageID, Status: m.Status, Code: string(m.Status), Digits: m.Digits, At: m.At}}, nil
}

// ReceiptReply is the body answering an accepted receipt.
var ReceiptReply = []byte(`{"ok":true}`)

// NewReceiptHandler serves the gateway's signed receipts (the sink
// deduplicates); a bad signature is answered 401.
func (c *Client) NewReceiptHandler(sink pager.ReceiptSink, logger *slog.Logger) http.Handler {
	return pager.NewPushHandler(c.ParseReceipt, ReceiptReply, sink, logger)
}
