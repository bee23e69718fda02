package aliyun_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/sla/pager"
	"weibao/sla/pager/aliyun"
	"weibao/sla/pager/aliyun/aliyuntest"
)

const (
	voiceQ = "Alicom-Queue-1-VoiceReport"
	smsQ   = "Alicom-Queue-1-SmsReport"
	record = `{"call_id":"116^1","status_code":"200000","out_id":"p7","dtmf":"1","end_time":"2026-12-04 11:00:05"}`
)

type sink struct {
	mu   sync.Mutex
	got  []pager.Receipt
	fail error
}

func (s *sink) Receipts(_ context.Context, rs []pager.Receipt) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.got = append(s.got, rs...)
	return nil
}

func newPuller(t *testing.T, fake *aliyuntest.Server, s pager.ReceiptSink) *aliyun.Puller {
	t.Helper()
	p, err := aliyun.NewPuller(aliyun.Config{AccessKeyID: "ak", AccessKeySecret: "secret",
		Queues: aliyun.Queues{VoiceReport: voiceQ, SmsReport: smsQ, Endpoint: fake.URL, TokenEndpoint: fake.URL, Wait: time.Second}}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A pulled VoiceReport becomes the receipt the HTTP push of the same record
// gives, and the message is deleted once stored.
func TestPullVoiceReport(t *testing.T) {
	fake := aliyuntest.New(t, "ak", "secret")
	s := &sink{}
	p := newPuller(t, fake, s)
	fake.Put(voiceQ, record)
	if err := p.Pull(context.Background(), "VoiceReport", voiceQ); err != nil {
		t.Fatal(err)
	}
	want, err := aliyun.ParseReceipts([]byte("[" + record + "]"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, s.got); diff != "" {
		t.Errorf("receipts (-push +pulled):\n%s", diff)
	}
	if !s.got[0].Acknowledged() {
		t.Error("dtmf 1 not an acknowledgement")
	}
	if n := fake.Len(voiceQ); n != 0 {
		t.Errorf("%d messages left after storing, want 0", n)
	}
	// The token is asked for once and reused.
	if err := p.Pull(context.Background(), "VoiceReport", voiceQ); err != nil {
		t.Fatal(err)
	}
	if calls := fake.Calls(); len(calls) != 1 || calls[0].Get("Action") != "QueryTokenForMnsQueue" || calls[0].Get("MessageType") != "VoiceReport" {
		t.Errorf("RPC calls %v, want one QueryTokenForMnsQueue for VoiceReport", calls)
	}
}

func TestPullSMSReport(t *testing.T) {
	fake := aliyuntest.New(t, "ak", "secret")
	s := &sink{}
	p := newPuller(t, fake, s)
	fake.Put(smsQ, `{"phone_number":"13800000001","success":false,"biz_id":"biz-9","out_id":"p8","err_code":"MK:0001","report_time":"2026-12-04 11:00:05"}`)
	if err := p.Pull(context.Background(), "SmsReport", smsQ); err != nil {
		t.Fatal(err)
	}
	want := []pager.Receipt{{Provider: "aliyun", CallID: "biz-9", PageID: "p8", Status: pager.StatusFailed, Code: "MK:0001",
		At: time.Date(2026, 12, 4, 11, 0, 5, 0, pager.Beijing)}}
	if diff := cmp.Diff(want, s.got); diff != "" {
		t.Errorf("receipts (-want +got):\n%s", diff)
	}
}

// A message the sink could not store stays on the queue and comes again.
func TestPullKeepsWhatWasNotStored(t *testing.T) {
	fake := aliyuntest.New(t, "ak", "secret")
	fake.Visibility = 0
	s := &sink{fail: errors.New("database down")}
	p := newPuller(t, fake, s)
	fake.Put(voiceQ, record)
	if err := p.Pull(context.Background(), "VoiceReport", voiceQ); err == nil {
		t.Fatal("Pull with a failing sink: no error")
	}
	if n := fake.Len(voiceQ); n != 1 {
		t.Fatalf("%d messages on the queue, want the one not stored", n)
	}
	s.fail = nil
	if err := p.Pull(context.Background(), "VoiceReport", voiceQ); err != nil || len(s.got) != 1 || fake.Len(voiceQ) != 0 {
		t.Errorf("redelivery: err %v, stored %d, left %d; want stored and deleted", err, len(s.got), fake.Len(voiceQ))
	}
}

// Run backs off over queue errors and a bad key, and stops with ctx.
func TestRunRetriesAndStops(t *testing.T) {
	fake := aliyuntest.New(t, "ak", "secret")
	s := &sink{}
	p := newPuller(t, fake, s)
	fake.Fail(http.StatusServiceUnavailable)
	fake.Put(voiceQ, record)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for fake.Len(voiceQ) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop with ctx")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) != 1 {
		t.Errorf("stored %d receipts after a failed poll, want 1", len(s.got))
	}

	bad, err := aliyun.NewPuller(aliyun.Config{AccessKeyID: "ak", AccessKeySecret: "wrong",
		Queues: aliyun.Queues{VoiceReport: voiceQ, Endpoint: fake.URL, TokenEndpoint: fake.URL}}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Pull(context.Background(), "VoiceReport", voiceQ); err == nil {
		t.Error("a wrong secret pulled")
	}
}
