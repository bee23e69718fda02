package outbox_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"weibao/bot"
	"weibao/bot/outbox"
	"weibao/storage"
	"weibao/storage/storagetest"
	"weibao/wecom"
)

// TestWorkerRetriesTransientErrors: a delivery that failed for a reason
// that can pass (the network, the resolver, a busy or rate-limited WeCom,
// an expired token) is tried again; one that can never succeed is given up
// at its first attempt. The errors are the ones the WeCom client returns.
func TestWorkerRetriesTransientErrors(t *testing.T) {
	ctx := context.Background()
	fast := &http.Client{Timeout: 200 * time.Millisecond}
	answer := func(status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	respond := func(hc *http.Client, url string) error {
		return client(t, hc).Respond(ctx, url, map[string]string{"msgtype": "text"})
	}
	tests := []struct {
		name    string
		err     error
		retried bool
	}{
		{"connection refused", respond(fast, "http://"+closedAddr(t)), true},
		{"dial refused", func() error { _, err := net.Dial("tcp", closedAddr(t)); return err }(), true},
		{"dns not found", respond(&http.Client{Timeout: time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{Resolver: nxdomain(t)}).DialContext}}, "http://qyapi.weixin.qq.com.invalid/x"), true},
		{"dns lookup", func() error { _, err := nxdomain(t).LookupHost(ctx, "qyapi.invalid"); return err }(), true},
		{"connection reset", respond(fast, resetAddr(t)), true},
		{"timeout", respond(&http.Client{Timeout: 20 * time.Millisecond}, answerLate(t)), true},
		{"bad gateway", respond(fast, answer(http.StatusBadGateway, "")), true},
		{"too many requests", respond(fast, answer(http.StatusTooManyRequests, "")), true},
		{"system busy", respond(fast, answer(http.StatusOK, `{"errcode":-1,"errmsg":"system busy"}`)), true},
		{"frequency limit", respond(fast, answer(http.StatusOK, `{"errcode":45009,"errmsg":"api freq out of limit"}`)), true},
		{"token expired", respond(fast, answer(http.StatusOK, `{"errcode":42001,"errmsg":"access_token expired"}`)), true},
		{"bad request", respond(fast, answer(http.StatusBadRequest, "")), false},
		{"not found", respond(fast, answer(http.StatusNotFound, "")), false},
		{"invalid user", respond(fast, answer(http.StatusOK, `{"errcode":81013,"errmsg":"user invalid"}`)), false},
		{"file too large", &wecom.FileTooLargeError{Name: "report.xlsx", Size: 30 << 20}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("no error built")
			}
			db := storagetest.Open(t)
			clk := &clock{t: time.Now().UTC().Add(time.Second)}
			d := &deliverer{errs: map[string][]error{"m": {tt.err}}}
			var logs bytes.Buffer
			reg := prometheus.NewRegistry()
			w, err := outbox.New(outbox.Options{Store: db, Deliverer: d, Clock: clk, Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Enqueue(ctx, bot.Outgoing{Key: "m", ToUsers: []string{"eng1"}, Text: "工单 F1"}); err != nil {
				t.Fatal(err)
			}
			w.RunOnce(ctx)
			clk.Add(time.Hour)
			w.RunOnce(ctx)
			if got := len(d.sent) == 1; got != tt.retried {
				t.Errorf("delivered after %q = %v, want %v", tt.err, got, tt.retried)
			}
			// A message given up is never silent: an ERROR line and the failed count.
			failed := deliveries(t, reg)["failed"]
			logged := strings.Contains(logs.String(), "level=ERROR msg=\"outbox: message given up\"")
			if tt.retried == (failed != 0) || tt.retried == logged {
				t.Errorf("failed count = %v, ERROR logged = %v; want %v", failed, logged, !tt.retried)
			}
		})
	}
}

