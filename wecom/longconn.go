package wecom

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"weibao/bot"
)

// Long-connection commands (doc 101463).
const (
	CmdSubscribe      = "aibot_subscribe"
	CmdPing           = "ping"
	CmdMsgCallback    = "aibot_msg_callback"
	CmdEventCallback  = "aibot_event_callback"
	CmdRespondMsg     = "aibot_respond_msg"
	CmdRespondUpdate  = "aibot_respond_update_msg"
	CmdRespondWelcome = "aibot_respond_welcome_msg"
	CmdSendMsg        = "aibot_send_msg"
	CmdUploadInit     = "aibot_upload_media_init"
	CmdUploadChunk    = "aibot_upload_media_chunk"
	CmdUploadFinish   = "aibot_upload_media_finish"
)

// DefaultWSURL is WeCom's public long-connection endpoint.
const DefaultWSURL = "wss://openws.work.weixin.qq.com"

// ErrNotConnected means this replica holds no long connection right now (it
// is standing by, or reconnecting); the caller retries later.
var ErrNotConnected = errors.New("wecom: robot long connection not held by this replica")

var errKicked = errors.New("wecom: connection replaced by a newer one")

// HoldKey is the key, in LongConnOptions.Hold, that keeps every replica off
// the robot after a kick; deleting it (weibao wecom resume) lets them back.
const HoldKey = "kicked"

// frame is one long-connection message in either direction. Acks carry no
// cmd, the request's req_id, and errcode/errmsg.
type frame struct {
	Cmd     string `json:"cmd,omitempty"`
	Headers struct {
		ReqID string `json:"req_id"`
	} `json:"headers"`
	Body    json.RawMessage `json:"body,omitempty"`
	ErrCode int             `json:"errcode,omitempty"`
	ErrMsg  string          `json:"errmsg,omitempty"`
}

// Lock is a lease that one replica holds at a time; the holder keeps the
// robot's single long connection.
type Lock interface {
	// Acquire takes or renews the lease for ttl and reports whether it is held.
	Acquire(ctx context.Context, ttl time.Duration) (bool, error)
	Release(ctx context.Context) error
}

// Hold is a key with a lifetime shared by replicas (redisstore.Values).
type Hold interface {
	Set(ctx context.Context, key, val string, ttl time.Duration) error
	Exists(ctx context.Context, key string) (bool, error)
}

// LongConnOptions configure a LongConn.
type LongConnOptions struct {
	URL        string // default DefaultWSURL
	BotID      string
	Secret     string
	HTTPClient *http.Client  // for a private CA or proxy; nil is the default client
	Heartbeat  time.Duration // ping interval, default 30 s
	AckTimeout time.Duration // wait for each ack, default 5 s
	MaxBackoff time.Duration // reconnect backoff cap, default 1 min
	// Lock elects the replica that connects; nil means this one always does.
	Lock    Lock
	LockTTL time.Duration // default 15 s
	Standby time.Duration // how often a standby replica tries the lock, default 5 s
	// Inbox keeps the callback frames, through Receive.
	Inbox Acceptor
	Clock bot.Clock
	// Hold keeps all replicas off the robot for Cooldown after another
	// connection took it over (disconnected_event): reconnecting would only
	// kick that one in turn. Nil holds this process only.
	Hold     Hold
	Cooldown time.Duration // default 30 min
	// Kicked is told of a takeover and until when the robot is left alone
	// (the lead's notice); nil says nothing.
	Kicked func(ctx context.Context, until time.Time)
}

// LongConn is the robot's long-connection client: it subscribes with the bot
// id and secret, keeps the connection alive, reconnects with backoff, hands
// each callback frame to the inbox, and sends commands for the Sender.
type LongConn struct {
	opt LongConnOptions
	log *slog.Logger

	mu      sync.Mutex
	conn    *websocket.Conn
	pending map[string]chan frame
	// heldUntil is the hold when none is shared (no Hold, or it failed).
	heldUntil time.Time
}

// NewLongConn returns a client; Run connects it.
func NewLongConn(opt LongConnOptions, logger *slog.Logger) (*LongConn, error) {
	if opt.BotID == "" || opt.Secret == "" {
		return nil, errors.New("wecom: long connection needs wecom.bot.id and wecom.bot.secret")
	}
	if opt.Inbox == nil {
		return nil, errors.New("wecom: long connection needs an Inbox")
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.URL == "" {
		opt.URL = DefaultWSURL
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opt.Heartbeat, 30*time.Second)
	def(&opt.AckTimeout, 5*time.Second)
	def(&opt.MaxBackoff, time.Minute)
	def(&opt.LockTTL, 15*time.Second)
	def(&opt.Standby, 5*time.Second)
	def(&opt.Cooldown, 30*time.Minute)
	return &LongConn{opt: opt, log: logger, pending: map[string]chan frame{}}, nil
}

// Connected reports whether this replica holds a subscribed connection.
func (c *LongConn) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn != nil
}

