package wecom_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/wecom/wecomtest"
)

func TestUserFromCode(t *testing.T) {
	ctx := context.Background()
	c, fake := newClient(t, 5*time.Second)
	now := time.Now()
	fake.Now = func() time.Time { return now }

	code := fake.LoginCode("lead1")
	if id, err := c.UserFromCode(ctx, code); err != nil || id != "lead1" {
		t.Fatalf("UserFromCode = %q, %v; want lead1", id, err)
	}
	if _, err := c.UserFromCode(ctx, code); !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("a used code: %v, want ErrUnauthenticated", err)
	}
	if _, err := c.UserFromCode(ctx, fake.LoginCode("")); !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("someone outside the corp: %v, want ErrUnauthenticated", err)
	}
	late := fake.LoginCode("eng1")
	now = now.Add(5 * time.Minute)
	if _, err := c.UserFromCode(ctx, late); !errors.Is(err, access.ErrUnauthenticated) {
		t.Errorf("a code after 5 min: %v, want ErrUnauthenticated", err)
	}
	// An expired app token is refreshed once and the code still works.
	fake.ExpireToken()
	if id, err := c.UserFromCode(ctx, fake.LoginCode("eng1")); err != nil || id != "eng1" {
		t.Errorf("after the token expired: %q, %v; want eng1", id, err)
	}
	fake.Inject("auth/getuserinfo", wecomtest.Fault{Status: 502})
	if _, err := c.UserFromCode(ctx, fake.LoginCode("eng1")); !errors.Is(err, bot.ErrUnavailable) {
		t.Errorf("WeCom down: %v, want ErrUnavailable (retry, not a refusal)", err)
	}
}

func TestLoginURL(t *testing.T) {
	c, _ := newClient(t, time.Second)
	u, err := url.Parse(c.LoginURL("https://weibao.example/api/v1/login/wecom/callback", "s1"))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "login.work.weixin.qq.com" || q.Get("login_type") != "CorpApp" || q.Get("appid") != wecomtest.CorpID ||
		q.Get("agentid") == "" || q.Get("redirect_uri") != "https://weibao.example/api/v1/login/wecom/callback" || q.Get("state") != "s1" {
		t.Errorf("login URL %s", u)
	}
}
