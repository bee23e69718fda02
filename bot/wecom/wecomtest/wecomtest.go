// Package wecomtest is a fake WeCom for tests: an httptest server with the
// server API weibao calls (gettoken, message/send, update_template_card,
// appchat/*, webhook/send, the robot's response_url) and the robot's
// long-connection WebSocket, plus helpers that sign and encrypt callbacks.
// It checks tokens and payload shapes and can inject failures: HTTP 5xx,
// errcodes such as 45009 and 42001, slow answers and dropped connections.
package wecomtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Credentials the fake accepts.
const (
	CorpID     = "wwfakecorp0000001"
	Secret     = "fake-app-secret"
	AgentID    = "1000002"
	WebhookKey = "fake-webhook-key"
	BotID      = "fakebot"
	BotSecret  = "fake-bot-secret"
)

// Request is one call the fake received.
type Request struct {
	API  string // e.g. "message/send", "webhook/send", "aibot/response", or a long-connection cmd
	Body map[string]any
	Raw  []byte
}

// Fault is an injected failure for the next call of an API.
type Fault struct {
	Status  int           // HTTP status; 0 means 200
	ErrCode int           // errcode in a 200 answer
	Delay   time.Duration // answer this late
}

// Server is the fake.
type Server struct {
	*httptest.Server
	tb testing.TB

	mu       sync.Mutex
	token    string
	expired  bool
	fetches  int
	seq      int
	faults   map[string][]Fault
	requests []Request
	notify   chan Request
	used     map[string]bool // response codes already used

	ws     *websocket.Conn
	wsDone chan struct{}
	subs   int
}

// New starts a fake closed at the end of the test.
func New(tb testing.TB) *Server {
	s := &Server{tb: tb, faults: map[string][]Fault{}, notify: make(chan Request, 1024), used: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/cgi-bin/gettoken", s.gettoken)
	for _, api := range []string{"message/send", "message/update_template_card", "appchat/send", "appchat/create"} {
		mux.HandleFunc("/cgi-bin/"+api, s.tokenAPI(api))
	}
	mux.HandleFunc("/cgi-bin/webhook/send", s.webhook)
	mux.HandleFunc("/cgi-bin/aibot/response", s.respond)
	mux.HandleFunc("/ws", s.serveWS)
	s.Server = httptest.NewServer(mux)
	tb.Cleanup(func() {
		s.DropWS()
		s.Close()
	})
	return s
}

// WSURL is the long-connection endpoint.
func (s *Server) WSURL() string { return "ws" + strings.TrimPrefix(s.URL, "http") + "/ws" }

// ResponseURL is a fresh one-shot robot reply URL.
func (s *Server) ResponseURL(code string) string {
	return s.URL + "/cgi-bin/aibot/response?response_code=" + code
}

// Inject queues faults for the next calls of api, in order.
func (s *Server) Inject(api string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[api] = append(s.faults[api], faults...)
}

// ExpireToken makes the current token answer 42001 until a new one is fetched.
func (s *Server) ExpireToken() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired = true
}

// TokenFetches counts gettoken calls.
func (s *Server) TokenFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Requests returns the accepted calls so far (failed ones are not recorded).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Next waits for the next accepted call.
func (s *Server) Next(timeout time.Duration) (Request, bool) {
	select {
	case r := <-s.notify:
		return r, true
	case <-time.After(timeout):
		return Request{}, false
	}
}

func (s *Server) record(api string, raw []byte) Request {
	var body map[string]any
	json.Unmarshal(raw, &body)
	r := Request{API: api, Body: body, Raw: raw}
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
	select {
	case s.notify <- r:
	default:
	}
	return r
}

// fault pops the next fault for api and applies it; true means answered.
func (s *Server) fault(w http.ResponseWriter, r *http.Request, api string) bool {
	s.mu.Lock()
	var f Fault
	if q := s.faults[api]; len(q) > 0 {
		f, s.faults[api] = q[0], q[1:]
	}
	s.mu.Unlock()
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case f.Status != 0:
		http.Error(w, "injected", f.Status)
		return true
	case f.ErrCode != 0:
		writeErr(w, f.ErrCode, "injected")
		return true
	}
	return false
}

func writeErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"errcode":%d,"errmsg":%q}`, code, msg)
}

func (s *Server) gettoken(w http.ResponseWriter, r *http.Request) {
	if s.fault(w, r, "gettoken") {
		return
	}
	q := r.URL.Query()
	if q.Get("corpid") != CorpID || q.Get("corpsecret") != Secret {
		writeErr(w, 40001, "invalid credential")
		return
	}
	s.mu.Lock()
	s.fetches++
	s.seq++
	s.token, s.expired = fmt.Sprintf("tok-%d", s.seq), false
	tok := s.token
	s.mu.Unlock()
	fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","access_token":%q,"expires_in":7200}`, tok)
}

func (s *Server) tokenAPI(api string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		tok, expired := s.token, s.expired
		s.mu.Unlock()
		switch got := r.URL.Query().Get("access_token"); {
		case got == "" || got != tok:
			writeErr(w, 40014, "invalid access_token")
			return
		case expired:
			writeErr(w, 42001, "access_token expired")
			return
		}
		if s.fault(w, r, api) {
			return
		}
		raw, _ := io.ReadAll(r.Body)
		req := s.record(api, raw)
		if msg := checkShape(api, req.Body); msg != "" {
			s.tb.Errorf("wecomtest: %s: %s: %s", api, msg, raw)
			writeErr(w, 40008, msg)
			return
		}
		switch api {
		case "message/send":
			code := ""
			if req.Body["msgtype"] == "template_card" {
				code = fmt.Sprintf("rc-%d", len(s.Requests()))
			}
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","msgid":"msg-%d","response_code":%q}`, len(s.Requests()), code)
		case "appchat/create":
			id, _ := req.Body["chatid"].(string)
			if id == "" {
				id = "chat-created"
			}
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","chatid":%q}`, id)
		default:
			writeErr(w, 0, "ok")
		}
	}
}

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("key") != WebhookKey {
		writeErr(w, 93000, "invalid webhook url")
		return
	}
	if s.fault(w, r, "webhook/send") {
		return
	}
	raw, _ := io.ReadAll(r.Body)
	req := s.record("webhook/send", raw)
	if msg := checkShape("webhook/send", req.Body); msg != "" {
		s.tb.Errorf("wecomtest: webhook/send: %s: %s", msg, raw)
		writeErr(w, 40008, msg)
		return
	}
	writeErr(w, 0, "ok")
}