// Run holds the connection until ctx ends: it waits for the lock, connects,
// and reconnects with exponential backoff after every failure, except a
// takeover by another connection, after which it stays off for Cooldown
// (as the official SDK does, which stops for good).
func (c *LongConn) Run(ctx context.Context) error {
	backoff := time.Second
	for ctx.Err() == nil {
		if c.onHold(ctx) {
			sleep(ctx, c.opt.Standby)
			continue
		}
		held, err := c.acquire(ctx)
		if err != nil || !held {
			if err != nil {
				c.log.Warn("robot long connection lock", "err", err)
			}
			sleep(ctx, c.opt.Standby)
			continue
		}
		connected, err := c.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if connected {
			backoff = time.Second
		}
		if errors.Is(err, errKicked) {
			c.hold(ctx)
			continue
		}
		c.log.Warn("robot long connection lost", "err", err, "retry_in", backoff)
		sleep(ctx, backoff)
		backoff = min(backoff*2, c.opt.MaxBackoff)
	}
	if c.opt.Lock != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		c.opt.Lock.Release(rctx)
	}
	return nil
}

// onHold reports whether the robot is left alone after a takeover; an
// unreadable hold counts as held, since fighting over the bot is worse than
// waiting.
func (c *LongConn) onHold(ctx context.Context) bool {
	c.mu.Lock()
	local := c.opt.Clock.Now().Before(c.heldUntil)
	c.mu.Unlock()
	if local || c.opt.Hold == nil {
		return local
	}
	held, err := c.opt.Hold.Exists(ctx, HoldKey)
	if err != nil {
		c.log.Warn("robot long connection hold", "err", err)
		return true
	}
	return held
}

// hold keeps every replica off the robot for Cooldown and tells Kicked.
func (c *LongConn) hold(ctx context.Context) {
	until := c.opt.Clock.Now().Add(c.opt.Cooldown)
	c.log.Error("robot long connection taken over by another connection with the same bot id: not reconnecting",
		"until", until, "resume", "weibao wecom resume")
	local := c.opt.Hold == nil
	if !local {
		if err := c.opt.Hold.Set(ctx, HoldKey, until.UTC().Format(time.RFC3339), c.opt.Cooldown); err != nil {
			c.log.Warn("robot long connection hold not shared: holding this replica only", "err", err)
			local = true
		}
	}
	if local {
		c.mu.Lock()
		c.heldUntil = until
		c.mu.Unlock()
	}
	if c.opt.Lock != nil {
		c.opt.Lock.Release(ctx)
	}
	if c.opt.Kicked != nil {
		c.opt.Kicked(ctx, until)
	}
}

func (c *LongConn) acquire(ctx context.Context) (bool, error) {
	if c.opt.Lock == nil {
		return true, nil
	}
	return c.opt.Lock.Acquire(ctx, c.opt.LockTTL)
}

// session runs one connection; connected tells whether it got subscribed.
func (c *LongConn) session(parent context.Context) (connected bool, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
	conn, _, err := websocket.Dial(dctx, c.opt.URL, &websocket.DialOptions{HTTPClient: c.opt.HTTPClient})
	dcancel()
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(4 << 20)

	readErr := make(chan error, 1)
	go func() { readErr <- c.readLoop(ctx, conn) }()
	defer c.detach(conn)

	body := map[string]string{"bot_id": c.opt.BotID, "secret": c.opt.Secret}
	if _, err := c.call(ctx, conn, CmdSubscribe, newReqID(), body); err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	c.log.Info("robot long connection subscribed")

	beat := time.NewTicker(c.opt.Heartbeat)
	defer beat.Stop()
	renew := time.NewTicker(c.opt.LockTTL / 3)
	defer renew.Stop()
	for {
		select {
		case err := <-readErr:
			return true, err
		case <-ctx.Done():
			conn.Close(websocket.StatusNormalClosure, "")
			return true, ctx.Err()
		case <-beat.C:
			if _, err := c.call(ctx, conn, CmdPing, newReqID(), nil); err != nil {
				return true, fmt.Errorf("heartbeat: %w", err)
			}
		case <-renew.C:
			// Losing the lease hands the connection to the replica that won it.
			if held, err := c.acquire(ctx); err != nil || !held {
				conn.Close(websocket.StatusNormalClosure, "lease lost")
				return true, fmt.Errorf("lease lost (err %v)", err)
			}
		}
	}
}

// detach forgets conn and fails the calls still waiting on it.
func (c *LongConn) detach(conn *websocket.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn {
		c.conn = nil
	}
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
}

func (c *LongConn) readLoop(ctx context.Context, conn *websocket.Conn) error {
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var f frame
		if err := json.Unmarshal(data, &f); err != nil {
			c.log.Warn("robot long connection: malformed frame", "len", len(data))
			continue
		}
		switch f.Cmd {
		case "":
			c.mu.Lock()
			ch, ok := c.pending[f.Headers.ReqID]
			delete(c.pending, f.Headers.ReqID)
			c.mu.Unlock()
			if ok {
				ch <- f
			}
		case CmdMsgCallback, CmdEventCallback:
			if isDisconnected(f.Body) {
				return errKicked
			}
			c.receive(ctx, f.Headers.ReqID, data)
		}
	}
}

