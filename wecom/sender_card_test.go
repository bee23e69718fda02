package wecom_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom"
)

// TestSenderRedrawsCardWithoutClick: a card update that answers no click
// (an action typed as a command) uses the response code message/send
// returned for the card, found by ticket and task id; the code works once.
func TestSenderRedrawsCardWithoutClick(t *testing.T) {
	ctx := context.Background()
	run := redistest.Prefix()
	client, fake := newClient(t, time.Second)
	codes := map[string]string{} // task id → ref, as the outbox keeps it
	s, err := wecom.NewSender(wecom.SenderOptions{Client: client, Limits: limits(t), Claims: claims(t),
		CardCode: func(_ context.Context, no, task string) (string, error) {
			if c, ok := codes[no+"/"+task]; ok {
				return c, nil
			}
			return "", bot.ErrNotFound
		}})
	if err != nil {
		t.Fatal(err)
	}
	page := bot.Outgoing{Key: "F1/page/1/eng1" + run, TicketNo: "F1", ToUsers: []string{"eng1"}, Card: &bot.Card{TaskID: "weibao-F1-1-page-eng1",
		Title: "【P2】ICU · 监护", Buttons: []bot.Button{{Key: "ack:F1", Text: "接单"}}}}
	ref, err := s.Deliver(ctx, page)
	if err != nil || ref == "" {
		t.Fatalf("Deliver(card) = %q, %v; want the response code as ref", ref, err)
	}
	codes["F1/weibao-F1-1-page-eng1"] = ref
	nextRequest(t, fake)

	update := bot.Outgoing{Key: "F1/page/1/eng1/redraw/2" + run, TicketNo: "F1", ToUsers: []string{"eng1"},
		CardUpdate: &bot.CardUpdate{TaskID: "weibao-F1-1-page-eng1", UserIDs: []string{"eng1"}, Replaced: "已由 张工 接单"}}
	if _, err := s.Deliver(ctx, update); err != nil {
		t.Fatalf("Deliver(update) = %v", err)
	}
	r := nextRequest(t, fake)
	want := map[string]any{"userids": []any{"eng1"}, "agentid": r.Body["agentid"], "response_code": ref,
		"button": map[string]any{"replace_name": "已由 张工 接单"}}
	if diff := cmp.Diff(want, r.Body); r.API != "message/update_template_card" || diff != "" {
		t.Errorf("%s (-want +got):\n%s", r.API, diff)
	}
	// The code is spent: WeCom refuses a second update, for good.
	update.Key += "b"
	if _, err := s.Deliver(ctx, update); err == nil || wecom.Temporary(err) {
		t.Errorf("second update with the same code: err = %v, want a final error", err)
	}
	// A card never sent with a code cannot be redrawn.
	update.CardUpdate = &bot.CardUpdate{TaskID: "weibao-F1-1-page-eng9", Replaced: "已由 张工 接单"}
	_, err = s.Deliver(ctx, update)
	var u interface{ Unroutable() bool }
	if !errors.As(err, &u) || !u.Unroutable() {
		t.Errorf("update of an unknown card: err = %v, want unroutable", err)
	}
}
