package pager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Status is a provider-neutral call or message state from a receipt.
type Status string

// Statuses.
const (
	StatusProgress  Status = "progress" // intermediate: calling, ringing, answered
	StatusAnswered  Status = "answered"
	StatusNoAnswer  Status = "no_answer"
	StatusBusy      Status = "busy"
	StatusFailed    Status = "failed" // invalid, unreachable, powered off, rejected
	StatusThrottled Status = "throttled"
	StatusKeypress  Status = "keypress"
	StatusDelivered Status = "delivered" // an SMS reached the phone
)

// AckDigit is the key that acknowledges the ticket on a paging call.
const AckDigit = "1"

// Receipt is one pushed call report or key press.
type Receipt struct {
	Provider string
	CallID   string
	// PageID is the page id echoed by the provider (Alibaba OutId); empty
	// when the provider does not echo it (Tencent callbacks), in which case
	// correlate CallID with Attempt.MessageID.
	PageID string
	Status Status
	Code   string // raw provider status code
	Digits string
	At     time.Time
}

// Acknowledged reports whether the callee pressed AckDigit.
func (r Receipt) Acknowledged() bool {
	return len(r.Digits) > 0 && r.Digits[:1] == AckDigit
}

// Key identifies a receipt for deduplication. Providers redeliver pushes,
// and one call yields several distinct reports (ringing, answered, key), so
// the key is the call id plus what the report says.
func (r Receipt) Key() string {
	return "pager:receipt:" + r.Provider + ":" + r.CallID + ":" + string(r.Status) + ":" + r.Code + ":" + r.Digits
}

// ReceiptSink takes receipts from a provider push. It should only enqueue
// durably and return: Alibaba gives a push 700 ms before retrying.
type ReceiptSink interface {
	Receipts(ctx context.Context, rs []Receipt) error
}

// Text is a JSON string that a provider may also send as a number: push
// records are documented as strings, but codes and ids look numeric.
type Text string

// UnmarshalJSON accepts a string, a number or null.
func (t *Text) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*t = Text(n)
	return nil
}

// ReceiptFunc adapts a function to ReceiptSink.
type ReceiptFunc func(ctx context.Context, rs []Receipt) error

// Receipts calls f.
func (f ReceiptFunc) Receipts(ctx context.Context, rs []Receipt) error { return f(ctx, rs) }

// ParseFunc turns a pushed request into receipts. It returns an error
// wrapping ErrBadSignature when the push fails verification.
type ParseFunc func(h http.Header, body []byte) ([]Receipt, error)

const (
	pushTimeout = 500 * time.Millisecond // under Alibaba's 700 ms
	pushMaxBody = 1 << 20
)

// NewPushHandler serves a provider's receipt push: parse, hand the receipts
// to sink, and answer with reply, the body the provider requires. Providers
// redeliver, so sink must be idempotent (drop a receipt whose Key it has);
// deduplicating there rather than before it means a sink failure, answered
// non-2xx, is retried by the provider and never loses the receipt. A nil
// logger discards.
func NewPushHandler(parse ParseFunc, reply []byte, sink ReceiptSink, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, pushMaxBody))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		rs, err := parse(req.Header, body)
		if err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, ErrBadSignature) {
				status = http.StatusUnauthorized
			}
			logger.WarnContext(req.Context(), "receipt push rejected", "err", err, "body_len", len(body))
			http.Error(w, http.StatusText(status), status)
			return
		}
		ctx, cancel := context.WithTimeout(req.Context(), pushTimeout)
		defer cancel()
		if err := sink.Receipts(ctx, rs); err != nil {
			logger.ErrorContext(ctx, "receipt sink", "err", err, "receipts", len(rs))
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(reply)
	})
}
