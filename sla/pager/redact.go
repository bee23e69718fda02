package pager

import (
	"net/url"
	"strings"
)

// RedactURL hides the query values and drops the user info of the URL in err when err
// is the *url.Error an HTTP call returns: a provider's endpoint or gateway
// URL may carry a key or a signed query, and the error text reaches the logs
// and the pages' records. Call it before wrapping; the cause stays in the
// chain.
func RedactURL(err error) error {
	ue, ok := err.(*url.Error)
	if !ok {
		return err
	}
	return &url.Error{Op: ue.Op, URL: hideQuery(ue.URL), Err: ue.Err}
}

func hideQuery(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "***"
	}
	u.User = nil
	if u.RawQuery != "" {
		params := strings.Split(u.RawQuery, "&")
		for i, p := range params {
			k, _, _ := strings.Cut(p, "=")
			params[i] = k + "=***"
		}
		u.RawQuery = strings.Join(params, "&")
	}
	u.Fragment = ""
	return u.String()
}
