// Package pager pages on-call engineers by phone call and SMS through
// pluggable providers (Alibaba Cloud, Tencent Cloud, a signed webhook, a log
// sink). A Registry tries the configured routes in order, keeps each provider
// under its per-number limits, places a call for a page at most once, and
// returns one Attempt per route tried so the caller can put them on the
// ticket timeline.
//
// The package is a library: it imports nothing of weibao.
package pager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Channel is how a page reaches a person.
type Channel string

// Channels.
const (
	Voice Channel = "voice"
	SMS   Channel = "sms"
)

// Param is one template variable. Params are ordered because Tencent
// templates take positional values while Alibaba takes a named JSON object.
type Param struct {
	Name  string
	Value string
}

// Page is one notification to one person.
type Page struct {
	// ID is the idempotency key of the page (for example "1024-2" for the
	// second escalation step of ticket 1024). Alibaba echoes at most 15
	// bytes of it back in receipts, so keep it short.
	ID string
	// TicketNumber is carried to webhook gateways and logs.
	TicketNumber string
	// Mobile is the mainland number to ring or text; "+86", "0086" and "86"
	// prefixes, spaces and dashes are accepted.
	Mobile string
	// Params fill the provider's approved TTS/SMS template.
	Params []Param
	// Text is the plain message for gateways that take free text.
	Text string
	// Channels restricts the routes tried; empty means every route.
	Channels []Channel
}

// Validate reports whether the page can be sent at all.
func (p Page) Validate() error {
	if p.ID == "" {
		return fmt.Errorf("%w: empty page id", ErrInvalidPage)
	}
	if _, err := NationalNumber(p.Mobile); err != nil {
		return err
	}
	return nil
}

// Values returns the values of the named params in the order of names, or
// all values in page order when names is empty. A missing name yields "".
func (p Page) Values(names []string) []string {
	if len(names) == 0 {
		out := make([]string, len(p.Params))
		for i, prm := range p.Params {
			out[i] = prm.Value
		}
		return out
	}
	out := make([]string, len(names))
	for i, n := range names {
		for _, prm := range p.Params {
			if prm.Name == n {
				out[i] = prm.Value
				break
			}
		}
	}
	return out
}

// NationalNumber strips the country prefix and separators from a mainland
// number: "+86 138-0013-8000" → "13800138000".
func NationalNumber(s string) (string, error) {
	s = strings.NewReplacer(" ", "", "-", "").Replace(s)
	for _, prefix := range []string{"+86", "0086", "86"} {
		if rest, ok := strings.CutPrefix(s, prefix); ok && len(rest) == 11 {
			s = rest
			break
		}
	}
	if len(s) < 7 || len(s) > 12 {
		return "", fmt.Errorf("%w: bad phone number length %d", ErrInvalidPage, len(s))
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return "", fmt.Errorf("%w: phone number has a non-digit", ErrInvalidPage)
		}
	}
	return s, nil
}

// MaskNumber keeps the first three and last four digits, for logs.
func MaskNumber(s string) string {
	if len(s) < 8 {
		return "****"
	}
	return s[:3] + "****" + s[len(s)-4:]
}

// Sent is what a provider returns for an accepted request.
type Sent struct {
	// MessageID is the provider's id for the call or message (Alibaba
	// CallId/BizId, Tencent CallId/SerialNo); receipts carry it.
	MessageID string
	RequestID string
}

// Notifier is one provider. Send must not retry: the Registry decides what
// to try next, and a retried call could ring twice.
type Notifier interface {
	// Provider is the name routes refer to, e.g. "aliyun".
	Provider() string
	// Channels lists the channels Send supports.
	Channels() []Channel
	// Limit is the provider's per-number limit for a channel; the zero
	// Limit means unlimited.
	Limit(ch Channel) Limit
	Send(ctx context.Context, ch Channel, p Page) (Sent, error)
}

// Once claims a key for the first caller only, across replicas and restarts
// (the main program backs it by Redis SETNX plus the database).
type Once interface {
	First(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// Errors. Provider failures are *ProviderError values that match
// ErrThrottled and ErrNotSent through errors.Is.
var (
	// ErrInvalidPage: the page cannot be sent (bad number, id too long…).
	ErrInvalidPage = errors.New("pager: invalid page")
	// ErrRateLimited: the local per-number limiter refused, so as not to
	// send into a provider's flow control.
	ErrRateLimited = errors.New("pager: per-number rate limit reached")
	// ErrThrottled: the provider answered with a flow-control error.
	ErrThrottled = errors.New("pager: throttled by provider")
	// ErrNotSent: the provider certainly did not act on the request.
	ErrNotSent = errors.New("pager: request not carried out")
	// ErrDuplicate: a call for this page was already claimed.
	ErrDuplicate = errors.New("pager: call already placed for this page")
	// ErrMaybePlaced: an earlier attempt for this page may have rung, so no
	// other voice route is tried.
	ErrMaybePlaced = errors.New("pager: an earlier call for this page may have been placed")
	// ErrUndelivered: no route delivered the page.
	ErrUndelivered = errors.New("pager: page not delivered")
	// ErrBadSignature: a pushed receipt failed verification.
	ErrBadSignature = errors.New("pager: bad signature")
)

// ProviderError is an error answer from a provider.
type ProviderError struct {
	Provider   string
	HTTPStatus int
	Code       string
	Message    string
	RequestID  string
	// Throttled marks provider flow control.
	Throttled bool
	// Unknown marks answers that leave the outcome open (5xx, internal
	// errors): the provider may have carried the request out.
	Unknown bool
}

func (e *ProviderError) Error() string {
	return fmt.Sprintf("%s: http %d, code %s: %s (request %s)", e.Provider, e.HTTPStatus, e.Code, e.Message, e.RequestID)
}

// Is matches ErrThrottled and ErrNotSent.
func (e *ProviderError) Is(target error) bool {
	switch target {
	case ErrThrottled:
		return e.Throttled
	case ErrNotSent:
		return !e.Unknown
	}
	return false
}

// NotSent reports whether err proves nothing was sent: a provider error
// answer, an invalid page, or a failure to connect. Timeouts and broken
// connections after the request went out are not proof.
func NotSent(err error) bool {
	if errors.Is(err, ErrNotSent) || errors.Is(err, ErrInvalidPage) || errors.Is(err, ErrRateLimited) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
