package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/sla/pager"
)

const secret = "whsec-test"

var testNow = time.Unix(1700000000, 0)

// Computed independently (Python hmac) for secret "whsec-test".
func TestSignVector(t *testing.T) {
	got := Sign(secret, 1700000000, []byte(`{"page_id":"1024-2"}`))
	if want := "v1=28e1a3326f673dfcf9b3a05b1ca6f5eeabd051e99491b56bf6111b434fb35170"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"call_id":"c1"}`)
	hdr := func(ts int64, sig string) http.Header {
		h := http.Header{}
		h.Set(HeaderTimestamp, fmt.Sprint(ts))
		h.Set(HeaderSignature, sig)
		return h
	}
	now := testNow.Unix()
	tests := []struct {
		name string
		h    http.Header
		body []byte
		ok   bool
	}{
		{"valid", hdr(now, Sign(secret, now, body)), body, true},
		{"valid within skew", hdr(now-299, Sign(secret, now-299, body)), body, true},
		{"tampered body", hdr(now, Sign(secret, now, body)), []byte(`{"call_id":"c2"}`), false},
		{"wrong secret", hdr(now, Sign("other", now, body)), body, false},
		{"replayed old timestamp", hdr(now-301, Sign(secret, now-301, body)), body, false},
		{"future timestamp", hdr(now+301, Sign(secret, now+301, body)), body, false},
		{"timestamp swapped", hdr(now+1, Sign(secret, now, body)), body, false},
		{"no headers", http.Header{}, body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(secret, tt.h, tt.body, testNow, 5*time.Minute)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, pager.ErrBadSignature) {
				t.Errorf("err = %v, want ErrBadSignature", err)
			}
		})
	}
}

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Config{URL: srv.URL + "/page", Secret: secret, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c.now = func() time.Time { return testNow }
	return c
}

func TestClientSend(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		reply         string
		wantID        string
		wantErr       bool
		wantThrottled bool
		wantNotSent   bool
	}{
		{name: "accepted with id", status: 200, reply: `{"id":"pbx-77"}`, wantID: "pbx-77"},
		{name: "accepted without body", status: 202},
		{name: "throttled", status: 429, wantErr: true, wantThrottled: true, wantNotSent: true},
		{name: "refused", status: 400, wantErr: true, wantNotSent: true},
		{name: "gateway failure", status: 502, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotBody string
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				// Recompute the signature independently of Sign.
				m := hmac.New(sha256.New, []byte(secret))
				m.Write([]byte(r.Header.Get(HeaderTimestamp) + "." + string(body)))
				if r.Header.Get(HeaderSignature) != "v1="+hex.EncodeToString(m.Sum(nil)) {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				gotBody = string(body)
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.reply)
			})
			p := pager.Page{ID: "1024-2", TicketNumber: "1024", Mobile: "+8613800000001", Text: "ticket 1024 due", Params: []pager.Param{{Name: "ticket", Value: "1024"}}}
			sent, err := c.Send(context.Background(), pager.Voice, p)
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				if sent.MessageID != tt.wantID {
					t.Errorf("MessageID = %q, want %q", sent.MessageID, tt.wantID)
				}
				want := `{"page_id":"1024-2","ticket":"1024","channel":"voice","mobile":"13800000001","text":"ticket 1024 due","params":[{"name":"ticket","value":"1024"}]}`
				if gotBody != want {
					t.Errorf("body =\n%s\nwant\n%s", gotBody, want)
				}
				return
			}
			if err == nil {
				t.Fatal("Send succeeded, want error")
			}
			if got := errors.Is(err, pager.ErrThrottled); got != tt.wantThrottled {
				t.Errorf("throttled = %v, want %v", got, tt.wantThrottled)
			}
			if got := pager.NotSent(err); got != tt.wantNotSent {
				t.Errorf("NotSent = %v, want %v", got, tt.wantNotSent)
			}
		})
	}
}

func TestClientSendUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens: the dial fails, so nothing was sent
	c, err := New(Config{URL: url, Secret: secret, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), pager.SMS, pager.Page{ID: "p", Mobile: "13800000001"})
	if err == nil || !pager.NotSent(err) {
		t.Errorf("err = %v, want a not-sent dial error", err)
	}
}

func TestReceiptHandler(t *testing.T) {
	c := newTestClient(t, func(http.ResponseWriter, *http.Request) {})
	var got []pager.Receipt
	sink := pager.ReceiptFunc(func(_ context.Context, rs []pager.Receipt) error { got = append(got, rs...); return nil })
	h := c.NewReceiptHandler(sink, nil)
	body := `{"call_id":"pbx-77","page_id":"1024-2","status":"keypress","digits":"1","at":"2025-03-01T10:00:00+08:00"}`
	post := func(sig string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/notify/webhook/receipt", strings.NewReader(body))
		req.Header.Set(HeaderTimestamp, fmt.Sprint(testNow.Unix()))
		req.Header.Set(HeaderSignature, sig)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := post("v1=00"); rec.Code != http.StatusUnauthorized {
		t.Errorf("bad signature status = %d, want 401", rec.Code)
	}
	for range 2 {
		if rec := post(Sign(secret, testNow.Unix(), []byte(body))); rec.Code != http.StatusOK || rec.Body.String() != `{"ok":true}` {
			t.Fatalf("reply = %d %s", rec.Code, rec.Body)
		}
	}
	// Both deliveries reach the sink, which deduplicates on Receipt.Key.
	r := pager.Receipt{Provider: "webhook", CallID: "pbx-77", PageID: "1024-2", Status: pager.StatusKeypress, Code: "keypress", Digits: "1",
		At: time.Date(2025, 3, 1, 10, 0, 0, 0, time.FixedZone("", 8*3600))}
	want := []pager.Receipt{r, r}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("receipts (-want +got):\n%s", diff)
	}
}

func TestClientSendHidesURLSecrets(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := strings.Replace(srv.URL, "http://", "http://gwuser:gwpass@", 1)
	srv.Close()
	c, err := New(Config{URL: base + "/page?token=gw-token-1", Secret: secret, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), pager.SMS, pager.Page{ID: "p", Mobile: "13800000001"})
	if err == nil || !pager.NotSent(err) {
		t.Fatalf("err = %v, want a not-sent dial error", err)
	}
	for _, leak := range []string{"gw-token-1", "gwuser", "gwpass"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error shows %q: %v", leak, err)
		}
	}
}
