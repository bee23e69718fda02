package wecom_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage/redisstore"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// newClient returns a client on a fresh fake. The agent id is random so that
// tests sharing a real Redis never share a cached token.
func newClient(t *testing.T, timeout time.Duration) (*wecom.Client, *wecomtest.Server) {
	t.Helper()
	fake := wecomtest.New(t)
	c, err := wecom.NewClient(wecom.ClientOptions{
		APIBase: fake.URL, CorpID: wecomtest.CorpID, Secret: wecomtest.Secret,
		AgentID:    fmt.Sprint(1000000 + rand.IntN(8999999)),
		Cache:      wecom.NewTokenCache(tokens(t)),
		HTTPClient: &http.Client{Timeout: timeout},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, fake
}

func text(to, s string) wecom.AppMessage {
	return wecom.AppMessage{ToUser: to, MsgType: "text", Text: &wecom.Content{Content: s}}
}

func TestClientTokenCachedAndRefreshed(t *testing.T) {
	ctx := context.Background()
	c, fake := newClient(t, time.Second)
	for range 3 {
		if _, err := c.Send(ctx, text("zhanggong", "hi")); err != nil {
			t.Fatal(err)
		}
	}
	if got := fake.TokenFetches(); got != 1 {
		t.Errorf("token fetches after 3 sends = %d, want 1", got)
	}
	fake.ExpireToken()
	if _, err := c.Send(ctx, text("zhanggong", "after expiry")); err != nil {
		t.Fatalf("send after 42001: %v", err)
	}
	if got := fake.TokenFetches(); got != 2 {
		t.Errorf("token fetches after expiry = %d, want 2", got)
	}
	// The raw calls (update_template_card) refresh the same way.
	fake.ExpireToken()
	err := c.UpdateCard(ctx, wecom.CardUpdateRequest{UserIDs: []string{"zhanggong"}, ResponseCode: "rc", Button: &wecom.ReplaceName{ReplaceName: "已接单"}})
	if err != nil {
		t.Fatalf("update after 42001: %v", err)
	}
	if got := fake.TokenFetches(); got != 3 {
		t.Errorf("token fetches = %d, want 3", got)
	}
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		fault     wecomtest.Fault
		wantCode  int
		temporary bool
	}{
		{"rate limited", wecomtest.Fault{ErrCode: 45009}, 45009, true},
		{"server error", wecomtest.Fault{Status: 502}, 0, true},
		{"slow answer", wecomtest.Fault{Delay: 300 * time.Millisecond}, 0, true},
		{"invalid user", wecomtest.Fault{ErrCode: 81013}, 81013, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fake := newClient(t, 100*time.Millisecond)
			fake.Inject("message/send", tt.fault)
			_, err := c.Send(ctx, text("zhanggong", "x"))
			if err == nil {
				t.Fatal("Send = nil error")
			}
			var ae *wecom.APIError
			if tt.wantCode != 0 && (!errors.As(err, &ae) || ae.Code != tt.wantCode) {
				t.Errorf("err = %v, want errcode %d", err, tt.wantCode)
			}
			if got := wecom.Temporary(err); got != tt.temporary {
				t.Errorf("Temporary(%v) = %v, want %v", err, got, tt.temporary)
			}
		})
	}
}

func TestClientWebhookChecksErrcode(t *testing.T) {
	ctx := context.Background()
	c, fake := newClient(t, time.Second)
	fake.Inject("webhook/send", wecomtest.Fault{ErrCode: 45009})
	msg := wecom.AppMessage{MsgType: "text", Text: &wecom.Content{Content: "工单", MentionedList: []string{"zhanggong"}}}
	var ae *wecom.APIError
	if err := c.Webhook(ctx, wecomtest.WebhookKey, msg); !errors.As(err, &ae) || ae.Code != 45009 {
		t.Fatalf("Webhook err = %v, want errcode 45009", err)
	}
	if err := c.Webhook(ctx, wecomtest.WebhookKey, msg); err != nil {
		t.Fatal(err)
	}
	got := fake.Requests()
	if len(got) != 1 {
		t.Fatalf("requests = %d, want 1", len(got))
	}
	want := map[string]any{"msgtype": "text", "text": map[string]any{"content": "工单", "mentioned_list": []any{"zhanggong"}}}
	if diff := cmp.Diff(want, got[0].Body); diff != "" {
		t.Errorf("webhook body (-want +got):\n%s", diff)
	}
}

