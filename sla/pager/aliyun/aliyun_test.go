package aliyun

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/sla/pager"
	"weibao/sla/pager/pagertest"
)

const (
	testID     = "LTAItestid"
	testSecret = "test-secret"
)

var testNow = time.Date(2025, 3, 1, 2, 3, 4, 0, time.UTC)

// rfc3986 is written independently of the client's url.QueryEscape-based
// encoder, so the server does not share the client's mistakes.
func rfc3986(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// verify recomputes the V2 signature from the received form.
func verify(r *http.Request, secret string) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	got := r.PostForm.Get("Signature")
	keys := make([]string, 0, len(r.PostForm))
	for k := range r.PostForm {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = rfc3986(k) + "=" + rfc3986(r.PostForm.Get(k))
	}
	sts := r.Method + "&%2F&" + rfc3986(strings.Join(pairs, "&"))
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(sts))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(got), []byte(want)) {
		return fmt.Errorf("signature %q, want %q", got, want)
	}
	return nil
}

// fakeAliyun answers like Dyvmsapi/Dysmsapi; the called number picks the answer.
type fakeAliyun struct {
	t    *testing.T
	mu   sync.Mutex
	reqs []url.Values
}

func (f *fakeAliyun) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := verify(r, testSecret); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"RequestId":"r-sig","Code":"SignatureDoesNotMatch","Message":%q}`, err.Error())
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, r.PostForm)
	f.mu.Unlock()
	number := r.PostForm.Get("CalledNumber") + r.PostForm.Get("PhoneNumbers")
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	switch number {
	case "13800000001":
		if r.PostForm.Get("Action") == "SendSms" {
			fmt.Fprint(w, `{"Message":"OK","RequestId":"r-1","BizId":"900619746936498440^0","Code":"OK"}`)
			return
		}
		fmt.Fprint(w, `{"Message":"OK","RequestId":"r-1","CallId":"116012354148^102","Code":"OK"}`)
	case "13800000002":
		fmt.Fprint(w, `{"Message":"触发号码天级流控Permits:20","RequestId":"r-2","Code":"isv.BUSINESS_LIMIT_CONTROL"}`)
	case "13800000003":
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"Message":"The specified templateCode is wrongly formed.","RequestId":"r-3","Code":"isv.SMS_TEMPLATE_ILLEGAL"}`)
	case "13800000004":
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"Message":"The request has failed due to a temporary failure of the server.","RequestId":"r-4","Code":"ServiceUnavailable"}`)
	case "13800000005":
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, `<html>bad gateway</html>`)
	case "13800000006":
		<-r.Context().Done() // hang until the client gives up
	case "13800000007":
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"Message":"Request was denied due to user flow control.","RequestId":"r-7","Code":"Throttling.User"}`)
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"Message":"unexpected number","RequestId":"r-x","Code":"isv.MOBILE_NUMBER_ILLEGAL"}`)
	}
}

func newTestClient(t *testing.T, cfg Config) (*Client, *fakeAliyun) {
	t.Helper()
	f := &fakeAliyun{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg.AccessKeyID, cfg.VoiceEndpoint, cfg.SMSEndpoint = testID, srv.URL+"/", srv.URL+"/"
	if cfg.AccessKeySecret == "" {
		cfg.AccessKeySecret = testSecret
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return testNow }
	c.nonce = func() string { return "nonce-1" }
	return c, f
}

func page(number string) pager.Page {
	return pager.Page{ID: "1024-2", TicketNumber: "1024", Mobile: number,
		Params: []pager.Param{{Name: "ticket", Value: "1024"}, {Name: "ward", Value: "ICU 3"}}}
}

var baseCfg = Config{TTSCode: "TTS_1001", PlayTimes: 2, SignName: "Hospital IT", SMSTemplateCode: "SMS_2002", SMSParams: []string{"ticket"}}

func TestClientSend(t *testing.T) {
	tests := []struct {
		name          string
		cfg           Config
		ch            pager.Channel
		number        string
		wantID        string
		wantThrottled bool
		wantNotSent   bool // the error proves nothing happened
	}{
		{name: "voice ok", ch: pager.Voice, number: "+8613800000001", wantID: "116012354148^102"},
		{name: "sms ok", ch: pager.SMS, number: "13800000001", wantID: "900619746936498440^0"},
		{name: "business limit", ch: pager.Voice, number: "13800000002", wantThrottled: true, wantNotSent: true},
		{name: "api throttling", ch: pager.SMS, number: "13800000007", wantThrottled: true, wantNotSent: true},
		{name: "bad template", ch: pager.SMS, number: "13800000003", wantNotSent: true},
		{name: "service unavailable", ch: pager.Voice, number: "13800000004"},
		{name: "non-json gateway error", ch: pager.Voice, number: "13800000005"},
		{name: "timeout", cfg: Config{Timeout: 50 * time.Millisecond}, ch: pager.Voice, number: "13800000006"},
		{name: "wrong secret", cfg: Config{AccessKeySecret: "wrong"}, ch: pager.Voice, number: "13800000001", wantNotSent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseCfg
			cfg.Timeout, cfg.AccessKeySecret = tt.cfg.Timeout, tt.cfg.AccessKeySecret
			c, _ := newTestClient(t, cfg)
			sent, err := c.Send(context.Background(), tt.ch, page(tt.number))
			if tt.wantID != "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if sent.MessageID != tt.wantID {
					t.Errorf("MessageID = %q, want %q", sent.MessageID, tt.wantID)
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded, want error")
			}
			if got := errors.Is(err, pager.ErrThrottled); got != tt.wantThrottled {
				t.Errorf("throttled = %v, want %v (%v)", got, tt.wantThrottled, err)
			}
			if got := pager.NotSent(err); got != tt.wantNotSent {
				t.Errorf("NotSent = %v, want %v (%v)", got, tt.wantNotSent, err)
			}
		})
	}
}

func TestClientRequests(t *testing.T) {
	ivr := baseCfg
	ivr.IVR = IVR{ShowNumber: "057188886666", StartCode: "TTS_3003", AckCode: "TTS_3004", KeyTimeout: 10 * time.Second}
	common := map[string]string{
		"AccessKeyId": testID, "Format": "JSON", "RegionId": "cn-hangzhou", "SignatureMethod": "HMAC-SHA1",
		"SignatureNonce": "nonce-1", "SignatureVersion": "1.0", "Timestamp": "2025-03-01T02:03:04Z", "Version": "2017-05-25",
	}
	tests := []struct {
		name string
		cfg  Config
		ch   pager.Channel
		want map[string]string
	}{
		{"SingleCallByTts", baseCfg, pager.Voice, map[string]string{
			"Action": "SingleCallByTts", "CalledNumber": "13800000001", "TtsCode": "TTS_1001", "OutId": "1024-2",
			"TtsParam": `{"ticket":"1024","ward":"ICU 3"}`, "PlayTimes": "2",
		}},
		{"IvrCall", ivr, pager.Voice, map[string]string{
			"Action": "IvrCall", "CalledShowNumber": "057188886666", "CalledNumber": "13800000001", "StartCode": "TTS_3003",
			"StartTtsParams": `{"ticket":"1024","ward":"ICU 3"}`, "MenuKeyMap.1.Key": "1", "MenuKeyMap.1.Code": "TTS_3004",
			"MenuKeyMap.1.TtsParams": `{"ticket":"1024","ward":"ICU 3"}`, "Timeout": "10000", "PlayTimes": "2", "OutId": "1024-2",
		}},
		{"SendSms", baseCfg, pager.SMS, map[string]string{
			"Action": "SendSms", "PhoneNumbers": "13800000001", "SignName": "Hospital IT", "TemplateCode": "SMS_2002",
			"TemplateParam": `{"ticket":"1024"}`, "OutId": "1024-2",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newTestClient(t, tt.cfg)
			if _, err := c.Send(context.Background(), tt.ch, page("13800000001")); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for k, v := range common {
				want[k] = v
			}
			for k, v := range tt.want {
				want[k] = v
			}
			got := map[string]string{}
			for k := range f.reqs[0] {
				if k != "Signature" {
					got[k] = f.reqs[0].Get(k)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientRejectsBeforeSending(t *testing.T) {
	c, f := newTestClient(t, baseCfg)
	p := page("13800000001")
	p.ID = "a-page-id-longer-than-15"
	if _, err := c.Send(context.Background(), pager.Voice, p); !errors.Is(err, pager.ErrInvalidPage) {
		t.Errorf("err = %v, want ErrInvalidPage", err)
	}
	if len(f.reqs) != 0 {
		t.Error("request was sent")
	}
}

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no key":         {TTSCode: "T"},
		"no channel":     {AccessKeyID: "a", AccessKeySecret: "s"},
		"ivr no codes":   {AccessKeyID: "a", AccessKeySecret: "s", IVR: IVR{ShowNumber: "0571"}},
		"sms no signame": {AccessKeyID: "a", AccessKeySecret: "s", SMSTemplateCode: "SMS_1"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	c, err := New(Config{AccessKeyID: "a", AccessKeySecret: "s", SMSTemplateCode: "SMS_1", SignName: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]pager.Channel{pager.SMS}, c.Channels()); diff != "" {
		t.Errorf("Channels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(SMSLimit(), c.Limit(pager.SMS)); diff != "" {
		t.Errorf("Limit (-want +got):\n%s", diff)
	}
}

func TestParseReceipts(t *testing.T) {
	body := `[
 {"status_code":"300000","smart_status_code":"ANSWERED","dtmf":"1","status_time":"2023-03-06 16:21:12","out_id":"1024-2","call_id":"116012354148^102"},
 {"call_id":"116012354148^102","caller":"057188886666","callee":"13800000001","start_time":"2023-03-06 16:21:01","end_time":"2023-03-06 16:21:30","duration":29,"status_code":200000,"status_msg":"ok","hangup_direction":2,"out_id":"1024-2","dtmf":"1"},
 {"call_id":"c2","status_code":"200003","end_time":"2023-03-06 16:25:00","out_id":"1025-1"},
 {"call_id":"c3","status_code":"200119","out_id":"1026-1"}
]`
	got, err := ParseReceipts([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, _ := time.ParseInLocation(time.DateTime, s, pager.Beijing)
		return tm
	}
	want := []pager.Receipt{
		{Provider: "aliyun", CallID: "116012354148^102", PageID: "1024-2", Status: pager.StatusKeypress, Code: "300000", Digits: "1", At: at("2023-03-06 16:21:12")},
		{Provider: "aliyun", CallID: "116012354148^102", PageID: "1024-2", Status: pager.StatusAnswered, Code: "200000", Digits: "1", At: at("2023-03-06 16:21:30")},
		{Provider: "aliyun", CallID: "c2", PageID: "1025-1", Status: pager.StatusNoAnswer, Code: "200003", At: at("2023-03-06 16:25:00")},
		{Provider: "aliyun", CallID: "c3", PageID: "1026-1", Status: pager.StatusThrottled, Code: "200119"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("receipts (-want +got):\n%s", diff)
	}
	if !got[0].Acknowledged() {
		t.Error("dtmf 1 does not acknowledge")
	}
	for _, bad := range []string{`{}`, `[{"status_code":"200000"}]`, `not json`} {
		if _, err := ParseReceipts([]byte(bad)); err == nil {
			t.Errorf("ParseReceipts(%s) succeeded", bad)
		}
	}
}

func TestReceiptHandler(t *testing.T) {
	var got []pager.Receipt
	sink := pager.ReceiptFunc(func(_ context.Context, rs []pager.Receipt) error { got = append(got, rs...); return nil })
	h := NewReceiptHandler(sink, nil)
	body := `[{"call_id":"c1","status_code":"300000","dtmf":"1","out_id":"1024-2"}]`
	for range 2 { // Alibaba redelivers
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notify/aliyun/receipt", strings.NewReader(body)))
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d", rec.Code)
		}
		var reply struct {
			Code *json.Number `json:"code"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || reply.Code == nil || reply.Code.String() != "0" {
			t.Errorf("reply = %s, want a numeric code 0", rec.Body)
		}
	}
	// Both deliveries reach the sink, which deduplicates on Receipt.Key.
	if len(got) != 2 || !got[0].Acknowledged() || got[0].Key() != got[1].Key() {
		t.Errorf("sink got %+v, want the same acknowledging receipt twice", got)
	}
}

