// Package wecomtest is a fake WeCom for tests: an httptest server with the
// server API weibao calls (gettoken, message/send, update_template_card,
// appchat/*, media/upload, user/simplelist, webhook/send, webhook/upload_media, the robot's
// response_url) and the robot's long-connection WebSocket (with its chunked
// media upload), plus helpers that sign and encrypt callbacks. File messages
// are accepted only with a media id the fake issued for the same sender.
// Departments (user/simplelist) list the members SetDepartment gave them; a
// department it was not given is outside the app's visible range (60011).
// It checks tokens and payload shapes and can inject failures: HTTP 5xx,
// errcodes such as 45009 and 42001, slow answers and dropped connections.
//
// The long connection refuses what WeCom refuses: a second subscriber kicks
// the first (disconnected_event); a welcome that is not text or a template
// card, or a reply type aibot_respond_msg does not take, gets 40008; a
// reply command that does not fit the callback it answers gets 846605
// (invalid req_id); content over the limit gets 40008; aibot_send_msg to a
// chat nobody has messaged the robot in gets NoPriorMessage; more than 30
// messages a minute or 1,000 an hour in a conversation (replies included),
// or uploads over the same rates per bot, get 45009.
//
// The app's group chats follow WeCom's rules too (see appChat): members,
// owner, chat id and name are checked at appchat/create, and appchat/send
// reaches only a chat created here.
package wecomtest

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
)

// Credentials the fake accepts.
const (
	CorpID  = "wwfakecorp0000001"
	Secret  = "fake-app-secret"
	AgentID = "1000002"
	// WebhookKey is a group robot's webhook key; WebhookKey + "-" + anything
	// is another group's (each group's robot has its own key and limits).
	WebhookKey = "fake-webhook-key"
	BotID      = "fakebot"
	BotSecret  = "fake-bot-secret"
)

// NoPriorMessage is the fake's errcode for aibot_send_msg to a chat the
// robot has not heard from. WeCom documents none; weibao treats any final
// refusal of a proactive robot message as this one.
const NoPriorMessage = 846699

// Robot limits the fake enforces on the long connection.
const (
	robotPerMinute = 30
	robotPerHour   = 1000
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
	// Now is the clock of the robot's rate windows; set it before use.
	Now func() time.Time

	mu       sync.Mutex
	token    string
	expired  bool
	fetches  int
	seq      int
	faults   map[string][]Fault
	requests []Request
	notify   chan Request
	used     map[string]bool   // response codes already used
	cards    map[string]string // response code message/send issued → the card's task id
	media    map[string]Upload
	uploads  map[string]*wsUpload // long-connection uploads in progress
	depts    map[int][]Member
	chats    map[string]AppChat // app group chats created (appchat/create)
	logins   map[string]login   // web login codes issued (LoginCode)

	ws     *websocket.Conn
	wsDone chan struct{}
	subs   int
	// callbacks maps a pushed req_id to what it was: "msg", or the event
	// type; seen holds the chats (group chat ids, userids of 1:1s) a user
	// has messaged the robot in; sent the times of robot messages per
	// conversation ("upload" for uploads).
	callbacks map[string]string
	seen      map[string]bool
	sent      map[string][]time.Time
}

