package bot_test

import (
	"errors"
	"testing"
	"time"

	"weibao/bot"
)

func TestRecordStateMachine(t *testing.T) {
	at := time.Date(2026, 12, 4, 2, 0, 0, 0, time.UTC)
	if _, _, err := bot.NewRecord(bot.Record{Kind: "bogus"}, "eng1", at); !errors.Is(err, bot.ErrInvalid) {
		t.Fatalf("unknown kind: err = %v", err)
	}
	r, ev, err := bot.NewRecord(bot.Record{Kind: bot.KindBackupCheck, Fields: map[string]string{"result": "正常", "empty": ""}}, "eng1", at)
	if err != nil || ev.Kind != bot.RecordCreated || r.Status != bot.RecordOpen || r.At != at {
		t.Fatalf("NewRecord = %+v, %+v, %v", r, ev, err)
	}
	if _, ok := r.Fields["empty"]; ok {
		t.Error("empty field kept")
	}
	tests := []struct {
		name string
		c    bot.RecordChange
		want error
		to   bot.RecordStatus
	}{
		{"no actor", bot.RecordChange{Kind: bot.RecordCompleted, At: at}, bot.ErrInvalid, bot.RecordOpen},
		{"unknown change", bot.RecordChange{Kind: "x", Actor: "e", At: at}, bot.ErrInvalid, bot.RecordOpen},
		{"bad ticket", bot.RecordChange{Kind: bot.RecordLinked, Actor: "e", At: at, TicketNo: "123"}, bot.ErrInvalid, bot.RecordOpen},
		{"link", bot.RecordChange{Kind: bot.RecordLinked, Actor: "e", At: at, TicketNo: "F20261204-0001"}, nil, bot.RecordOpen},
		{"link twice", bot.RecordChange{Kind: bot.RecordLinked, Actor: "e", At: at, TicketNo: "F20261204-0001"}, bot.ErrConflict, bot.RecordOpen},
		{"update nothing", bot.RecordChange{Kind: bot.RecordUpdated, Actor: "e", At: at}, bot.ErrInvalid, bot.RecordOpen},
		{"complete", bot.RecordChange{Kind: bot.RecordCompleted, Actor: "e", At: at}, nil, bot.RecordDone},
		{"complete twice", bot.RecordChange{Kind: bot.RecordCompleted, Actor: "e", At: at}, bot.ErrInvalid, bot.RecordDone},
		{"reopen without reason", bot.RecordChange{Kind: bot.RecordReopened, Actor: "e", At: at}, bot.ErrInvalid, bot.RecordDone},
		{"reopen", bot.RecordChange{Kind: bot.RecordReopened, Actor: "e", At: at, Text: "漏项"}, nil, bot.RecordOpen},
		{"cancel", bot.RecordChange{Kind: bot.RecordCancel, Actor: "e", At: at, Text: "重复"}, nil, bot.RecordCancelled},
		{"update cancelled", bot.RecordChange{Kind: bot.RecordUpdated, Actor: "e", At: at, Fields: map[string]string{"a": "b"}}, bot.ErrInvalid, bot.RecordCancelled},
	}
	for _, tt := range tests {
		before := *r
		ev, err := r.Apply(tt.c)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
		if err != nil && (r.Status != before.Status || len(r.Tickets) != len(before.Tickets)) {
			t.Errorf("%s: refused change altered the record", tt.name)
		}
		if err == nil && (ev.Kind != tt.c.Kind || ev.From != before.Status || ev.To != r.Status) {
			t.Errorf("%s: event %+v", tt.name, ev)
		}
		if r.Status != tt.to {
			t.Errorf("%s: status %s, want %s", tt.name, r.Status, tt.to)
		}
	}
}
