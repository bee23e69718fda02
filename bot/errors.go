// Package bot holds weibao's domain: tickets and their state machine, people,
// wards, fault categories, channel-neutral messages, and the error kinds every
// adapter translates to. It imports nothing but the standard library and the
// message catalogue's keys.
package bot

import (
	"errors"
	"fmt"
)

// Error kinds. Adapters translate their own failures to one of these at their
// boundary so that handlers and the dialogue can choose a reply by kind.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrInvalid     = errors.New("invalid")
	ErrForbidden   = errors.New("forbidden")
	ErrUnavailable = errors.New("unavailable")
)

// Error is a domain error with a kind, an English description for logs, and a
// catalogue key (plus named fields) for the Chinese text a user reads.
type Error struct {
	Kind   error
	Detail string
	Key    string
	Fields map[string]any
}

func (e *Error) Error() string { return e.Detail }
func (e *Error) Unwrap() error { return e.Kind }

// Errorf builds an *Error. key names the catalogue entry users see; fields fill it.
func Errorf(kind error, key string, fields map[string]any, format string, args ...any) error {
	return &Error{Kind: kind, Key: key, Fields: fields, Detail: fmt.Sprintf(format, args...)}
}

// UserText returns the catalogue key and fields for err, or ("", nil) when err
// carries none (an internal error: users see a generic message).
func UserText(err error) (string, map[string]any) {
	var e *Error
	if errors.As(err, &e) && e.Key != "" {
		return e.Key, e.Fields
	}
	return "", nil
}
