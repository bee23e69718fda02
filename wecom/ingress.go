package wecom

import (
	"context"
	"errors"
	"time"

	"weibao/bot"
)

// Acceptor keeps a verified inbound event safe before it is acknowledged
// (inbox.Inbox); retries are accepted too and dropped behind the answer.
type Acceptor interface {
	Accept(ctx context.Context, ev bot.InboundEvent, m bot.Message) error
}

// Receive is the one way a decrypted WeCom payload enters weibao, from a
// callback or the long connection: it is parsed once, a payload weibao does
// not act on is dropped (zero message, nil error), and the rest is handed to
// the inbox with its message. A payload that does not parse is ErrMalformed;
// any other error is the inbox's, and the payload must be delivered again.
func Receive(ctx context.Context, inbox Acceptor, source string, payload []byte, now time.Time) (bot.Message, Reply, error) {
	m, r, err := Parse(source, payload, now)
	if errors.Is(err, ErrIgnored) {
		return bot.Message{}, Reply{}, nil
	}
	if err != nil {
		return bot.Message{}, Reply{}, err
	}
	ev := bot.InboundEvent{ID: m.ID, Source: source, Payload: payload, ReceivedAt: now}
	if err := inbox.Accept(ctx, ev, m); err != nil {
		return m, r, err
	}
	return m, r, nil
}