func TestClientCardsAndChats(t *testing.T) {
	ctx := context.Background()
	c, fake := newClient(t, time.Second)
	card := &wecom.TemplateCard{CardType: "button_interaction", MainTitle: wecom.CardTitle{Title: "新工单 F1"}, TaskID: "page-F1",
		ButtonList: []wecom.CardButton{{Text: "接单", Style: 1, Key: "ack:F1"}}}
	res, err := c.Send(ctx, wecom.AppMessage{ToUser: "zhanggong", MsgType: "template_card", TemplateCard: card})
	if err != nil {
		t.Fatal(err)
	}
	if res.ResponseCode == "" || res.MsgID == "" {
		t.Errorf("SendResult = %+v, want a msgid and a response code", res)
	}
	if err := c.UpdateCard(ctx, wecom.CardUpdateRequest{UserIDs: []string{"zhanggong"}, ResponseCode: res.ResponseCode,
		Button: &wecom.ReplaceName{ReplaceName: "已接单"}}); err != nil {
		t.Fatal(err)
	}
	id, err := c.CreateAppChat(ctx, wecom.AppChat{Name: "ICU", Owner: "lead", UserList: []string{"lead", "zhanggong"}, ChatID: "icu1"})
	if err != nil || id != "icu1" {
		t.Fatalf("CreateAppChat = %q, %v", id, err)
	}
	if err := c.SendAppChat(ctx, wecom.AppMessage{ChatID: id, MsgType: "markdown", Markdown: &wecom.Content{Content: "**日报**"}}); err != nil {
		t.Fatal(err)
	}
	var apis []string
	for _, r := range fake.Requests() {
		apis = append(apis, r.API)
	}
	want := []string{"message/send", "message/update_template_card", "appchat/create", "appchat/send"}
	if diff := cmp.Diff(want, apis); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestClientRespondIsOneShot(t *testing.T) {
	ctx := context.Background()
	c, fake := newClient(t, time.Second)
	u := fake.ResponseURL("code-1")
	body := wecom.AppMessage{MsgType: "markdown", Markdown: &wecom.Content{Content: "已收到"}}
	if err := c.Respond(ctx, u, body); err != nil {
		t.Fatal(err)
	}
	var ae *wecom.APIError
	if err := c.Respond(ctx, u, body); !errors.As(err, &ae) || wecom.Temporary(err) {
		t.Errorf("second Respond err = %v, want a final APIError", err)
	}
}

// tokens is a token cache's store; the random agent id keeps keys apart.
func tokens(t *testing.T) *redisstore.Values {
	st, _ := redistest.Open(t)
	return st.Values("")
}

// limits and claims give a sender Redis keys of this test's own.
func limits(t *testing.T) *redisstore.RateLog {
	st, _ := redistest.Open(t)
	return st.RateLog(redistest.Prefix() + "rate:")
}

func claims(t *testing.T) *redisstore.Values {
	st, _ := redistest.Open(t)
	return st.Values(redistest.Prefix() + "response_url:")
}

func TestClientDepartmentMembers(t *testing.T) {
	ctx := context.Background()
	c, fake := newClient(t, time.Second)
	fake.SetDepartment(12, wecomtest.Member{UserID: "li", Name: "李护士"}, wecomtest.Member{UserID: "zhao", Name: "赵护士"})
	fake.SetDepartment(13)
	got, err := c.DepartmentMembers(ctx, 12)
	if err != nil {
		t.Fatal(err)
	}
	want := []bot.Person{{UserID: "li", Name: "李护士"}, {UserID: "zhao", Name: "赵护士"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("members (-want +got):\n%s", d)
	}
	if got, err := c.DepartmentMembers(ctx, 13); err != nil || len(got) != 0 {
		t.Errorf("empty department: %+v %v", got, err)
	}
	// An expired token is fetched again, as for every call.
	fake.ExpireToken()
	if _, err := c.DepartmentMembers(ctx, 12); err != nil {
		t.Fatalf("after 42001: %v", err)
	}
	// A department outside the app's visible range is WeCom's 60011, final.
	var ae *wecom.APIError
	if _, err := c.DepartmentMembers(ctx, 99); !errors.As(err, &ae) || ae.Code != 60011 || wecom.Temporary(err) {
		t.Errorf("invisible department: %v", err)
	}
	fake.Inject("user/simplelist", wecomtest.Fault{Status: 502})
	_, err = c.DepartmentMembers(ctx, 12)
	if err == nil || !wecom.Temporary(err) || strings.Contains(err.Error(), "tok-") {
		t.Errorf("HTTP 502: %v (temporary, with no token in it)", err)
	}
}
