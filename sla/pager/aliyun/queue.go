package aliyun

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"weibao/sla/pager"
)

// Queues are the receipt queues of 轻量消息队列 (formerly MNS) that the
// console's 回执消息 subscription creates, one per message type. Pulling
// needs outbound HTTPS only; the HTTP push needs a public URL.
type Queues struct {
	VoiceReport string `yaml:"voice_report"` // Alicom-Queue-<uid>-VoiceReport: call results and the key pressed
	SmsReport   string `yaml:"sms_report"`   // Alicom-Queue-<uid>-SmsReport: SMS delivery
	// Endpoint is the queues' MNS endpoint, the same for every customer
	// (the queues live in Alibaba's account); default below.
	Endpoint string `yaml:"endpoint"`
	// TokenEndpoint is Dybaseapi, which exchanges the AccessKey for the
	// queue's temporary token (QueryTokenForMnsQueue).
	TokenEndpoint string `yaml:"token_endpoint"`
	// Wait is the long poll, at most 30s (the service's limit); default 30s.
	Wait time.Duration `yaml:"wait"`
}

// Configured reports whether a queue is named.
func (q Queues) Configured() bool { return q.VoiceReport != "" || q.SmsReport != "" }

const (
	defaultMNSEndpoint   = "https://1943695596114318.mns.cn-hangzhou.aliyuncs.com/"
	defaultTokenEndpoint = "https://dybaseapi.aliyuncs.com/"
	mnsVersion           = "2015-06-06"
	// tokenMargin renews a temporary token before it expires, as the
	// official pullers do (2 minutes).
	tokenMargin = 2 * time.Minute
	maxBackoff  = time.Minute
)

// Puller long-polls the receipt queues and hands each message's receipts
// to the sink, deleting a message only once the sink stored it: a crash in
// between redelivers it after the queue's visibility timeout, and the sink
// is idempotent.
type Puller struct {
	c      *Client
	hc     *http.Client // the long poll outlasts the client's per-request timeout
	sink   pager.ReceiptSink
	log    *slog.Logger
	queues []queue
	sleep  func(ctx context.Context, d time.Duration) bool

	mu     sync.Mutex
	tokens map[string]token // by message type
}

type queue struct{ kind, name string }

type token struct {
	id, secret, security string
	expires              time.Time
}