// New starts a fake closed at the end of the test.
func New(tb testing.TB) *Server {
	s := &Server{tb: tb, Now: time.Now, faults: map[string][]Fault{}, notify: make(chan Request, 1024), used: map[string]bool{},
		media: map[string]Upload{}, uploads: map[string]*wsUpload{}, cards: map[string]string{}, depts: map[int][]Member{}, chats: map[string]AppChat{},
		callbacks: map[string]string{}, seen: map[string]bool{}, sent: map[string][]time.Time{}, logins: map[string]login{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/cgi-bin/gettoken", s.gettoken)
	mux.HandleFunc("/cgi-bin/media/upload", s.mediaUpload)
	mux.HandleFunc("/cgi-bin/webhook/upload_media", s.webhookUpload)
	for _, api := range []string{"message/send", "message/update_template_card", "appchat/send", "appchat/create"} {
		mux.HandleFunc("/cgi-bin/"+api, s.tokenAPI(api))
	}
	mux.HandleFunc("/cgi-bin/user/simplelist", s.simplelist)
	mux.HandleFunc("/cgi-bin/auth/getuserinfo", s.getuserinfo)
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

// tokenOK checks the request's access_token as WeCom does, answering the
// refusal itself.
func (s *Server) tokenOK(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	tok, expired := s.token, s.expired
	s.mu.Unlock()
	switch got := r.URL.Query().Get("access_token"); {
	case got == "" || got != tok:
		writeErr(w, 40014, "invalid access_token")
		return false
	case expired:
		writeErr(w, 42001, "access_token expired")
		return false
	}
	return true
}

func (s *Server) tokenAPI(api string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.tokenOK(w, r) {
			return
		}
		if s.fault(w, r, api) {
			return
		}
		raw, _ := io.ReadAll(r.Body)
		req := s.record(api, raw)
		if code, msg := s.appChat(api, req.Body); code != 0 {
			writeErr(w, code, msg)
			return
		}
		if msg := s.checkShape(api, "app", req.Body); msg != "" {
			s.tb.Errorf("wecomtest: %s: %s: %s", api, msg, raw)
			writeErr(w, 40008, msg)
			return
		}
		if api == "message/update_template_card" {
			// Each response code (from message/send or a click) works once.
			code, _ := req.Body["response_code"].(string)
			s.mu.Lock()
			used := s.used["card:"+code]
			s.used["card:"+code] = true
			s.mu.Unlock()
			if used {
				writeErr(w, 40029, "response_code already used")
				return
			}
		}
		switch api {
		case "message/send":
			code := ""
			if card, _ := req.Body["template_card"].(map[string]any); req.Body["msgtype"] == "template_card" {
				code = fmt.Sprintf("rc-%d", len(s.Requests()))
				s.mu.Lock()
				s.cards[code], _ = card["task_id"].(string)
				s.mu.Unlock()
			}
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","msgid":"msg-%d","response_code":%q}`, len(s.Requests()), code)
		case "appchat/create":
			fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","chatid":%q}`, req.Body["chatid"])
		default:
			writeErr(w, 0, "ok")
		}
	}
}

// appChat applies WeCom's rules for the app's group chats (appchat/create,
// appchat/send) and answers their errcodes: 2 to 2,000 distinct members
// (86006), an owner among them (86005), a chat id of at most 32 letters and
// digits (86001) not taken (86215), at most 50 characters of name (WeCom
// truncates a longer one; the fake refuses it, 86004, so weibao's own
// truncation is tested), and sends only to a chat created here (86003). A
// create without a chat id gets one. Other APIs pass (0).
func (s *Server) appChat(api string, b map[string]any) (int, string) {
	if api != "appchat/create" && api != "appchat/send" {
		return 0, ""
	}
	id, _ := b["chatid"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	if api == "appchat/send" {
		if _, ok := s.chats[id]; !ok {
			return 86003, "chatid not exist"
		}
		return 0, ""
	}
	list, _ := b["userlist"].([]any)
	var members []string
	seen := map[string]bool{}
	for _, u := range list {
		if u, ok := u.(string); ok && u != "" && !seen[u] {
			seen[u] = true
			members = append(members, u)
		}
	}
	owner, _ := b["owner"].(string)
	name, _ := b["name"].(string)
	switch {
	case len(members) != len(list) || len(members) < 2 || len(members) > 2000:
		return 86006, "invalid chat member count: 2 to 2000 distinct userids"
	case owner != "" && !seen[owner]:
		return 86005, "invalid chat owner: not in userlist"
	case !validChatID(id):
		return 86001, "invalid chatid: at most 32 characters of 0-9 a-z A-Z"
	case utf8.RuneCountInString(name) > 50:
		return 86004, "invalid chat name: at most 50 characters"
	}
	if id == "" {
		id = fmt.Sprintf("wrfake%d", len(s.chats)+1)
		b["chatid"] = id
	}
	if _, ok := s.chats[id]; ok {
		return 86215, "chatid already exists"
	}
	s.chats[id] = AppChat{Name: name, Owner: owner, Members: members}
	return 0, ""
}

func validChatID(id string) bool {
	if len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return false
		}
	}
	return true
}

// AppChat is a group chat the app created.
type AppChat struct {
	Name    string
	Owner   string
	Members []string
}

// Chat returns the app group chat created with id.
func (s *Server) Chat(id string) (AppChat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[id]
	return c, ok
}

// login is a web login's code: whose, and until when WeCom honours it.
type login struct {
	userID  string
	expires time.Time
}

// LoginCode is the code WeCom's web login hands the browser once userID
// scanned the QR code and confirmed: valid 5 minutes, once. An empty
// userID is someone outside the corp (WeCom answers an openid only).
func (s *Server) LoginCode(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	code := fmt.Sprintf("login-code-%d", s.seq)
	s.logins[code] = login{userID: userID, expires: s.Now().Add(5 * time.Minute)}
	return code
}

// getuserinfo is auth/getuserinfo?access_token=…&code=…: GET, the app's
// token, a code from LoginCode not yet used nor expired (else 40029).
func (s *Server) getuserinfo(w http.ResponseWriter, r *http.Request) {
	if !s.tokenOK(w, r) {
		return
	}
	if s.fault(w, r, "auth/getuserinfo") {
		return
	}
	if r.Method != http.MethodGet {
		s.tb.Errorf("wecomtest: auth/getuserinfo: method %s, want GET", r.Method)
		writeErr(w, 43001, "require GET method")
		return
	}
	code := r.URL.Query().Get("code")
	s.mu.Lock()
	l, ok := s.logins[code]
	delete(s.logins, code)
	s.mu.Unlock()
	s.record("auth/getuserinfo", fmt.Appendf(nil, `{"code":%q}`, code))
	if !ok || !s.Now().Before(l.expires) {
		writeErr(w, 40029, "invalid code")
		return
	}
	if l.userID == "" {
		fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","openid":"o-%s"}`, code)
		return
	}
	fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","userid":%q,"user_ticket":"ticket-%s","expires_in":1800}`, l.userID, code)
}

// Member is one member of a department.
type Member struct {
	UserID string
	Name   string
}

// SetDepartment makes department id visible to the app with these members
// (none: an empty department).
func (s *Server) SetDepartment(id int, members ...Member) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.depts[id] = append([]Member{}, members...)
}

