package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"weibao/wecom/wecomtest"
)

// observation is one thing a user waited for: a callback's answer or the
// bot's reply to a message.
type observation struct {
	At      time.Time
	Wait    time.Duration
	Kind    string // "answer" (HTTP answer to a callback) or "reply" (the bot's reply)
	OK      bool
	Error   string // the refusal, timeout or the error text the user read
	Attempt int
}

// users is the load: nurses, engineers and reporters talking to weibao
// through the balancer as WeCom would deliver them.
type users struct {
	url   string // the balancer
	wecom *weCom
	db    *sql.DB
	run   string
	hc    *http.Client
	seq   atomic.Int64

	mu       sync.Mutex
	obs      []observation
	reports  map[string]*report   // reporter id → report
	inflight map[string]time.Time // msgid → first send, while WeCom would still retry it
}

type report struct {
	ID, Chat, Kind string
	At             time.Time
	Accepted       bool // some attempt was answered 200
	Ticket         string
	Acked          bool // the engineer's acknowledgement was answered 200
	Confirmed      bool // the reporter was thanked for confirming
}

func newUsers(url string, w *weCom, db *sql.DB, run string) *users {
	return &users{url: url, wecom: w, db: db, run: run, hc: &http.Client{Timeout: 5 * time.Second},
		reports: map[string]*report{}, inflight: map[string]time.Time{}}
}

func (u *users) observe(o observation) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.obs = append(u.obs, o)
}

// deliver posts one callback as WeCom does: an answer slower than 5 s or
// not 200 is retried, three more times; a share of messages is delivered
// twice even when answered. It reports whether some attempt got a 200.
func (u *users) deliver(path, msgID string, body func() ([]byte, string)) bool {
	first := time.Now()
	u.mu.Lock()
	u.inflight[msgID] = first
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		delete(u.inflight, msgID)
		u.mu.Unlock()
	}()
	ok := false
	for attempt := 1; attempt <= 4 && !ok; attempt++ {
		if attempt > 1 {
			time.Sleep(time.Duration(attempt) * time.Second)
		}
		b, q := body()
		start := time.Now()
		res, err := u.hc.Post(u.url+path+"?"+q, "application/json", bytes.NewReader(b))
		o := observation{At: start, Kind: "answer", Attempt: attempt}
		o.Wait = time.Since(start)
		switch {
		case err != nil:
			o.Error = "transport: " + shortErr(err)
		case res.StatusCode != 200:
			msg, _ := io.ReadAll(io.LimitReader(res.Body, 200))
			o.Error = fmt.Sprintf("HTTP %d %s", res.StatusCode, strings.TrimSpace(string(msg)))
		default:
			o.OK, ok = true, true
		}
		if res != nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		u.observe(o)
	}
	if ok && rand.IntN(20) == 0 { // a duplicate delivery of an answered message
		b, q := body()
		if res, err := u.hc.Post(u.url+path+"?"+q, "application/json", bytes.NewReader(b)); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	return ok
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// say sends text from user (chat "" is 1:1 with the robot) and waits for the
// robot's reply through the message's response_url.
func (u *users) say(from, chat, text string) (string, bool) {
	n := u.seq.Add(1)
	msgID := fmt.Sprintf("soak%s-%d", u.run, n)
	code := fmt.Sprintf("rc%s-%d", u.run, n)
	chatType, chatField := "single", ""
	if chat != "" {
		chatType, chatField = "group", fmt.Sprintf(`"chatid":%q,`, chat)
	}
	msg := fmt.Sprintf(`{"msgid":%q,"aibotid":%q,%s"chattype":%q,"from":{"userid":%q},"response_url":%q,"msgtype":"text","text":{"content":%q}}`,
		msgID, wecomtest.BotID, chatField, chatType, from, u.wecom.gate.URL()+"/cgi-bin/aibot/response?response_code="+code, "@维保 "+text)
	replies := u.wecom.expect(code)
	start := time.Now()
	if !u.deliver("/wecom/bot", msgID, func() ([]byte, string) {
		q, b := wecomtest.RobotCallback(wecomtest.RobotCrypto(), time.Now(), msg)
		return b, q.Encode()
	}) {
		return "", false
	}
	o := observation{At: start, Kind: "reply"}
	var reply string
	select {
	case reply = <-replies:
		o.OK = !strings.Contains(reply, "系统繁忙")
		if !o.OK {
			o.Error = "系统繁忙"
		}
	case <-time.After(60 * time.Second):
		o.Error = "no reply in 60s"
	}
	o.Wait = time.Since(start)
	u.observe(o)
	return reply, true
}

// click is an engineer's card button, through the app's callback.
func (u *users) click(from, key, task string) bool {
	n := u.seq.Add(1)
	xml := fmt.Sprintf(`<xml><ToUserName>%s</ToUserName><FromUserName>%s</FromUserName><CreateTime>%d</CreateTime><MsgType>event</MsgType><Event>template_card_event</Event><EventKey>%s</EventKey><TaskId>%s</TaskId><CardType>button_interaction</CardType><ResponseCode>rc%s-%d</ResponseCode><AgentID>%s</AgentID></xml>`,
		wecomtest.CorpID, from, time.Now().Unix(), key, task, u.run, n, wecomtest.AgentID)
	return u.deliver("/wecom/callback", fmt.Sprintf("click%s-%d", u.run, n), func() ([]byte, string) {
		q, b := wecomtest.AppCallback(wecomtest.AppCrypto(), time.Now(), xml)
		return b, q.Encode()
	})
}

// ticketOf waits for the reporter's ticket number in the database (what the
// nurse reads in the reply, and the engineer in his card).
func (u *users) ticketOf(ctx context.Context, reporter string, timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var no string
		if err := u.db.QueryRowContext(ctx, "SELECT no FROM tickets WHERE reporter_id = ? ORDER BY id LIMIT 1", reporter).Scan(&no); err == nil {
			return no
		}
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(500 * time.Millisecond):
		}
	}
	return ""
}