func isDisconnected(body []byte) bool {
	var b struct {
		Event struct {
			EventType string `json:"eventtype"`
		} `json:"event"`
	}
	return json.Unmarshal(body, &b) == nil && b.Event.EventType == "disconnected_event"
}

// receive hands a frame to the inbox. WeCom does not redeliver frames, so a
// failure to store one is retried here before it is given up.
func (c *LongConn) receive(ctx context.Context, reqID string, data []byte) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		_, _, err := Receive(ctx, c.opt.Inbox, SourceRobotWS, data, c.opt.Clock.Now())
		if errors.Is(err, ErrMalformed) {
			c.log.Warn("robot frame rejected", "len", len(data), "err", err)
			return
		}
		if err == nil {
			return
		}
		if attempt == 5 || ctx.Err() != nil {
			c.log.Error("robot long connection: frame not stored", "req_id", reqID, "len", len(data), "err", err)
			return
		}
		sleep(ctx, wait)
		wait *= 2
	}
}

// Send sends cmd with body over the held connection and waits for WeCom's
// ack. reqID is the callback's req_id for replies; empty makes a new one.
func (c *LongConn) Send(ctx context.Context, cmd, reqID string, body any) error {
	_, err := c.request(ctx, cmd, reqID, body)
	return err
}

func (c *LongConn) request(ctx context.Context, cmd, reqID string, body any) (json.RawMessage, error) {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return nil, ErrNotConnected
	}
	if reqID == "" {
		reqID = newReqID()
	}
	return c.call(ctx, conn, cmd, reqID, body)
}

// uploadChunk is the long connection's media chunk size; WeCom takes at
// most 100 of them.
const uploadChunk = 512 << 10

// UploadFile uploads a file over the long connection in chunks
// (aibot_upload_media_init, _chunk…, _finish) and returns its media id for
// aibot_send_msg, valid for 3 days.
func (c *LongConn) UploadFile(ctx context.Context, name string, data []byte) (string, error) {
	chunks := (len(data) + uploadChunk - 1) / uploadChunk
	if chunks == 0 || chunks > 100 {
		return "", &APIError{API: CmdUploadInit, Code: 40006, Message: fmt.Sprintf("file of %d bytes", len(data))}
	}
	sum := md5.Sum(data)
	ack, err := c.request(ctx, CmdUploadInit, "", map[string]any{"type": "file", "filename": name,
		"total_size": len(data), "total_chunks": chunks, "md5": hex.EncodeToString(sum[:])})
	if err != nil {
		return "", err
	}
	var init struct {
		UploadID string `json:"upload_id"`
	}
	if json.Unmarshal(ack, &init); init.UploadID == "" {
		return "", &APIError{API: CmdUploadInit, Code: -1, Message: "no upload_id in the ack"}
	}
	for i := range chunks {
		part := data[i*uploadChunk : min(len(data), (i+1)*uploadChunk)]
		if _, err := c.request(ctx, CmdUploadChunk, "", map[string]any{"upload_id": init.UploadID, "chunk_index": i,
			"base64_data": base64.StdEncoding.EncodeToString(part)}); err != nil {
			return "", err
		}
	}
	ack, err = c.request(ctx, CmdUploadFinish, "", map[string]any{"upload_id": init.UploadID})
	if err != nil {
		return "", err
	}
	var fin struct {
		MediaID string `json:"media_id"`
	}
	if json.Unmarshal(ack, &fin); fin.MediaID == "" {
		return "", &APIError{API: CmdUploadFinish, Code: -1, Message: "no media_id in the ack"}
	}
	return fin.MediaID, nil
}

func (c *LongConn) call(ctx context.Context, conn *websocket.Conn, cmd, reqID string, body any) (json.RawMessage, error) {
	out := struct {
		Cmd     string            `json:"cmd"`
		Headers map[string]string `json:"headers"`
		Body    any               `json:"body,omitempty"`
	}{cmd, map[string]string{"req_id": reqID}, body}
	data, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	ch := make(chan frame, 1)
	c.mu.Lock()
	if _, busy := c.pending[reqID]; busy {
		c.mu.Unlock()
		return nil, fmt.Errorf("wecom %s: req_id %s already waiting for an ack", cmd, reqID)
	}
	c.pending[reqID] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, reqID)
		c.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(ctx, c.opt.AckTimeout)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, data); err != nil {
		forget()
		return nil, fmt.Errorf("wecom %s: write: %w", cmd, err)
	}
	select {
	case ack, ok := <-ch:
		if !ok {
			return nil, fmt.Errorf("wecom %s: %w", cmd, ErrNotConnected)
		}
		if ack.ErrCode != 0 {
			return nil, &APIError{API: cmd, Code: ack.ErrCode, Message: ack.ErrMsg}
		}
		return ack.Body, nil
	case <-ctx.Done():
		forget()
		return nil, fmt.Errorf("wecom %s: no ack: %w", cmd, ctx.Err())
	}
}

func newReqID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
