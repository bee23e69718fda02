package tencent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/sla/pager"
)

const (
	testID  = "AKIDtest"
	testKey = "test-key"
)

var testNow = time.Date(2025, 3, 1, 23, 59, 30, 0, time.UTC) // 07:59 next day in Beijing: scope must use the UTC date

// verify recomputes TC3 from the received request, written out step by
// step rather than through the client's helpers.
func verify(r *http.Request, body []byte) error {
	h := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	sum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	auth := r.Header.Get("Authorization")
	var cred, signed, sig string
	if _, err := fmt.Sscanf(strings.ReplaceAll(auth, ",", ""), "TC3-HMAC-SHA256 Credential=%s SignedHeaders=%s Signature=%s", &cred, &signed, &sig); err != nil {
		return fmt.Errorf("authorization %q: %v", auth, err)
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 4 || parts[0] != testID || parts[3] != "tc3_request" || signed != "content-type;host" {
		return fmt.Errorf("credential %q signed %q", cred, signed)
	}
	date, service := parts[1], parts[2]
	ts := r.Header.Get("X-TC-Timestamp")
	var sec int64
	fmt.Sscan(ts, &sec)
	if got := time.Unix(sec, 0).UTC().Format("2006-01-02"); got != date {
		return fmt.Errorf("scope date %s, timestamp date %s", date, got)
	}
	canonical := "POST\n/\n\ncontent-type:" + r.Header.Get("Content-Type") + "\nhost:" + r.Host + "\n\ncontent-type;host\n" + sum(body)
	sts := "TC3-HMAC-SHA256\n" + ts + "\n" + date + "/" + service + "/tc3_request\n" + sum([]byte(canonical))
	k := h(h(h([]byte("TC3"+testKey), date), service), "tc3_request")
	if want := hex.EncodeToString(h(k, sts)); !hmac.Equal([]byte(sig), []byte(want)) {
		return fmt.Errorf("signature %s, want %s", sig, want)
	}
	return nil
}

type fakeTencent struct {
	mu     sync.Mutex
	bodies []map[string]any
	hdrs   []http.Header
}

func (f *fakeTencent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	if err := verify(r, body); err != nil {
		fmt.Fprintf(w, `{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":%q},"RequestId":"r-sig"}}`, err.Error())
		return
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	f.mu.Lock()
	f.bodies, f.hdrs = append(f.bodies, m), append(f.hdrs, r.Header.Clone())
	f.mu.Unlock()
	number, _ := m["CalledNumber"].(string)
	if set, ok := m["PhoneNumberSet"].([]any); ok && len(set) == 1 {
		number, _ = set[0].(string)
	}
	sms := r.Header.Get("X-TC-Action") == "SendSms"
	switch {
	case number == "+8613800000001" && sms:
		fmt.Fprint(w, `{"Response":{"SendStatusSet":[{"SerialNo":"5000:1045710669157053657849499619","PhoneNumber":"+8613800000001","Fee":1,"SessionContext":"1024-2","Code":"Ok","Message":"send success","IsoCode":"CN"}],"RequestId":"r-1"}}`)
	case number == "+8613800000001":
		fmt.Fprint(w, `{"Response":{"SendStatus":{"CallId":"8f2bb9a5-e9d5-4c3f","SessionContext":"1024-2"},"RequestId":"r-1"}}`)
	case number == "+8613800000002" && sms:
		fmt.Fprint(w, `{"Response":{"SendStatusSet":[{"SerialNo":"","PhoneNumber":"+8613800000002","Fee":0,"SessionContext":"","Code":"LimitExceeded.PhoneNumberDailyLimit","Message":"daily limit","IsoCode":"CN"}],"RequestId":"r-2"}}`)
	case number == "+8613800000002":
		fmt.Fprint(w, `{"Response":{"Error":{"Code":"LimitExceeded.DeliveryFrequencyLimit","Message":"frequency limit"},"RequestId":"r-2"}}`)
	case number == "+8613800000003":
		fmt.Fprint(w, `{"Response":{"Error":{"Code":"FailedOperation.TemplateIncorrectOrUnapproved","Message":"template"},"RequestId":"r-3"}}`)
	case number == "+8613800000004":
		fmt.Fprint(w, `{"Response":{"Error":{"Code":"InternalError.Timeout","Message":"backend timeout"},"RequestId":"r-4"}}`)
	case number == "+8613800000005":
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, `<html>bad gateway</html>`)
	default:
		fmt.Fprint(w, `{"Response":{"Error":{"Code":"InvalidParameterValue","Message":"number"},"RequestId":"r-x"}}`)
	}
}

var baseCfg = Config{
	VoiceSdkAppID: "1400006666", VoiceTemplateID: "1001", PlayTimes: 2, VoiceParams: []string{"ticket", "ward"},
	SMSSdkAppID: "1400007777", SMSTemplateID: "2002", SignName: "Hospital IT", SMSParams: []string{"ticket"},
}

func newTestClient(t *testing.T, secretKey string) (*Client, *fakeTencent) {
	t.Helper()
	f := &fakeTencent{}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := baseCfg
	cfg.SecretID, cfg.SecretKey, cfg.VMSEndpoint, cfg.SMSEndpoint, cfg.Timeout = testID, secretKey, srv.URL+"/", srv.URL+"/", time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return testNow }
	return c, f
}

