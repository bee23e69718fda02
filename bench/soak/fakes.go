package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"weibao/wecom/wecomtest"
)

// tb lets the harness program use wecomtest's fake outside a test: the
// fake's complaints about a malformed call are counted and kept.
type tb struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	cleanups []func()
}

func (t *tb) Helper() {}
func (t *tb) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}
func (t *tb) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *tb) close() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}

// call is one request weibao made to a fake, as the fake answered it.
type call struct {
	At      time.Time
	API     string
	Query   string
	Body    map[string]any
	Raw     string
	OK      bool // the fake accepted it (2xx and errcode 0)
	Status  int
	ErrCode int
}

// gate is a listener a scenario can close (connections refused and reset)
// or set to answer an injected failure instead of passing calls on.
type gate struct {
	addr    string
	handler http.Handler
	mu      sync.Mutex
	srv     *http.Server
	fail    func(w http.ResponseWriter, r *http.Request) bool // true: answered with a failure
}

func startGate(h http.Handler) (*gate, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &gate{addr: l.Addr().String(), handler: h}
	g.serve(l)
	return g, nil
}

func (g *gate) URL() string { return "http://" + g.addr }

func (g *gate) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		fail := g.fail
		g.mu.Unlock()
		if fail != nil && fail(w, r) {
			return
		}
		g.handler.ServeHTTP(w, r)
	})}
	g.mu.Lock()
	g.srv = srv
	g.mu.Unlock()
	go srv.Serve(l)
}

func (g *gate) setFail(f func(w http.ResponseWriter, r *http.Request) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.fail = f
}

// down refuses new connections and resets open ones.
func (g *gate) down() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.srv.Close()
}

func (g *gate) up() error {
	var l net.Listener
	var err error
	for range 50 { // the port was just closed; it is free again at once on Linux
		if l, err = net.Listen("tcp", g.addr); err == nil {
			g.serve(l)
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// weCom is wecomtest's fake behind a gate that logs every call with its
// query (the robot's response codes) and can fail them.
type weCom struct {
	fake *wecomtest.Server
	gate *gate
	t    *tb

	mu      sync.Mutex
	calls   []call
	replies map[string]chan string // response code → the reply's text
	watch   []func(call)
}

func startWeCom() (*weCom, error) {
	t := &tb{}
	w := &weCom{fake: wecomtest.New(t), t: t, replies: map[string]chan string{}}
	g, err := startGate(http.HandlerFunc(w.forward))
	if err != nil {
		return nil, err
	}
	w.gate = g
	return w, nil
}

func (w *weCom) close() { w.gate.down(); w.t.close() }

func (w *weCom) forward(rw http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequest(r.Method, w.fake.URL+r.URL.RequestURI(), bytes.NewReader(raw))
	req.Header = r.Header.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadGateway)
		return
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var e struct {
		ErrCode int `json:"errcode"`
	}
	json.Unmarshal(answer, &e)
	c := call{At: time.Now(), API: strings.TrimPrefix(r.URL.Path, "/cgi-bin/"), Query: r.URL.RawQuery, Raw: string(raw),
		Status: res.StatusCode, ErrCode: e.ErrCode, OK: res.StatusCode/100 == 2 && e.ErrCode == 0}
	json.Unmarshal(raw, &c.Body)
	w.record(c)
	for k, v := range res.Header {
		rw.Header()[k] = v
	}
	rw.WriteHeader(res.StatusCode)
	rw.Write(answer)
}

func (w *weCom) record(c call) {
	if c.API == "gettoken" {
		return
	}
	w.mu.Lock()
	w.calls = append(w.calls, c)
	var ch chan string
	if c.API == "aibot/response" && c.OK {
		code := strings.TrimPrefix(c.Query, "response_code=")
		ch = w.replies[code]
		delete(w.replies, code)
	}
	watch := append([]func(call){}, w.watch...)
	w.mu.Unlock()
	if ch != nil {
		ch <- c.Raw
	}
	for _, f := range watch {
		f(c)
	}
}

// expect registers a response code; the channel gets the reply sent to it.
func (w *weCom) expect(code string) chan string {
	ch := make(chan string, 1)
	w.mu.Lock()
	w.replies[code] = ch
	w.mu.Unlock()
	return ch
}

// awaitCall waits until a call matching f arrives (or timeout); only calls
// after the registration count.
func (w *weCom) awaitCall(f func(call) bool, timeout time.Duration) (call, bool) {
	ch := make(chan call, 1)
	var once sync.Once
	w.mu.Lock()
	w.watch = append(w.watch, func(c call) {
		if f(c) {
			once.Do(func() { ch <- c })
		}
	})
	idx := len(w.watch) - 1
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.watch[idx] = func(call) {}
		w.mu.Unlock()
	}()
	select {
	case c := <-ch:
		return c, true
	case <-time.After(timeout):
		return call{}, false
	}
}

func (w *weCom) allCalls() []call {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]call(nil), w.calls...)
}

// phone is a fake in-hospital voice/SMS gateway (sla/pager/webhook's
// protocol) that logs every page it accepted.
type phone struct {
	gate *gate
	mu   sync.Mutex
	log  []call
}

func startPhone() (*phone, error) {
	p := &phone{}
	g, err := startGate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		c := call{At: time.Now(), API: "page", Raw: string(raw), OK: true, Status: 200}
		json.Unmarshal(raw, &c.Body)
		p.mu.Lock()
		p.log = append(p.log, c)
		n := len(p.log)
		p.mu.Unlock()
		fmt.Fprintf(w, `{"id":"call-%d"}`, n)
	}))
	if err != nil {
		return nil, err
	}
	p.gate = g
	return p, nil
}

func (p *phone) calls() []call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]call(nil), p.log...)
}
