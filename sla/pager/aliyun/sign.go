package aliyun

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
)

// percentEncode is RFC 3986 encoding as the V2 signature wants it:
// url.QueryEscape already emits %2A for '*' and keeps '~'; only the space
// differs.
func percentEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// canonicalQuery sorts the encoded params (first value of each key) and
// joins them; it is also the request body, so what is signed is what is sent.
func canonicalQuery(params url.Values) string {
	keys := make([]string, 0, len(params))
	enc := make(map[string]string, len(params))
	for k := range params {
		ek := percentEncode(k)
		keys = append(keys, ek)
		enc[ek] = percentEncode(params.Get(k))
	}
	slices.Sort(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k + "=" + enc[k])
	}
	return b.String()
}

// stringToSign is METHOD&%2F&enc(canonical query) (V2, RPC style).
func stringToSign(method string, params url.Values) string {
	return method + "&" + percentEncode("/") + "&" + percentEncode(canonicalQuery(params))
}

// sign is Base64(HMAC-SHA1(secret+"&", stringToSign)).
func sign(secret, sts string) string {
	m := hmac.New(sha1.New, []byte(secret+"&"))
	m.Write([]byte(sts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