func page(number string) pager.Page {
	return pager.Page{ID: "1024-2", Mobile: number, Params: []pager.Param{{Name: "ward", Value: "ICU 3"}, {Name: "ticket", Value: "1024"}}}
}

func TestClientSend(t *testing.T) {
	tests := []struct {
		name          string
		key           string
		ch            pager.Channel
		number        string
		wantID        string
		wantThrottled bool
		wantNotSent   bool
	}{
		{name: "voice ok", ch: pager.Voice, number: "13800000001", wantID: "8f2bb9a5-e9d5-4c3f"},
		{name: "sms ok", ch: pager.SMS, number: "+86 13800000001", wantID: "5000:1045710669157053657849499619"},
		{name: "voice frequency limit", ch: pager.Voice, number: "13800000002", wantThrottled: true, wantNotSent: true},
		{name: "sms per-number status limit", ch: pager.SMS, number: "13800000002", wantThrottled: true, wantNotSent: true},
		{name: "bad template", ch: pager.Voice, number: "13800000003", wantNotSent: true},
		{name: "internal error", ch: pager.Voice, number: "13800000004"},
		{name: "non-json gateway error", ch: pager.Voice, number: "13800000005"},
		{name: "wrong key", key: "wrong", ch: pager.Voice, number: "13800000001", wantNotSent: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testKey
			if tt.key != "" {
				key = tt.key
			}
			c, _ := newTestClient(t, key)
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
	c, f := newTestClient(t, testKey)
	for _, ch := range []pager.Channel{pager.Voice, pager.SMS} {
		if _, err := c.Send(context.Background(), ch, page("13800000001")); err != nil {
			t.Fatal(err)
		}
	}
	want := []map[string]any{
		{"TemplateId": "1001", "TemplateParamSet": []any{"1024", "ICU 3"}, "CalledNumber": "+8613800000001",
			"VoiceSdkAppid": "1400006666", "PlayTimes": 2.0, "SessionContext": "1024-2"},
		{"PhoneNumberSet": []any{"+8613800000001"}, "SmsSdkAppId": "1400007777", "TemplateId": "2002",
			"SignName": "Hospital IT", "TemplateParamSet": []any{"1024"}, "SessionContext": "1024-2"},
	}
	if diff := cmp.Diff(want, f.bodies); diff != "" {
		t.Errorf("bodies (-want +got):\n%s", diff)
	}
	for i, w := range [][3]string{{"SendTtsVoice", "2020-09-02", "ap-guangzhou"}, {"SendSms", "2021-01-11", "ap-guangzhou"}} {
		h := f.hdrs[i]
		if got := [3]string{h.Get("X-TC-Action"), h.Get("X-TC-Version"), h.Get("X-TC-Region")}; got != w {
			t.Errorf("request %d headers = %v, want %v", i, got, w)
		}
	}
}

func TestParseCallback(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []pager.Receipt
	}{
		{"status answered", `{"voiceprompt_callback":{"result":"0","accept_time":"1470197211","call_from":"","callid":"xxxxxx","end_calltime":"1470197221","fee":"1","mobile":"13xxxxxxxxx","nationcode":"86","start_calltime":"1470197196"}}`,
			[]pager.Receipt{{Provider: "tencent", CallID: "xxxxxx", Status: pager.StatusAnswered, Code: "0", At: time.Unix(1470197221, 0)}}},
		{"status not answered", `{"voiceprompt_callback":{"result":"1","callid":"c2","end_calltime":""}}`,
			[]pager.Receipt{{Provider: "tencent", CallID: "c2", Status: pager.StatusNoAnswer, Code: "1"}}},
		{"status error", `{"voiceprompt_callback":{"result":2,"callid":"c3"}}`,
			[]pager.Receipt{{Provider: "tencent", CallID: "c3", Status: pager.StatusFailed, Code: "2"}}},
		{"keypress", `{"voicekey_callback":{"call_from":"","callid":"xxxxxx","keypress":"1","mobile":"13xxxxxxxxx","nationcode":"86"}}`,
			[]pager.Receipt{{Provider: "tencent", CallID: "xxxxxx", Status: pager.StatusKeypress, Digits: "1"}}},
		{"other kind", `{"voicefailure_callback":{"callid":"c4"}}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCallback([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("receipts (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{`nope`, `{"voicekey_callback":{"keypress":"1"}}`} {
		if _, err := ParseCallback([]byte(bad)); err == nil {
			t.Errorf("ParseCallback(%s) succeeded", bad)
		}
	}
}

func TestCallbackHandler(t *testing.T) {
	var got []pager.Receipt
	sink := pager.ReceiptFunc(func(_ context.Context, rs []pager.Receipt) error { got = append(got, rs...); return nil })
	h := NewCallbackHandler(sink, nil)
	body := `{"voicekey_callback":{"callid":"c1","keypress":"1"}}`
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notify/tencent/voice", strings.NewReader(body)))
		if rec.Code != http.StatusOK || rec.Body.String() != `{"result":0,"errmsg":"OK"}` {
			t.Fatalf("reply = %d %s", rec.Code, rec.Body)
		}
	}
	// Both deliveries reach the sink, which deduplicates on Receipt.Key.
	if len(got) != 2 || !got[0].Acknowledged() || got[0].Key() != got[1].Key() {
		t.Errorf("sink got %+v, want the same acknowledging receipt twice", got)
	}
}

func TestLimits(t *testing.T) {
	c, _ := newTestClient(t, testKey)
	if diff := cmp.Diff(VoiceLimit(), c.Limit(pager.Voice)); diff != "" {
		t.Errorf("voice limit (-want +got):\n%s", diff)
	}
	raised := pager.Limit{Rules: []pager.Rule{{Window: time.Hour, Max: 10}}}
	c.cfg.SMSLimit = &raised
	if diff := cmp.Diff(raised, c.Limit(pager.SMS)); diff != "" {
		t.Errorf("sms limit (-want +got):\n%s", diff)
	}
}

func TestSendHidesURLSecrets(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL + "/?SecretId=AKID-leak"
	srv.Close()
	cfg := baseCfg
	cfg.SecretID, cfg.SecretKey, cfg.SMSEndpoint, cfg.Timeout = testID, "key-leak", endpoint, time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), pager.SMS, page("13800000001"))
	if err == nil || !pager.NotSent(err) {
		t.Fatalf("err = %v, want a not-sent dial error", err)
	}
	for _, leak := range []string{"AKID-leak", "key-leak"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error shows %q: %v", leak, err)
		}
	}
}
