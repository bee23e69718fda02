package tencent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

const signedHeaders = "content-type;host"

func sha256hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// canonicalRequest is the TC3 canonical request of a POST to "/" with no
// query string; contentType must be the exact header value sent.
func canonicalRequest(contentType, host string, body []byte) string {
	return "POST\n/\n\n" +
		"content-type:" + strings.ToLower(strings.TrimSpace(contentType)) + "\n" +
		"host:" + strings.ToLower(strings.TrimSpace(host)) + "\n\n" +
		signedHeaders + "\n" + sha256hex(body)
}

// scope uses the UTC date of the timestamp; a local date breaks at midnight.
func scope(service string, ts int64) string {
	return time.Unix(ts, 0).UTC().Format(time.DateOnly) + "/" + service + "/tc3_request"
}

// signature derives the signing key from the secret and signs the
// canonical request.
func signature(secretKey, service string, ts int64, canonical string) string {
	date := time.Unix(ts, 0).UTC().Format(time.DateOnly)
	kDate := hmacSHA256([]byte("TC3"+secretKey), date)
	kService := hmacSHA256(kDate, service)
	kSigning := hmacSHA256(kService, "tc3_request")
	sts := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + scope(service, ts) + "\n" + sha256hex([]byte(canonical))
	return hex.EncodeToString(hmacSHA256(kSigning, sts))
}

// authorization is the Authorization header value.
func authorization(secretID, secretKey, service string, ts int64, canonical string) string {
	return "TC3-HMAC-SHA256 Credential=" + secretID + "/" + scope(service, ts) +
		", SignedHeaders=" + signedHeaders + ", Signature=" + signature(secretKey, service, ts, canonical)
}
