// Package aliyuntest is a fake Alibaba Cloud for tests: the RPC products
// (Dyvmsapi, Dysmsapi, Dybaseapi's QueryTokenForMnsQueue) checking the V2
// signature, and the receipt queues (MNS) checking the queue signature
// with the temporary token it issued, as the services do.
package aliyuntest

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"weibao/sla/pager"
	"weibao/sla/pager/aliyun"
)

// Server is the fake; URL serves every product and the queues.
type Server struct {
	URL string
	// Visibility is how long a received, undeleted message stays hidden.
	Visibility time.Duration

	keyID, secret string
	mu            sync.Mutex
	calls         []url.Values
	tokens        map[string]string // STS key id → secret
	security      map[string]string // STS key id → security token
	queues        map[string][]*message
	failures      []int
	n             int
	put           chan struct{}
}

type message struct {
	id, handle, body string
	visibleAt        time.Time
}

// New starts a fake accepting the AccessKey id and secret.
func New(t *testing.T, keyID, secret string) *Server {
	s := &Server{Visibility: 30 * time.Second, keyID: keyID, secret: secret, tokens: map[string]string{},
		security: map[string]string{}, queues: map[string][]*message{}, put: make(chan struct{}, 1)}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/"
	return s
}

// Calls are the RPC requests received (signature checked), in order.
func (s *Server) Calls() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.calls...)
}

// Put enqueues a JSON record as Alibaba does: Base64 with its MD5.
func (s *Server) Put(queue, record string) {
	s.mu.Lock()
	s.n++
	s.queues[queue] = append(s.queues[queue], &message{id: "msg" + strconv.Itoa(s.n), body: base64.StdEncoding.EncodeToString([]byte(record))})
	s.mu.Unlock()
	select {
	case s.put <- struct{}{}:
	default:
	}
}

// Len is the number of messages in queue not deleted yet.
func (s *Server) Len(queue string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queues[queue])
}

// Fail answers the next queue requests with these HTTP statuses.
func (s *Server) Fail(statuses ...int) {
	s.mu.Lock()
	s.failures = append(s.failures, statuses...)
	s.mu.Unlock()
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/queues/") {
		s.serveQueue(w, r)
		return
	}
	if err := s.verifyRPC(r); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"Code":"SignatureDoesNotMatch","Message":%q,"RequestId":"r"}`, err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, r.PostForm)
	s.n++
	switch a := r.PostForm.Get("Action"); a {
	case "SingleCallByTts", "IvrCall":
		fmt.Fprintf(w, `{"Code":"OK","Message":"OK","RequestId":"r%d","CallId":"call-%d"}`, s.n, s.n)
	case "SendSms":
		fmt.Fprintf(w, `{"Code":"OK","Message":"OK","RequestId":"r%d","BizId":"biz-%d"}`, s.n, s.n)
	case "QueryTokenForMnsQueue":
		id := "STS.key" + strconv.Itoa(s.n)
		s.tokens[id], s.security[id] = "sts-secret"+strconv.Itoa(s.n), "sts-token"+strconv.Itoa(s.n)
		exp := time.Now().Add(time.Hour).In(pager.Beijing).Format(time.DateTime)
		fmt.Fprintf(w, `{"Code":"OK","Message":"OK","RequestId":"r%d","MessageTokenDTO":{"AccessKeyId":%q,"AccessKeySecret":%q,"SecurityToken":%q,"CreateTime":"","ExpireTime":%q}}`,
			s.n, id, s.tokens[id], s.security[id], exp)
	default:
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `{"Code":"InvalidAction","Message":%q}`, a)
	}
}

// verifyRPC recomputes the V2 signature over the received form with its own
// RFC 3986 encoder.
func (s *Server) verifyRPC(r *http.Request) error {
	if err := r.ParseForm(); err != nil {
		return err
	}
	f := r.PostForm
	if f.Get("AccessKeyId") != s.keyID {
		return fmt.Errorf("unknown AccessKeyId %q", f.Get("AccessKeyId"))
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = enc(k) + "=" + enc(f.Get(k))
	}
	m := hmac.New(sha1.New, []byte(s.secret+"&"))
	m.Write([]byte(r.Method + "&%2F&" + enc(strings.Join(pairs, "&"))))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); f.Get("Signature") != want {
		return fmt.Errorf("signature %q, want %q", f.Get("Signature"), want)
	}
	return nil
}

func enc(s string) string {
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

func mnsError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error xmlns="http://mns.aliyuncs.com/doc/v1/"><Code>%s</Code><Message>%s</Message><RequestId>r</RequestId><HostId>fake</HostId></Error>`, code, code)
}

