package wecom_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/wecom"
)

// keeper is an inbox that records what it accepts, or fails with err.
type keeper struct {
	evs []bot.InboundEvent
	err error
}

func (k *keeper) Accept(_ context.Context, ev bot.InboundEvent, m bot.Message) error {
	if k.err != nil {
		return k.err
	}
	ev.Message = &m
	k.evs = append(k.evs, ev)
	return nil
}

// TestReceive pins the one ingress: a payload is parsed once and accepted
// with its message; one weibao ignores is dropped without an error; one
// that does not parse is ErrMalformed; the inbox's failure is returned.
func TestReceive(t *testing.T) {
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	text := `{"msgid":"m1","chatid":"wrdA","chattype":"group","from":{"userid":"nurse1"},"response_url":"https://x/r","msgtype":"text","text":{"content":"@bot 黑屏"}}`
	down := errors.New("journal full")
	tests := []struct {
		name     string
		payload  string
		inboxErr error
		wantErr  error
		wantKept int
	}{
		{"message", text, nil, nil, 1},
		{"ignored stream refresh", `{"msgid":"1","from":{"userid":"a"},"msgtype":"stream","stream":{"id":"s"}}`, nil, nil, 0},
		{"malformed", `{"msgid":`, nil, wecom.ErrMalformed, 0},
		{"inbox down", text, down, down, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := &keeper{err: tt.inboxErr}
			m, r, err := wecom.Receive(context.Background(), k, wecom.SourceRobot, []byte(tt.payload), now)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Receive err = %v, want %v", err, tt.wantErr)
			}
			if len(k.evs) != tt.wantKept {
				t.Fatalf("inbox kept %d events, want %d", len(k.evs), tt.wantKept)
			}
			if tt.wantKept == 0 {
				return
			}
			want, wantReply, _ := wecom.Parse(wecom.SourceRobot, []byte(tt.payload), now)
			wantEv := bot.InboundEvent{ID: "robot:m1", Source: wecom.SourceRobot, Payload: []byte(tt.payload), ReceivedAt: now, Message: &want}
			if diff := cmp.Diff(wantEv, k.evs[0]); diff != "" {
				t.Errorf("event (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, m); diff != "" || r != wantReply {
				t.Errorf("message (-want +got):\n%s\nreply %+v, want %+v", diff, r, wantReply)
			}
			if m.Route == "" {
				t.Error("message without its reply route")
			}
		})
	}
}
