package wecom

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// secretQuery matches the query values that authenticate a WeCom call: the
// app Secret (gettoken), an access token, a robot webhook key.
var secretQuery = regexp.MustCompile(`(?i)\b(corpsecret|access_token|key)=[^&\s"']*`)

// redact clears err of the secrets in the URLs it names: net/http's
// *url.Error and silenceper's messages print the URL called, and the text
// reaches the logs and outbox.last_error. hide are literal secrets to mask
// too (a response_url's path). The chain stays for errors.As; the
// *url.Error in it, made by this call's request, is masked in place so
// unwrapping shows no more than Error does.
func redact(err error, hide ...string) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = scrub(ue.URL, hide)
	}
	msg := scrub(err.Error(), hide)
	return &redactedError{msg: msg, err: err}
}

func scrub(s string, hide []string) string {
	for _, h := range hide {
		if h != "" {
			s = strings.ReplaceAll(s, h, "***")
		}
	}
	return secretQuery.ReplaceAllString(s, "$1=***")
}

// responsePath is what makes a response_url a credential, its path and
// query (anyone holding it can reply as the robot), as written and as
// net/http prints it; the host stays for diagnosis.
func responsePath(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return []string{raw}
	}
	prefix := u.Scheme + "://" + u.Host + "/"
	return []string{strings.TrimPrefix(raw, prefix), strings.TrimPrefix(u.String(), prefix)}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