// deliveries reads weibao_outbox_deliveries_total by result.
func deliveries(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == "weibao_outbox_deliveries_total" {
			for _, m := range mf.GetMetric() {
				counts[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return counts
}

// TestWorkerDeliversAfterRefusal: a message whose first attempt met a
// closed port goes out once the other side listens again.
func TestWorkerDeliversAfterRefusal(t *testing.T) {
	ctx := context.Background()
	db := storagetest.Open(t)
	clk := &clock{t: time.Now().UTC().Add(time.Second)}
	addr := closedAddr(t)
	d := &responder{c: client(t, &http.Client{Timeout: time.Second}), url: "http://" + addr}
	w, err := outbox.New(outbox.Options{Store: db, Deliverer: d, Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m := bot.Outgoing{Key: "F1/page/1/eng1", TicketNo: "F1", ToUsers: []string{"eng1"}, Text: "P1 工单 F1"}
	if err := db.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	w.RunOnce(ctx)
	got, err := db.OutboxEntries(ctx, "F1")
	if err != nil || len(got) != 1 || got[0].Status != "pending" {
		t.Fatalf("after the refusal outbox = %+v, %v; want the message pending", got, err)
	}

	var mu sync.Mutex
	var hits int
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s taken again: %v", addr, err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		fmt.Fprint(w, `{"errcode":0}`)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	clk.Add(time.Hour)
	w.RunOnce(ctx)
	clk.Add(time.Hour)
	w.RunOnce(ctx)
	got, err = db.OutboxEntries(ctx, "F1")
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.OutboxEntry{{Key: m.Key, TicketNo: "F1", Kind: "notice", Status: "sent", Attempts: 2, Dest: "users:eng1"}}
	if diff := cmp.Diff(want, got, ignoreCreated); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 {
		t.Errorf("server got %d requests, want 1", hits)
	}
}

// responder delivers a message's text to one URL through the WeCom client.
type responder struct {
	c   *wecom.Client
	url string
}

func (r *responder) Deliver(ctx context.Context, m bot.Outgoing) (string, error) {
	return "", r.c.Respond(ctx, r.url, map[string]any{"msgtype": "text", "text": map[string]string{"content": m.Text}})
}

func client(t *testing.T, hc *http.Client) *wecom.Client {
	t.Helper()
	c, err := wecom.NewClient(wecom.ClientOptions{Cache: wecom.NewTokenCache(&values{m: map[string]string{}}), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// values is an in-memory token store (Respond needs no token).
type values struct {
	mu sync.Mutex
	m  map[string]string
}

func (v *values) Get(_ context.Context, k string) (string, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.m[k]
	return s, ok, nil
}

func (v *values) Set(_ context.Context, k, s string, _ time.Duration) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.m[k] = s
	return nil
}

func (v *values) Exists(ctx context.Context, k string) (bool, error) {
	_, ok, err := v.Get(ctx, k)
	return ok, err
}

func (v *values) Delete(_ context.Context, k string) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.m, k)
	return nil
}

// closedAddr is a local address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// resetAddr is a URL whose server resets every connection it accepts.
func resetAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 4096))
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String()
}

// answerLate is a URL whose server answers after the client gave up.
func answerLate(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// nxdomain is a resolver whose DNS server answers every question "no such
// name", as a resolver blip can.
func nxdomain(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if q, ok := question(buf[:n]); ok {
				// Header: the query's id, QR|RD|RA and rcode 3 (NXDOMAIN), one question.
				resp := append([]byte{buf[0], buf[1], 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0}, q...)
				pc.WriteTo(resp, from)
			}
		}
	}()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// question returns the question section of a DNS query.
func question(msg []byte) ([]byte, bool) {
	i := 12
	for i < len(msg) && msg[i] != 0 {
		i += int(msg[i]) + 1
	}
	end := i + 1 + 4 // the root label, type and class
	if end > len(msg) {
		return nil, false
	}
	return msg[12:end], true
}