func pause(ctx context.Context, lo, hi time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(lo + rand.N(hi-lo+1)):
		return true
	}
}

// fault story i: one nurse's report, its dialogue, the engineer's work and
// the nurse's confirmation. One in ten is a patient-safety report (ticketed
// and paged at once), one in ten is abandoned mid-dialogue (ticketed by the
// dialogue's timeout).
func (u *users) story(ctx context.Context, i int) {
	r := &report{ID: fmt.Sprintf("n%s-%d", u.run, i), Chat: wards[i%len(wards)], Kind: "routine", At: time.Now()}
	switch i % 10 {
	case 3:
		r.Kind = "safety"
	case 7:
		r.Kind = "abandoned"
	}
	u.mu.Lock()
	u.reports[r.ID] = r
	u.mu.Unlock()
	text := fmt.Sprintf("护士站电脑登不上重症系统（%d床）", i)
	if r.Kind == "safety" {
		text = fmt.Sprintf("监护仪数据不显示，影响抢救（%d床）", i)
	}
	reply, ok := u.say(r.ID, r.Chat, text)
	u.mu.Lock()
	r.Accepted = ok
	u.mu.Unlock()
	if !ok || r.Kind == "abandoned" {
		return
	}
	if r.Kind == "safety" {
		if pause(ctx, time.Second, 3*time.Second) {
			u.say(r.ID, r.Chat, "取消")
		}
	} else {
		for _, answer := range []string{"1", "2", "2"} {
			if strings.Contains(reply, "已登记工单") || !pause(ctx, time.Second, 4*time.Second) {
				break
			}
			reply, _ = u.say(r.ID, r.Chat, answer)
		}
	}
	no := u.ticketOf(ctx, r.ID, 90*time.Second)
	if no == "" {
		return
	}
	u.mu.Lock()
	r.Ticket = no
	u.mu.Unlock()
	// The engineer acknowledges within 3–30 s (some past the ack SLA and the
	// first escalation), half by command, half by the card's button.
	if !pause(ctx, 3*time.Second, 30*time.Second) {
		return
	}
	var acked bool
	if i%2 == 0 {
		_, acked = u.say("eng1", "", "接单 "+no)
	} else {
		acked = u.click("eng1", "ack:"+no, no+"-L0")
	}
	u.mu.Lock()
	r.Acked = acked
	u.mu.Unlock()
	if !pause(ctx, 3*time.Second, 20*time.Second) {
		return
	}
	asked := make(chan bool, 1)
	go func() {
		_, ok := u.wecom.awaitCall(func(c call) bool {
			text, _ := c.Body["text"].(map[string]any)
			content, _ := text["content"].(string)
			mentioned, _ := text["mentioned_list"].([]any)
			return c.OK && c.API == "webhook/send" && strings.Contains(content, "问题解决了吗") && slices.Contains(mentioned, any(r.ID))
		}, 90*time.Second)
		asked <- ok
	}()
	u.say("eng1", "", "已解决 "+no+" 原因:浏览器缓存损坏 方案:清除缓存")
	if !<-asked {
		u.observe(observation{At: time.Now(), Kind: "reply", Error: "confirmation question never reached the reporter"})
		return
	}
	if !pause(ctx, time.Second, 5*time.Second) {
		return
	}
	if reply, _ := u.say(r.ID, r.Chat, "1"); strings.Contains(reply, "感谢") {
		u.mu.Lock()
		r.Confirmed = true
		u.mu.Unlock()
	}
}

// oldestInflight is when the oldest callback WeCom would still retry was
// first sent (zero if none).
func (u *users) oldestInflight() time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	var t time.Time
	for _, at := range u.inflight {
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}
