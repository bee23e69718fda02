package wecom_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// closedURL is an address nothing listens on: every call is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func clientAt(t *testing.T, base string, timeout time.Duration) *wecom.Client {
	t.Helper()
	c, err := wecom.NewClient(wecom.ClientOptions{
		APIBase: base, CorpID: wecomtest.CorpID, Secret: wecomtest.Secret,
		AgentID:    fmt.Sprint(1000000 + rand.IntN(8999999)),
		Cache:      wecom.NewTokenCache(tokens(t)),
		HTTPClient: &http.Client{Timeout: timeout},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertNoSecret fails when err, or the *url.Error in its chain, shows one
// of secrets; the error must still be one.
func assertNoSecret(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want a failure")
	}
	texts := []string{err.Error()}
	var ue *url.Error
	if errors.As(err, &ue) {
		texts = append(texts, ue.Error())
	}
	for _, s := range texts {
		for _, secret := range secrets {
			if strings.Contains(s, secret) {
				t.Errorf("error shows %q: %s", secret, s)
			}
		}
	}
	if !strings.Contains(err.Error(), "***") {
		t.Errorf("error %q does not say what it hid", err)
	}
}

func TestClientErrorsHideSecrets(t *testing.T) {
	ctx := context.Background()
	const key = "8a3f0c2e-webhook-key-0000"
	responseURL := closedURL(t) + "/cgi-bin/aibot/response?response_code=RC-secret-1234"
	c := clientAt(t, closedURL(t), time.Second)
	for _, tt := range []struct {
		name string
		call func() error
		hide []string
	}{
		{"gettoken refused (message/send)", func() error { _, err := c.Send(ctx, text("zhanggong", "hi")); return err }, []string{wecomtest.Secret}},
		{"gettoken refused (raw call)", func() error {
			return c.UpdateCard(ctx, wecom.CardUpdateRequest{ResponseCode: "x", Button: &wecom.ReplaceName{ReplaceName: "已接单"}})
		}, []string{wecomtest.Secret}},
		{"webhook refused", func() error { return c.Webhook(ctx, key, text("", "hi")) }, []string{key}},
		{"webhook upload refused", func() error { _, err := c.UploadWebhookFile(ctx, key, "a.txt", []byte("a")); return err }, []string{key}},
		{"response_url refused", func() error { return c.Respond(ctx, responseURL, text("", "hi")) }, []string{"response_code", "RC-secret-1234", "/cgi-bin/aibot"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			assertNoSecret(t, err, tt.hide...)
			if !wecom.Temporary(err) {
				t.Errorf("a refused call must stay temporary: %v", err)
			}
		})
	}
}

func TestClientErrorsHideTokens(t *testing.T) {
	ctx := context.Background()
	fake := wecomtest.New(t)
	c := clientAt(t, fake.URL, 200*time.Millisecond)

	// silenceper prints the gettoken URL itself when the answer is not 200.
	fake.Inject("gettoken", wecomtest.Fault{Status: http.StatusInternalServerError})
	_, err := c.Send(ctx, text("zhanggong", "hi"))
	assertNoSecret(t, err, wecomtest.Secret)

	// A timeout on a raw call prints its URL with the access token.
	if _, err := c.Send(ctx, text("zhanggong", "fetch a token")); err != nil {
		t.Fatal(err)
	}
	fake.Inject("message/update_template_card", wecomtest.Fault{Delay: time.Second})
	err = c.UpdateCard(ctx, wecom.CardUpdateRequest{ResponseCode: "x", Button: &wecom.ReplaceName{ReplaceName: "已接单"}})
	if err == nil || !strings.Contains(err.Error(), "access_token=***") {
		t.Errorf("err = %v, want the token hidden", err)
	}
}