// simplelist is user/simplelist?access_token=…&department_id=…: GET, the
// app's token, a department within the app's visible range.
func (s *Server) simplelist(w http.ResponseWriter, r *http.Request) {
	if !s.tokenOK(w, r) {
		return
	}
	if s.fault(w, r, "user/simplelist") {
		return
	}
	if r.Method != http.MethodGet {
		s.tb.Errorf("wecomtest: user/simplelist: method %s, want GET", r.Method)
		writeErr(w, 43001, "require GET method")
		return
	}
	id, err := strconv.Atoi(r.URL.Query().Get("department_id"))
	if err != nil || id <= 0 {
		writeErr(w, 60123, "invalid party id")
		return
	}
	s.mu.Lock()
	members, ok := s.depts[id]
	s.mu.Unlock()
	if !ok {
		writeErr(w, 60011, "no privilege to access/modify contact/party/agent")
		return
	}
	s.record("user/simplelist", fmt.Appendf(nil, `{"department_id":%d}`, id))
	type user struct {
		UserID     string `json:"userid"`
		Name       string `json:"name"`
		Department []int  `json:"department"`
	}
	list := make([]user, len(members))
	for i, m := range members {
		list[i] = user{UserID: m.UserID, Name: m.Name, Department: []int{id}}
	}
	json.NewEncoder(w).Encode(map[string]any{"errcode": 0, "errmsg": "ok", "userlist": list})
}