func (s *Server) serveQueue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if len(s.failures) > 0 {
		st := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		mnsError(w, st, "InternalError")
		return
	}
	s.mu.Unlock()
	if code := s.verifyMNS(r); code != "" {
		mnsError(w, http.StatusForbidden, code)
		return
	}
	name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/queues/"), "/messages")
	switch r.Method {
	case http.MethodGet:
		s.receive(w, r, name)
	case http.MethodDelete:
		s.mu.Lock()
		defer s.mu.Unlock()
		h := r.URL.Query().Get("ReceiptHandle")
		for i, m := range s.queues[name] {
			if m.handle != "" && m.handle == h {
				s.queues[name] = append(s.queues[name][:i], s.queues[name][i+1:]...)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		mnsError(w, http.StatusNotFound, "ReceiptHandleError")
	default:
		mnsError(w, http.StatusMethodNotAllowed, "InvalidArgument")
	}
}

// verifyMNS checks Date (within 15 minutes), x-mns-version, the temporary
// token and the signature over method, Content-MD5, Content-Type, Date,
// the x-mns-* headers and the resource as requested.
func (s *Server) verifyMNS(r *http.Request) string {
	d, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil || time.Since(d).Abs() > 15*time.Minute {
		return "TimeExpired"
	}
	if r.Header.Get("x-mns-version") != "2015-06-06" {
		return "InvalidArgument"
	}
	id, sig, ok := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "MNS "), ":")
	s.mu.Lock()
	secret, known := s.tokens[id]
	security := s.security[id]
	s.mu.Unlock()
	if !ok || !known {
		return "InvalidAccessKeyId"
	}
	if r.Header.Get("security-token") != security {
		return "InvalidSecurityToken"
	}
	if aliyun.MNSSignature(secret, r.Method, r.Header.Get("Content-MD5"), r.Header.Get("Content-Type"), r.Header.Get("Date"), r.Header, r.URL.RequestURI()) != sig {
		return "SignatureDoesNotMatch"
	}
	return ""
}

// receive answers BatchReceiveMessage, holding the request up to
// waitseconds for a message.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, name string) {
	n, _ := strconv.Atoi(r.URL.Query().Get("numOfMessages"))
	wait, _ := strconv.Atoi(r.URL.Query().Get("waitseconds"))
	deadline := time.Now().Add(time.Duration(wait) * time.Second)
	for {
		type msg struct {
			MessageID      string `xml:"MessageId"`
			ReceiptHandle  string `xml:"ReceiptHandle"`
			MessageBodyMD5 string `xml:"MessageBodyMD5"`
			MessageBody    string `xml:"MessageBody"`
		}
		var out []msg
		s.mu.Lock()
		now := time.Now()
		for _, m := range s.queues[name] {
			if len(out) < max(n, 1) && !now.Before(m.visibleAt) {
				s.n++
				m.handle, m.visibleAt = "handle="+strconv.Itoa(s.n), now.Add(s.Visibility)
				sum := md5.Sum([]byte(m.body))
				out = append(out, msg{m.id, m.handle, strings.ToUpper(hex.EncodeToString(sum[:])), m.body})
			}
		}
		s.mu.Unlock()
		if len(out) > 0 {
			w.Header().Set("Content-Type", "text/xml")
			b, _ := xml.Marshal(struct {
				XMLName  xml.Name `xml:"http://mns.aliyuncs.com/doc/v1/ Messages"`
				Messages []msg    `xml:"Message"`
			}{Messages: out})
			w.Write(append([]byte(xml.Header), b...))
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.put:
		case <-time.After(min(time.Until(deadline), 50*time.Millisecond)):
		}
		if !time.Now().Before(deadline) {
			mnsError(w, http.StatusNotFound, "MessageNotExist")
			return
		}
	}
}
