package wecomtest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"weibao/wecom"
)

// Callback credentials of the fake app and robot.
const (
	AppToken  = "QDG6eK"
	AppAESKey = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	BotToken  = "fakeBotToken"
	BotAESKey = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

var nonce atomic.Int64

// Query is the signed query string of a callback whose ciphertext is
// encrypt, sent at now: weibao refuses a timestamp far from its own clock,
// so tests pass the clock they gave weibao.
func Query(c *wecom.Crypto, now time.Time, encrypt string) url.Values {
	ts := strconv.FormatInt(now.Unix(), 10)
	n := strconv.FormatInt(nonce.Add(1), 10)
	return url.Values{"msg_signature": {c.Signature(ts, n, encrypt)}, "timestamp": {ts}, "nonce": {n}}
}

// AppCallback encrypts an app message XML into a POST query and body.
func AppCallback(c *wecom.Crypto, now time.Time, plainXML string) (url.Values, []byte) {
	enc, err := c.Encrypt([]byte(plainXML))
	if err != nil {
		panic(err)
	}
	body := fmt.Sprintf("<xml><ToUserName><![CDATA[%s]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt><AgentID><![CDATA[%s]]></AgentID></xml>", CorpID, enc, AgentID)
	return Query(c, now, enc), []byte(body)
}

// RobotCallback encrypts a robot message JSON into a POST query and body.
func RobotCallback(c *wecom.Crypto, now time.Time, plainJSON string) (url.Values, []byte) {
	enc, err := c.Encrypt([]byte(plainJSON))
	if err != nil {
		panic(err)
	}
	return Query(c, now, enc), []byte(fmt.Sprintf(`{"encrypt":%q}`, enc))
}

// Verification is the query of a GET URL check whose echostr decrypts to echo.
func Verification(c *wecom.Crypto, now time.Time, echo string) url.Values {
	enc, err := c.Encrypt([]byte(echo))
	if err != nil {
		panic(err)
	}
	q := Query(c, now, enc)
	q.Set("echostr", enc)
	return q
}

// AppCrypto and RobotCrypto are the fake's callback cryptos.
func AppCrypto() *wecom.Crypto   { return must(wecom.NewCrypto(AppToken, AppAESKey, CorpID)) }
func RobotCrypto() *wecom.Crypto { return must(wecom.NewCrypto(BotToken, BotAESKey, "")) }

func must(c *wecom.Crypto, err error) *wecom.Crypto {
	if err != nil {
		panic(err)
	}
	return c
}

// OpenPassive decrypts a robot callback's passive answer as WeCom does: the
// envelope must carry the callback URL's nonce (q) and a valid signature.
func OpenPassive(c *wecom.Crypto, q url.Values, answer []byte) ([]byte, error) {
	var env struct {
		Encrypt      string `json:"encrypt"`
		MsgSignature string `json:"msgsignature"`
		Timestamp    string `json:"timestamp"`
		Nonce        string `json:"nonce"`
	}
	if err := json.Unmarshal(answer, &env); err != nil {
		return nil, fmt.Errorf("passive answer %q: %w", answer, err)
	}
	if env.Nonce != q.Get("nonce") {
		return nil, fmt.Errorf("passive answer nonce %q, want the callback's %q", env.Nonce, q.Get("nonce"))
	}
	return c.Open(env.MsgSignature, env.Timestamp, env.Nonce, env.Encrypt)
}