func webhookKey(k string) bool { return k == WebhookKey || strings.HasPrefix(k, WebhookKey+"-") }

func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("key")
	if !webhookKey(key) {
		writeErr(w, 93000, "invalid webhook url")
		return
	}
	if s.fault(w, r, "webhook/send") {
		return
	}
	raw, _ := io.ReadAll(r.Body)
	req := s.record("webhook/send", raw)
	if msg := s.checkShape("webhook/send", "webhook:"+key, req.Body); msg != "" {
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
	if msg := s.checkShape("aibot/response", "robot", req.Body); msg != "" {
		s.tb.Errorf("wecomtest: aibot/response: %s: %s", msg, raw)
	}
	writeErr(w, 0, "ok")
}

// checkShape returns what is wrong with a message body, or "". sender names
// whose media ids a file message may use ("app", "webhook:<key>", "robot").
func (s *Server) checkShape(api, sender string, b map[string]any) string {
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
	if sender == "robot" && typ == "markdown" {
		limit = 20480
	}
	if typ == "file" {
		id := str(body, "media_id")
		s.mu.Lock()
		up, ok := s.media[id]
		s.mu.Unlock()
		switch {
		case id == "":
			return "file without media_id"
		case !ok:
			return fmt.Sprintf("media_id %q was never issued", id)
		case up.Sender != sender:
			return fmt.Sprintf("media_id %q was uploaded by %s, not %s", id, up.Sender, sender)
		}
		return ""
	}
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
	conn.SetReadLimit(2 << 20) // upload chunks: 512 KB in base64
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
		// The close handshake waits on the old client: not on the new one's ack.
		go old.Close(websocket.StatusNormalClosure, "replaced")
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
			body, _ := req.Body["body"].(map[string]any)
			upload := strings.HasPrefix(f.Cmd, "aibot_upload_media_")
			if fault.ErrCode != 0 {
				ack["errcode"] = fault.ErrCode
			} else if msg := s.checkWSShape(f.Cmd, body); !upload && msg != "" {
				s.tb.Errorf("wecomtest: %s: %s: %s", f.Cmd, msg, data)
				ack["errcode"] = 40008
			} else if code, msg := s.refuseWS(f.Cmd, f.Headers["req_id"], body); code != 0 {
				// A rate or a chat not heard from is weather; the rest is a bug.
				if code != 45009 && code != NoPriorMessage {
					s.tb.Errorf("wecomtest: %s: %s", f.Cmd, msg)
				}
				ack["errcode"], ack["errmsg"] = code, msg
			} else if upload {
				if res, msg := s.wsUpload(f.Cmd, body); msg != "" {
					s.tb.Errorf("wecomtest: %s: %s", f.Cmd, msg)
					ack["errcode"] = 40008
				} else {
					ack["body"] = res
				}
			}
		}
		writeFrame(ctx, conn, ack)
	}
}

