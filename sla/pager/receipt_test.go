package pager_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"weibao/sla/pager"
)

// parseLines makes one receipt per line "callid digits"; "bad-sig" fails
// verification.
func parseLines(_ http.Header, body []byte) ([]pager.Receipt, error) {
	if string(body) == "bad-sig" {
		return nil, fmt.Errorf("verify: %w", pager.ErrBadSignature)
	}
	var rs []pager.Receipt
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		id, digits, ok := strings.Cut(line, " ")
		if !ok {
			return nil, errors.New("malformed")
		}
		rs = append(rs, pager.Receipt{Provider: "p", CallID: id, Status: pager.StatusKeypress, Digits: digits})
	}
	return rs, nil
}

func TestPushHandler(t *testing.T) {
	var got []string
	var sinkErr error
	sink := pager.ReceiptFunc(func(_ context.Context, rs []pager.Receipt) error {
		if sinkErr != nil {
			return sinkErr
		}
		for _, r := range rs {
			got = append(got, r.CallID)
		}
		return nil
	})
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := pager.NewPushHandler(parseLines, []byte(`{"code":0,"msg":"OK"}`), sink, logger)

	post := func(method, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, "/notify/p", bytes.NewBufferString(body)))
		return rec
	}
	tests := []struct {
		name       string
		method     string
		body       string
		sinkErr    error
		wantStatus int
		wantBody   string
		wantSeen   []string
	}{
		{"first delivery", http.MethodPost, "c1 1\nc2 2", nil, 200, `{"code":0,"msg":"OK"}`, []string{"c1", "c2"}},
		// The sink deduplicates: a redelivery reaches it again and is answered.
		{"redelivery reaches the sink", http.MethodPost, "c1 1\nc3 1", nil, 200, `{"code":0,"msg":"OK"}`, []string{"c1", "c2", "c1", "c3"}},
		{"malformed", http.MethodPost, "nonsense", nil, 400, "", []string{"c1", "c2", "c1", "c3"}},
		{"bad signature", http.MethodPost, "bad-sig", nil, 401, "", []string{"c1", "c2", "c1", "c3"}},
		{"sink down asks for a retry", http.MethodPost, "c4 1", errors.New("db down"), 503, "", []string{"c1", "c2", "c1", "c3"}},
		{"the retry is not lost", http.MethodPost, "c4 1", nil, 200, `{"code":0,"msg":"OK"}`, []string{"c1", "c2", "c1", "c3", "c4"}},
		{"wrong method", http.MethodGet, "", nil, 405, "", []string{"c1", "c2", "c1", "c3", "c4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sinkErr = tt.sinkErr
			rec := post(tt.method, tt.body)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body = %q, want %q", rec.Body.String(), tt.wantBody)
			}
			if diff := cmp.Diff(tt.wantSeen, got); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReceiptAcknowledged(t *testing.T) {
	for digits, want := range map[string]bool{"1": true, "1#": true, "": false, "2": false, "21": false} {
		if got := (pager.Receipt{Digits: digits}).Acknowledged(); got != want {
			t.Errorf("Acknowledged(%q) = %v, want %v", digits, got, want)
		}
	}
}

func TestLogNotifier(t *testing.T) {
	var buf bytes.Buffer
	n := pager.NewLogNotifier(slog.New(slog.NewTextHandler(&buf, nil)))
	p := testPage("p1")
	p.Text = "ward 3 bed 12 ventilator alarm"
	sent, err := n.Send(context.Background(), pager.Voice, p)
	if err != nil || sent.MessageID != "log-p1" {
		t.Fatalf("Send = %+v, %v", sent, err)
	}
	out := buf.String()
	for _, leak := range []string{"ventilator", "13800138000"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q: %s", leak, out)
		}
	}
	if !strings.Contains(out, "page_id=p1") {
		t.Errorf("log lacks page id: %s", out)
	}
}
