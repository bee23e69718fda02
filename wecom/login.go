package wecom

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"weibao/bot"
	"weibao/bot/access"
)

// LoginBase is WeCom's web login page (企业微信登录, QR code outside WeCom,
// silent inside it); private deployments with their own login host set
// ClientOptions.LoginBase.
const LoginBase = "https://login.work.weixin.qq.com/wwlogin/sso/login"

// LoginURL is where a browser logs in to weibao with WeCom: WeCom sends
// it back to redirectURI with ?code=&state= (the redirect's domain must be
// the app's trusted domain).
func (c *Client) LoginURL(redirectURI, state string) string {
	q := url.Values{"login_type": {"CorpApp"}, "appid": {c.corpID}, "agentid": {fmt.Sprint(c.agentID)},
		"redirect_uri": {redirectURI}, "state": {state}}
	return c.loginBase + "?" + q.Encode()
}

// UserFromCode resolves a web login's code to the member's user id
// (auth/getuserinfo with the app's token). A code is valid once, for five
// minutes; a non-member (openid only) or a refused code is
// access.ErrUnauthenticated.
func (c *Client) UserFromCode(ctx context.Context, code string) (string, error) {
	var userID string
	err := c.retryToken(ctx, func() error {
		res, err := c.work.GetOauth().GetUserInfo(url.QueryEscape(code))
		if err != nil {
			return fromCommon("auth/getuserinfo", err)
		}
		userID = res.UserID
		return nil
	})
	var ae *APIError
	switch {
	case errors.As(err, &ae) && !ae.Temporary():
		return "", fmt.Errorf("%w: %v", access.ErrUnauthenticated, err)
	case err != nil:
		return "", fmt.Errorf("%w: %w", bot.ErrUnavailable, err)
	}
	if userID == "" {
		return "", fmt.Errorf("%w: wecom auth/getuserinfo: not a member of the corp", access.ErrUnauthenticated)
	}
	return userID, nil
}