// refuseWS is WeCom's answer to a long-connection command that is well
// formed but not allowed: the wrong command for the callback answered, a
// welcome that is neither text nor card, a proactive send to a chat the
// robot has not heard from, a rate over the robot's limits. 0 lets it on.
func (s *Server) refuseWS(cmd, reqID string, body map[string]any) (int, string) {
	str := func(k string) string { v, _ := body[k].(string); return v }
	s.mu.Lock()
	defer s.mu.Unlock()
	kind, conv := s.callbacks[reqID], ""
	switch cmd {
	case "aibot_respond_msg":
		if kind != "msg" && kind != "enter_chat" {
			return 846605, "aibot_respond_msg answers a message callback, not " + kind
		}
		if t := str("msgtype"); !oneOf(t, "stream", "template_card", "stream_with_template_card", "file", "image", "voice", "video") {
			return 40008, "invalid message type " + t
		}
		conv = s.callbacks["conv:"+reqID]
	case "aibot_respond_welcome_msg":
		if kind != "enter_chat" {
			return 846605, "aibot_respond_welcome_msg answers enter_chat, not " + kind
		}
		if t := str("msgtype"); !oneOf(t, "text", "template_card") {
			return 40008, "welcome message type " + t + " is neither text nor template_card"
		}
		conv = s.callbacks["conv:"+reqID]
	case "aibot_respond_update_msg":
		if kind != "template_card_event" {
			return 846605, "aibot_respond_update_msg answers template_card_event, not " + kind
		}
	case "aibot_send_msg":
		conv = str("chatid")
		if conv != "" && !s.seen[conv] {
			return NoPriorMessage, "no user has messaged the robot in chat " + conv
		}
	case "aibot_upload_media_init":
		conv = "upload"
	}
	if conv == "" {
		return 0, ""
	}
	now := s.Now()
	var minute, hour int
	for _, t := range s.sent[conv] {
		if now.Sub(t) < time.Minute {
			minute++
		}
		if now.Sub(t) < time.Hour {
			hour++
		}
	}
	if minute >= robotPerMinute || hour >= robotPerHour {
		return 45009, "api freq out of limit in " + conv
	}
	s.sent[conv] = append(s.sent[conv], now)
	return 0, ""
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func (s *Server) checkWSShape(cmd string, body map[string]any) string {
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
	return s.checkShape(cmd, "robot", body)
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
// aibot_event_callback) with body to the connected client. The fake notes
// what the req_id answers and, for a message, that the robot has heard
// from its chat.
func (s *Server) Push(cmd, reqID string, body any) error {
	raw, _ := json.Marshal(body)
	var b struct {
		ChatID string `json:"chatid"`
		From   struct {
			UserID string `json:"userid"`
		} `json:"from"`
		Event struct {
			EventType string `json:"eventtype"`
		} `json:"event"`
	}
	json.Unmarshal(raw, &b)
	conv := b.ChatID
	if conv == "" {
		conv = b.From.UserID
	}
	s.mu.Lock()
	conn := s.ws
	kind := "msg"
	if cmd == "aibot_event_callback" {
		kind = b.Event.EventType
	} else {
		s.seen[conv] = true
	}
	s.callbacks[reqID], s.callbacks["conv:"+reqID] = kind, conv
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

// Upload is a file the fake received through one of the upload APIs.
type Upload struct {
	Sender string // "app", "webhook:<key>" or "robot"
	Name   string
	Data   []byte
}

// CardTask returns the task id of the card message/send answered with
// response code code.
func (s *Server) CardTask(code string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	task, ok := s.cards[code]
	return task, ok
}

// Uploaded returns the file behind a media id the fake issued.
func (s *Server) Uploaded(mediaID string) (Upload, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	up, ok := s.media[mediaID]
	return up, ok
}

// issue stores an upload and returns its new media id.
func (s *Server) issue(up Upload) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("media-%d", s.seq)
	s.media[id] = up
	return id
}

// fileLimit is WeCom's limit for type=file uploads; below 5 bytes is refused too.
const fileLimit = 20 << 20

// mediaUpload is the app's media/upload?type=file.
func (s *Server) mediaUpload(w http.ResponseWriter, r *http.Request) {
	if !s.tokenOK(w, r) {
		return
	}
	s.upload(w, r, "media/upload", "app")
}

// webhookUpload is the group robot's webhook/upload_media?key=…&type=file.
func (s *Server) webhookUpload(w http.ResponseWriter, r *http.Request) {
	if key := r.URL.Query().Get("key"); !webhookKey(key) {
		writeErr(w, 93000, "invalid webhook url")
		return
	}
	s.upload(w, r, "webhook/upload_media", "webhook:"+r.URL.Query().Get("key"))
}

// upload checks the documented multipart shape: type=file in the query, one
// part named "media" with a filename and filelength, 5 bytes to 20 MB.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, api, sender string) {
	if s.fault(w, r, api) {
		return
	}
	fail := func(code int, msg string) {
		s.tb.Errorf("wecomtest: %s: %s", api, msg)
		writeErr(w, code, msg)
	}
	if r.Method != http.MethodPost || r.URL.Query().Get("type") != "file" {
		fail(40004, "want POST with type=file")
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		fail(40005, "not multipart/form-data: "+err.Error())
		return
	}
	part, err := mr.NextPart()
	if err != nil {
		fail(40005, "no part: "+err.Error())
		return
	}
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	if err != nil || part.FormName() != "media" || part.FileName() == "" {
		fail(40005, fmt.Sprintf("want a part named media with a filename, got %q", part.Header.Get("Content-Disposition")))
		return
	}
	data, err := io.ReadAll(io.LimitReader(part, fileLimit+1))
	if err != nil {
		fail(40005, err.Error())
		return
	}
	switch {
	case len(data) < 5 || len(data) > fileLimit:
		fail(40006, fmt.Sprintf("file of %d bytes", len(data)))
		return
	case params["filelength"] != fmt.Sprint(len(data)):
		fail(40005, fmt.Sprintf("filelength %q for %d bytes", params["filelength"], len(data)))
		return
	}
	if _, err := mr.NextPart(); err != io.EOF {
		fail(40005, "more than one part")
		return
	}
	id := s.issue(Upload{Sender: sender, Name: part.FileName(), Data: data})
	s.record(api, fmt.Appendf(nil, `{"filename":%q,"size":%d,"media_id":%q}`, part.FileName(), len(data), id))
	fmt.Fprintf(w, `{"errcode":0,"errmsg":"ok","type":"file","media_id":%q,"created_at":"%d"}`, id, time.Now().Unix())
}

// wsUpload is one long-connection upload in progress.
type wsUpload struct {
	name   string
	size   int
	md5    string
	chunks [][]byte
}

// wsUpload handles aibot_upload_media_init/_chunk/_finish and returns the
// ack body, or what is wrong.
func (s *Server) wsUpload(cmd string, b map[string]any) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	num := func(k string) int { v, _ := b[k].(float64); return int(v) }
	str := func(k string) string { v, _ := b[k].(string); return v }
	switch cmd {
	case "aibot_upload_media_init":
		n := num("total_chunks")
		if str("type") != "file" || str("filename") == "" || str("md5") == "" || n < 1 || n > 100 ||
			num("total_size") < 5 || num("total_size") > fileLimit {
			return nil, fmt.Sprintf("bad init %v", b)
		}
		s.seq++
		id := fmt.Sprintf("upload-%d", s.seq)
		s.uploads[id] = &wsUpload{name: str("filename"), size: num("total_size"), md5: str("md5"), chunks: make([][]byte, n)}
		return map[string]any{"upload_id": id}, ""
	case "aibot_upload_media_chunk":
		up := s.uploads[str("upload_id")]
		i := num("chunk_index")
		data, err := base64.StdEncoding.DecodeString(str("base64_data"))
		switch {
		case up == nil:
			return nil, "unknown upload_id"
		case i < 0 || i >= len(up.chunks) || err != nil || len(data) == 0 || len(data) > 512<<10:
			return nil, fmt.Sprintf("bad chunk %d of %d (%d bytes, %v)", i, len(up.chunks), len(data), err)
		}
		up.chunks[i] = data
		return nil, ""
	case "aibot_upload_media_finish":
		up := s.uploads[str("upload_id")]
		if up == nil {
			return nil, "unknown upload_id"
		}
		data := bytes.Join(up.chunks, nil)
		sum := md5.Sum(data)
		if len(data) != up.size || hex.EncodeToString(sum[:]) != up.md5 {
			return nil, fmt.Sprintf("assembled %d bytes (md5 %x), announced %d (md5 %s)", len(data), sum, up.size, up.md5)
		}
		delete(s.uploads, str("upload_id"))
		s.seq++
		id := fmt.Sprintf("media-%d", s.seq)
		s.media[id] = Upload{Sender: "robot", Name: up.name, Data: data}
		return map[string]any{"type": "file", "media_id": id}, ""
	}
	return nil, "unknown upload command " + cmd
}
