package wecom

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/url"
	"testing"
	"time"
)

// The official WXBizMsgCrypt sample vectors (sbzhu/weworkapi_php Sample.php,
// workweixin/weworkapi_golang json_callback/sample.go).
const (
	vecToken  = "QDG6eK"
	vecCorpID = "wx5823bf96d3bd56c7"
	vecKey    = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"

	vecGetSig     = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
	vecGetTS      = "1409659589"
	vecGetNonce   = "263014780"
	vecGetEchoRaw = "P9nAzCzyDtyTWESHep1vC5X9xho%2FqYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp%2B4RPcs8TgAE7OaBO%2BFZXvnaqQ%3D%3D"
	vecGetPlain   = "1616140317555161061"

	vecPostSig   = "477715d11cdb4164915debcba66cb864d751f3e6"
	vecPostTS    = "1409659813"
	vecPostNonce = "1372623149"
	vecPostBody  = `<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>`
	vecPostPlain = "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>\n<FromUserName><![CDATA[mycreate]]></FromUserName>\n<CreateTime>1409659813</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[hello]]></Content>\n<MsgId>4561255354251345929</MsgId>\n<AgentID>218</AgentID>\n</xml>"

	vecJSONSig   = "0623cbc5a8cbee5bcc137c70de99575366fc2af3"
	vecJSONBody  = `{"tousername":"wx5823bf96d3bd56c7","encrypt":"CZWs4CWRpI4VolQlvn4dlEC1alN2MUEY2VklGehgBVLBrlVF7SyT+SV+Toj43l4ayJ9UMGKphktKKmP7B2j/P1ey67XB8PBgS7Wr5/8+w/yWriZv3Vmoo/MH3/1HsIWZrPQ3N2mJrelStIfI2Y8kLKXA7EhfZgZX4o+ffdkZDM76SEl79Ib9mw7TGjZ9Aw/x/A2VjNbV1E8BtEbRxYYcQippYNw7hr8sFfa3nW1xLdxokt8QkRX83vK3DFP2F6TQFPL2Tu98UwhcUpPvdJBuu1/yiOQIScppV3eOuLWEsko=","agentid":"218"}`
	vecJSONPlain = `{"ToUserName":"wx5823bf96d3bd56c7","FromUserName":"mycreate","CreateTime": 1409659813,"MsgType":"text","Content":"hello","MsgId":4561255354251345929,"AgentID": 218}`
)

func mustCrypto(t testing.TB, receiveID string) *Crypto {
	t.Helper()
	c, err := NewCrypto(vecToken, vecKey, receiveID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVectorSignatures(t *testing.T) {
	c := mustCrypto(t, vecCorpID)
	echo, _ := url.QueryUnescape(vecGetEchoRaw)
	env, err := ParseAppEnvelope([]byte(vecPostBody))
	if err != nil {
		t.Fatal(err)
	}
	jenv, err := ParseRobotEnvelope([]byte(vecJSONBody))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, ts, nonce, encrypt, want string
	}{
		{"echostr", vecGetTS, vecGetNonce, echo, vecGetSig},
		{"xml", vecPostTS, vecPostNonce, env.Encrypt, vecPostSig},
		{"json", vecPostTS, vecPostNonce, jenv, vecJSONSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.Signature(tt.ts, tt.nonce, tt.encrypt); got != tt.want {
				t.Errorf("Signature = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestVectorDecrypt(t *testing.T) {
	echo, _ := url.QueryUnescape(vecGetEchoRaw)
	env, _ := ParseAppEnvelope([]byte(vecPostBody))
	jenv, _ := ParseRobotEnvelope([]byte(vecJSONBody))
	tests := []struct {
		name, sig, ts, nonce, encrypt, want string
	}{
		{"echostr", vecGetSig, vecGetTS, vecGetNonce, echo, vecGetPlain},
		{"xml", vecPostSig, vecPostTS, vecPostNonce, env.Encrypt, vecPostPlain},
		{"json", vecJSONSig, vecPostTS, vecPostNonce, jenv, vecJSONPlain},
	}
	for _, receiveID := range []string{vecCorpID, ""} {
		c := mustCrypto(t, receiveID)
		for _, tt := range tests {
			t.Run(tt.name+"/"+receiveID, func(t *testing.T) {
				got, err := c.Open(tt.sig, tt.ts, tt.nonce, tt.encrypt)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tt.want {
					t.Errorf("Open = %q, want %q", got, tt.want)
				}
			})
		}
	}
}

func TestCryptoTamper(t *testing.T) {
	c := mustCrypto(t, vecCorpID)
	env, _ := ParseAppEnvelope([]byte(vecPostBody))
	other := mustCrypto(t, "wx0000000000000000")
	// A ciphertext whose last block decrypts to padding byte 0.
	badPad := c.EncryptWithRandom(make([]byte, 16), []byte("x"))
	rawBad := mustB64(t, badPad)
	rawBad[len(rawBad)-17] ^= 0xff // flips the last plaintext byte through CBC
	tests := []struct {
		name    string
		c       *Crypto
		sig     string
		encrypt string
		want    error
	}{
		{"forged signature", c, "0000000000000000000000000000000000000000", env.Encrypt, ErrSignature},
		{"signature of other body", c, vecGetSig, env.Encrypt, ErrSignature},
		{"wrong corp id", other, "", env.Encrypt, ErrReceiver},
		{"truncated", c, "", env.Encrypt[:len(env.Encrypt)-8], ErrCipher},
		{"not base64", c, "", "!!!!", ErrCipher},
		{"bad padding", c, "", b64(rawBad), ErrCipher},
		{"empty", c, "", "", ErrCipher},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig := tt.sig
			if sig == "" {
				sig = tt.c.Signature(vecPostTS, vecPostNonce, tt.encrypt)
			}
			_, err := tt.c.Open(sig, vecPostTS, vecPostNonce, tt.encrypt)
			if !errors.Is(err, tt.want) {
				t.Errorf("Open err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCryptoRoundTripEmptyReceiveID(t *testing.T) {
	c := mustCrypto(t, "")
	for _, msg := range [][]byte{[]byte(`{"msgid":"1"}`), bytes.Repeat([]byte("中"), 1000), {}} {
		enc, err := c.Encrypt(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Decrypt(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("round trip = %q, want %q", got, msg)
		}
	}
}

func TestNewCryptoRejectsBadKey(t *testing.T) {
	for _, key := range []string{"", "short", vecKey + "x", "!" + vecKey[1:]} {
		if _, err := NewCrypto(vecToken, key, ""); err == nil {
			t.Errorf("NewCrypto(%q) = nil error", key)
		}
	}
	if _, err := NewCrypto("", vecKey, ""); err == nil {
		t.Error("NewCrypto with empty token = nil error")
	}
}

func mustB64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestCheckTimestamp(t *testing.T) {
	now := time.Unix(1764800000, 0)
	for _, tc := range []struct {
		ts    string
		stale bool
	}{
		{"1764800000", false},
		{"1764799700", false}, // 5 min old: the edge
		{"1764800300", false}, // 5 min ahead
		{"1764799699", true},
		{"1764800301", true},
		{"1732600000", true}, // a year old
		{"", true},
		{"17648e5", true},
		{"-1", true},
	} {
		err := CheckTimestamp(tc.ts, now, 5*time.Minute)
		if got := errors.Is(err, ErrStale); got != tc.stale || (err != nil) != tc.stale {
			t.Errorf("CheckTimestamp(%q) = %v, want stale %v", tc.ts, err, tc.stale)
		}
	}
}
