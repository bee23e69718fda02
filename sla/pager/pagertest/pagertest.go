// Package pagertest provides fakes of pager's dependencies and providers for
// other packages' tests.
package pagertest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"weibao/sla/pager"
)

// Call is one recorded Send.
type Call struct {
	Channel pager.Channel
	Page    pager.Page
}

// Notifier is a recording pager.Notifier. The zero value is a provider
// named "fake" on both channels, unlimited, that accepts every page.
type Notifier struct {
	Name     string                        // default "fake"
	Chans    []pager.Channel               // default voice and SMS
	Limits   map[pager.Channel]pager.Limit // default unlimited
	SendFunc func(ctx context.Context, ch pager.Channel, p pager.Page) (pager.Sent, error)

	mu    sync.Mutex
	calls []Call
}

var _ pager.Notifier = (*Notifier)(nil)

// Provider returns Name or "fake".
func (n *Notifier) Provider() string {
	if n.Name == "" {
		return "fake"
	}
	return n.Name
}

// Channels returns Chans or both channels.
func (n *Notifier) Channels() []pager.Channel {
	if n.Chans == nil {
		return []pager.Channel{pager.Voice, pager.SMS}
	}
	return n.Chans
}

// Limit returns Limits[ch].
func (n *Notifier) Limit(ch pager.Channel) pager.Limit { return n.Limits[ch] }

// Send records the call, then runs SendFunc or succeeds.
func (n *Notifier) Send(ctx context.Context, ch pager.Channel, p pager.Page) (pager.Sent, error) {
	n.mu.Lock()
	n.calls = append(n.calls, Call{Channel: ch, Page: p})
	seq := len(n.calls)
	n.mu.Unlock()
	if n.SendFunc != nil {
		return n.SendFunc(ctx, ch, p)
	}
	return pager.Sent{MessageID: fmt.Sprintf("%s-%s-%d", n.Provider(), p.ID, seq)}, nil
}

// Calls returns a copy of the recorded sends.
func (n *Notifier) Calls() []Call {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Call(nil), n.calls...)
}

// Once is an in-memory pager.Once. Err, when set, is returned by First.
type Once struct {
	Err error

	mu   sync.Mutex
	keys map[string]time.Duration
}

var _ pager.Once = (*Once)(nil)

// First reports whether key is claimed for the first time.
func (o *Once) First(_ context.Context, key string, ttl time.Duration) (bool, error) {
	if o.Err != nil {
		return false, o.Err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.keys[key]; ok {
		return false, nil
	}
	if o.keys == nil {
		o.keys = make(map[string]time.Duration)
	}
	o.keys[key] = ttl
	return true, nil
}

// Keys returns the claimed keys with their TTLs.
func (o *Once) Keys() map[string]time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make(map[string]time.Duration, len(o.keys))
	for k, v := range o.keys {
		out[k] = v
	}
	return out
}