// NewPuller checks cfg (the provider's, with Queues set) and fills the
// queue defaults. A nil logger discards.
func NewPuller(cfg Config, sink pager.ReceiptSink, logger *slog.Logger) (*Puller, error) {
	if cfg.AccessKeyID == "" || cfg.AccessKeySecret == "" {
		return nil, errors.New("aliyun queues: access key id and secret are required")
	}
	q := cfg.Queues
	if !q.Configured() {
		return nil, errors.New("aliyun queues: name voice_report or sms_report")
	}
	if q.Endpoint == "" {
		q.Endpoint = defaultMNSEndpoint
	}
	if q.TokenEndpoint == "" {
		q.TokenEndpoint = defaultTokenEndpoint
	}
	if q.Wait <= 0 || q.Wait > 30*time.Second {
		q.Wait = 30 * time.Second
	}
	cfg.Queues = q
	if cfg.RegionID == "" {
		cfg.RegionID = "cn-hangzhou"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &Puller{
		c:    &Client{cfg: cfg, hc: &http.Client{Timeout: cfg.Timeout}, now: time.Now, nonce: newNonce},
		hc:   &http.Client{Timeout: q.Wait + cfg.Timeout},
		sink: sink, log: logger, sleep: sleep, tokens: map[string]token{},
	}
	for _, k := range []queue{{"VoiceReport", q.VoiceReport}, {"SmsReport", q.SmsReport}} {
		if k.name != "" {
			p.queues = append(p.queues, k)
		}
	}
	return p, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Run pulls every queue until ctx ends, backing off (1 s doubling to a
// minute) while a queue, its token or the sink fails.
func (p *Puller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, q := range p.queues {
		wg.Go(func() {
			backoff := time.Second
			for ctx.Err() == nil {
				err := p.Pull(ctx, q.kind, q.name)
				if err == nil {
					backoff = time.Second
					continue
				}
				if ctx.Err() != nil {
					return
				}
				p.log.Warn("pull receipts", "queue", q.name, "err", err, "retry_in", backoff)
				if !p.sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, maxBackoff)
			}
		})
	}
	wg.Wait()
	return nil
}

// Pull takes one batch (up to 16 messages, waiting up to Queues.Wait for
// the first) from the queue of a message type, stores its receipts and
// deletes the messages stored.
func (p *Puller) Pull(ctx context.Context, kind, name string) error {
	tok, err := p.token(ctx, kind, name)
	if err != nil {
		return err
	}
	path := "/queues/" + url.PathEscape(name) + "/messages"
	q := fmt.Sprintf("numOfMessages=16&waitseconds=%d", int(p.c.cfg.Queues.Wait/time.Second))
	status, body, err := p.mns(ctx, tok, http.MethodGet, path+"?"+q)
	if err != nil {
		return err
	}
	if status == http.StatusNotFound && mnsCode(body) == "MessageNotExist" {
		return nil // the long poll ended with an empty queue
	}
	if status != http.StatusOK {
		return p.mnsError(kind, "receive", status, body)
	}
	var batch struct {
		Messages []struct {
			MessageID      string `xml:"MessageId"`
			ReceiptHandle  string `xml:"ReceiptHandle"`
			MessageBody    string `xml:"MessageBody"`
			MessageBodyMD5 string `xml:"MessageBodyMD5"`
		} `xml:"Message"`
	}
	if err := xml.Unmarshal(body, &batch); err != nil {
		return fmt.Errorf("aliyun queue %s: receive: %w", name, err)
	}
	var rs []pager.Receipt
	var handles []string
	for _, m := range batch.Messages {
		got, err := parseMessage(kind, m.MessageBody, m.MessageBodyMD5)
		if err != nil {
			// Redelivering it would fail the same way for ever: drop it, loudly.
			// A lost call result is covered by the next escalation step.
			p.log.Error("unreadable receipt message dropped", "queue", name, "message_id", m.MessageID, "err", err)
		}
		rs = append(rs, got...)
		handles = append(handles, m.ReceiptHandle)
	}
	if len(rs) > 0 {
		if err := p.sink.Receipts(ctx, rs); err != nil {
			return fmt.Errorf("aliyun queue %s: store receipts: %w", name, err)
		}
	}
	for _, h := range handles {
		status, body, err := p.mns(ctx, tok, http.MethodDelete, path+"?ReceiptHandle="+url.QueryEscape(h))
		if err == nil && status != http.StatusNoContent {
			err = p.mnsError(kind, "delete", status, body)
		}
		if err != nil {
			// Stored already: the redelivery is dropped as a duplicate.
			p.log.Warn("delete receipt message", "queue", name, "err", err)
		}
	}
	return nil
}

// parseMessage decodes one queue message: a Base64 JSON record, its
// MessageBodyMD5 the hex MD5 of the Base64 text. The record is parsed as
// the HTTP push's records are.
func parseMessage(kind, body, sum string) ([]pager.Receipt, error) {
	if want := md5.Sum([]byte(body)); sum != "" && !strings.EqualFold(sum, hex.EncodeToString(want[:])) {
		return nil, errors.New("message body does not match its MD5")
	}
	raw, err := base64.StdEncoding.DecodeString(body)
	if err != nil {
		return nil, fmt.Errorf("message body: %w", err)
	}
	switch kind {
	case "SmsReport":
		return ParseSMSReports(raw)
	default:
		return ParseReceipts(raw)
	}
}

// mnsError is a non-success answer; an authorization failure drops the
// token so that the next pull asks for a fresh one.
func (p *Puller) mnsError(kind, op string, status int, body []byte) error {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		p.mu.Lock()
		delete(p.tokens, kind)
		p.mu.Unlock()
	}
	return &pager.ProviderError{Provider: Provider, HTTPStatus: status, Code: mnsCode(body), Message: "queue " + op}
}

func mnsCode(body []byte) string {
	var e struct {
		Code string `xml:"Code"`
	}
	_ = xml.Unmarshal(body, &e) // no code when unreadable
	return e.Code
}

// mns sends one signed MNS request (the queue's own scheme, not the RPC
// one): Authorization: MNS <id>:base64(HMAC-SHA1(secret, METHOD\n
// Content-MD5\nContent-Type\nDate\n + x-mns-* headers + resource)), the
// temporary token in security-token.
func (p *Puller) mns(ctx context.Context, tok token, method, resource string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(p.c.cfg.Queues.Endpoint, "/")+resource, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("aliyun queue: %w", pager.RedactURL(err))
	}
	date := p.c.now().UTC().Format(http.TimeFormat)
	req.Header.Set("Date", date)
	req.Header.Set("x-mns-version", mnsVersion)
	req.Header.Set("security-token", tok.security)
	req.Header.Set("Authorization", "MNS "+tok.id+":"+MNSSignature(tok.secret, method, "", "", date, req.Header, resource))
	resp, err := p.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("aliyun queue: %w", pager.RedactURL(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("aliyun queue: read response: %w", err)
	}
	return resp.StatusCode, body, nil
}

// MNSSignature is the queue service's request signature; exported for the
// fake queue, which checks it as the service does.
func MNSSignature(secret, method, contentMD5, contentType, date string, h http.Header, resource string) string {
	var names []string
	for k := range h {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-mns-") {
			names = append(names, lk)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(method + "\n" + contentMD5 + "\n" + contentType + "\n" + date + "\n")
	for _, k := range names {
		b.WriteString(k + ":" + strings.TrimSpace(h.Get(k)) + "\n")
	}
	b.WriteString(resource)
	m := hmac.New(sha1.New, []byte(secret))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// token returns the message type's temporary queue token, asking
// Dybaseapi for a new one when none is held or it is about to expire.
func (p *Puller) token(ctx context.Context, kind, name string) (token, error) {
	now := p.c.now()
	p.mu.Lock()
	t, ok := p.tokens[kind]
	p.mu.Unlock()
	if ok && now.Before(t.expires.Add(-tokenMargin)) {
		return t, nil
	}
	v := url.Values{"MessageType": {kind}, "QueueName": {name}}
	p.c.common(v, "QueryTokenForMnsQueue")
	resp, body, err := rpc(ctx, p.c.hc, p.c.cfg.AccessKeySecret, p.c.cfg.Queues.TokenEndpoint, "QueryTokenForMnsQueue", v)
	if err != nil {
		return token{}, err
	}
	var r struct {
		Code, Message string
		RequestID     string `json:"RequestId"`
		DTO           struct {
			AccessKeyID     string `json:"AccessKeyId"`
			AccessKeySecret string
			SecurityToken   string
			ExpireTime      string
		} `json:"MessageTokenDTO"`
	}
	if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != http.StatusOK || r.Code != "OK" || r.DTO.AccessKeyID == "" {
		return token{}, &pager.ProviderError{Provider: Provider, HTTPStatus: resp.StatusCode, Code: r.Code,
			Message: "QueryTokenForMnsQueue: " + r.Message, RequestID: r.RequestID}
	}
	t = token{id: r.DTO.AccessKeyID, secret: r.DTO.AccessKeySecret, security: r.DTO.SecurityToken}
	// ExpireTime is Beijing time, "2006-01-02 15:04:05"; an unreadable one
	// is renewed soon rather than trusted.
	if t.expires, err = time.ParseInLocation(time.DateTime, r.DTO.ExpireTime, pager.Beijing); err != nil {
		t.expires = now.Add(tokenMargin + 5*time.Minute)
	}
	p.mu.Lock()
	p.tokens[kind] = t
	p.mu.Unlock()
	return t, nil
}