func TestRegistryWithClient(t *testing.T) {
	c, f := newTestClient(t, baseCfg)
	now := testNow
	r, err := pager.NewRegistry(pager.Config{Routes: []pager.Route{{Provider: Provider, Channel: pager.Voice}, {Provider: Provider, Channel: pager.SMS}}},
		pager.Options{Once: &pagertest.Once{}, Now: func() time.Time { return now }}, c)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []pager.Outcome
	for range 2 { // the same page redelivered an hour later, e.g. after a restart
		now = now.Add(time.Hour) // past the per-number limit
		attempts, err := r.Page(context.Background(), page("13800000001"))
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range attempts {
			outcomes = append(outcomes, a.Outcome)
		}
	}
	if diff := cmp.Diff([]pager.Outcome{pager.OutcomeSent, pager.OutcomeDuplicate, pager.OutcomeSent}, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	var actions []string
	for _, v := range f.reqs {
		actions = append(actions, v.Get("Action"))
	}
	if diff := cmp.Diff([]string{"SingleCallByTts", "SendSms"}, actions); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestSendHidesURLSecrets(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL + "/?AccessKeyId=LTAI-leak&Signature=sig-leak"
	srv.Close()
	c, err := New(Config{AccessKeyID: testID, AccessKeySecret: testSecret, SMSTemplateCode: "SMS_1", SignName: "x",
		SMSEndpoint: endpoint, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), pager.SMS, pager.Page{ID: "p", Mobile: "13800000001"})
	if err == nil || !pager.NotSent(err) {
		t.Fatalf("err = %v, want a not-sent dial error", err)
	}
	for _, leak := range []string{"LTAI-leak", "sig-leak", testSecret} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error shows %q: %v", leak, err)
		}
	}
}
