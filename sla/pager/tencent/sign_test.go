package tencent

import "testing"

// Published vector D in docs/phone-alerts.md (Tencent "Signature v3" doc).
func TestSignVector(t *testing.T) {
	const (
		secretID  = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
		secretKey = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
		ts        = 1551113065
		ct        = "application/json; charset=utf-8"
	)
	body := []byte(`{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`)
	if got, want := sha256hex(body), "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"; got != want {
		t.Errorf("payload hash = %s, want %s", got, want)
	}
	cr := canonicalRequest(ct, "cvm.tencentcloudapi.com", body)
	if got, want := sha256hex([]byte(cr)), "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"; got != want {
		t.Errorf("canonical request hash = %s, want %s\n%s", got, want, cr)
	}
	const wantSig = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
	if got := signature(secretKey, "cvm", ts, cr); got != wantSig {
		t.Errorf("signature = %s, want %s", got, wantSig)
	}
	want := "TC3-HMAC-SHA256 Credential=" + secretID + "/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=" + wantSig
	if got := authorization(secretID, secretKey, "cvm", ts, cr); got != want {
		t.Errorf("authorization =\n%s\nwant\n%s", got, want)
	}
}
