package pager_test

import (
	"errors"
	"net"
	"net/url"
	"testing"

	"weibao/sla/pager"
)

func TestRedactURL(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	for _, tt := range []struct{ in, want string }{
		{"https://gw.example/page", "https://gw.example/page"},
		{"https://gw.example/page?token=s3cret&to=1", "https://gw.example/page?token=***&to=***"},
		{"https://dyvmsapi.aliyuncs.com/?AccessKeyId=LTAI5t&Signature=abc%3D&Action=IvrCall", "https://dyvmsapi.aliyuncs.com/?AccessKeyId=***&Signature=***&Action=***"},
		{"https://user:pw@gw.example/page#frag", "https://gw.example/page"},
		{"%zz?key=s3cret", "***"},
	} {
		err := pager.RedactURL(&url.Error{Op: "Post", URL: tt.in, Err: dial})
		var ue *url.Error
		if !errors.As(err, &ue) || ue.URL != tt.want {
			t.Errorf("RedactURL(%q) = %v, want URL %q", tt.in, err, tt.want)
		}
		if !pager.NotSent(err) {
			t.Errorf("RedactURL(%q) lost the dial error from the chain", tt.in)
		}
	}
	if other := errors.New("x"); pager.RedactURL(other) != other {
		t.Error("RedactURL changed an error that names no URL")
	}
}