func (s *Server) respond(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("response_code")
	if s.fault(w, r, "aibot/response") {
		return
	}
	s.mu.Lock()
	used := s.used[code]
	s.used[code] = true
	s.mu.Unlock()
	if code == "" || used {
		writeErr(w, 40029, "invalid response_code")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	req := s.record("aibot/response", raw)
	if msg := checkShape("aibot/response", req.Body); msg != "" {
		s.tb.Errorf("wecomtest: aibot/response: %s: %s", msg, raw)
	}
	writeErr(w, 0, "ok")
}

// checkShape returns what is wrong with a message body, or "".
func checkShape(api string, b map[string]any) string {
	if b == nil {
		return "body is not a JSON object"
	}
	str := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	switch api {
	case "message/update_template_card":
		if str(b, "response_code") == "" {
			return "no response_code"
		}
		if b["button"] == nil && b["template_card"] == nil {
			return "neither button nor template_card"
		}
		return ""
	case "appchat/create":
		if l, _ := b["userlist"].([]any); len(l) < 2 {
			return "userlist needs at least 2 members"
		}
		return ""
	case "message/send":
		if str(b, "touser") == "" {
			return "no touser"
		}
		if _, ok := b["agentid"].(float64); !ok {
			return "agentid is not a number"
		}
	case "appchat/send":
		if str(b, "chatid") == "" {
			return "no chatid"
		}
	}
	typ := str(b, "msgtype")
	body, _ := b[typ].(map[string]any)
	if body == nil {
		return fmt.Sprintf("msgtype %q without its body", typ)
	}
	limit := map[string]int{"text": 2048, "markdown": 4096, "stream": 20480}[typ]
	if typ == "template_card" {
		if str(body, "card_type") == "" {
			return "card without card_type"
		}
		if str(body, "card_type") == "button_interaction" && str(body, "task_id") == "" {
			return "button card without task_id"
		}
		return ""
	}
	if limit == 0 {
		return fmt.Sprintf("unexpected msgtype %q", typ)
	}
	c := str(body, "content")
	switch {
	case c == "":
		return "empty content"
	case len(c) > limit:
		return fmt.Sprintf("%s content %d bytes > %d", typ, len(c), limit)
	case !utf8.ValidString(c):
		return "content is not UTF-8"
	}
	return ""
}

// serveWS is the long-connection endpoint. A new connection kicks the old
// one with disconnected_event, as WeCom does.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ctx := r.Context()
	_, data, err := conn.Read(ctx)
	if err != nil {
		return
	}
	var sub struct {
		Cmd     string            `json:"cmd"`
		Headers map[string]string `json:"headers"`
		Body    map[string]string `json:"body"`
	}
	json.Unmarshal(data, &sub)
	if sub.Cmd != "aibot_subscribe" || sub.Body["bot_id"] != BotID || sub.Body["secret"] != BotSecret {
		writeFrame(ctx, conn, map[string]any{"headers": sub.Headers, "errcode": 40001, "errmsg": "invalid bot"})
		conn.Close(websocket.StatusPolicyViolation, "bad subscribe")
		return
	}
	done := make(chan struct{})
	s.mu.Lock()
	old := s.ws
	s.ws, s.wsDone = conn, done
	s.subs++
	s.mu.Unlock()
	if old != nil {
		writeFrame(ctx, old, map[string]any{"cmd": "aibot_event_callback", "headers": map[string]string{"req_id": "kick"},
			"body": map[string]any{"msgid": "kick", "msgtype": "event", "event": map[string]string{"eventtype": "disconnected_event"}}})
		old.Close(websocket.StatusNormalClosure, "replaced")
	}
	writeFrame(ctx, conn, map[string]any{"headers": sub.Headers, "errcode": 0, "errmsg": "ok"})
	defer close(done)
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var f struct {
			Cmd     string            `json:"cmd"`
			Headers map[string]string `json:"headers"`
		}
		json.Unmarshal(data, &f)
		ack := map[string]any{"headers": f.Headers, "errcode": 0, "errmsg": "ok"}
		if f.Cmd != "ping" {
			req := s.record(f.Cmd, data)
			var fault Fault
			s.mu.Lock()
			if q := s.faults[f.Cmd]; len(q) > 0 {
				fault, s.faults[f.Cmd] = q[0], q[1:]
			}
			s.mu.Unlock()
			if fault.ErrCode != 0 {
				ack["errcode"] = fault.ErrCode
			} else if body, _ := req.Body["body"].(map[string]any); checkWSShape(f.Cmd, body) != "" {
				s.tb.Errorf("wecomtest: %s: %s: %s", f.Cmd, checkWSShape(f.Cmd, body), data)
				ack["errcode"] = 40008
			}
		}
		writeFrame(ctx, conn, ack)
	}
}

func checkWSShape(cmd string, body map[string]any) string {
	if body == nil {
		return "no body"
	}
	switch cmd {
	case "aibot_send_msg":
		if c, _ := body["chatid"].(string); c == "" {
			return "no chatid"
		}
	case "aibot_respond_update_msg":
		if body["response_type"] != "update_template_card" {
			return "response_type is not update_template_card"
		}
		return ""
	}
	return checkShape(cmd, body)
}

func writeFrame(ctx context.Context, c *websocket.Conn, v any) error {
	b, _ := json.Marshal(v)
	return c.Write(ctx, websocket.MessageText, b)
}

// Subscriptions counts successful aibot_subscribe calls.
func (s *Server) Subscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs
}

// WaitSubscribed waits until at least n subscriptions have happened.
func (s *Server) WaitSubscribed(n int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if s.Subscriptions() >= n {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// Push sends a callback frame (cmd aibot_msg_callback or
// aibot_event_callback) with body to the connected client.
func (s *Server) Push(cmd, reqID string, body any) error {
	s.mu.Lock()
	conn := s.ws
	s.mu.Unlock()
	if conn == nil {
		return fmt.Errorf("wecomtest: no long connection")
	}
	return writeFrame(context.Background(), conn, map[string]any{"cmd": cmd, "headers": map[string]string{"req_id": reqID}, "body": body})
}

// DropWS cuts the current long connection without a close handshake.
func (s *Server) DropWS() {
	s.mu.Lock()
	conn, done := s.ws, s.wsDone
	s.ws = nil
	s.mu.Unlock()
	if conn != nil {
		conn.CloseNow()
		<-done
	}
}
