package inbox_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/storage"
)

// messages is a bot that hands on the messages it is given, each handling
// lasting until the test has taken its message.
func messages() (chan bot.Message, func(context.Context, bot.Message) error) {
	got := make(chan bot.Message)
	return got, func(_ context.Context, m bot.Message) error { got <- m; return nil }
}

func next(t *testing.T, got chan bot.Message) bot.Message {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("nothing handled")
	}
	return bot.Message{}
}

// stored waits for the event to be in the database and returns it: before
// its handling ends (messages), as a handled row keeps no message.
func stored(t *testing.T, db *storage.DB, id string) *bot.InboundEvent {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		ev, err := db.InboundEvent(context.Background(), id)
		if err == nil {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not stored: %v", id, err)
		}
	}
}

func noParse(string, []byte, time.Time) (bot.Message, error) {
	return bot.Message{}, errors.New("parsed again")
}

// TestAcceptedMessageIsHandledWithoutParsing: the message Accept is given
// reaches the bot whole, whether from memory, from the journal after a
// crash before storing, or from the database; the payload is not parsed
// again.
func TestAcceptedMessageIsHandledWithoutParsing(t *testing.T) {
	f := newFixture(t)
	f.opt.Parse = noParse
	m := bot.Message{ID: "robot:p1", Channel: "robot", From: "nurse1", ChatID: "wrdA", ChatType: bot.ChatGroup, Text: "黑屏",
		At: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC), Route: `{"ResponseURL":"https://x/r"}`}
	// Journaled, then a crash before the mover ran.
	crashed := f.open(t, func(context.Context, bot.Message) error { return errors.New("unreachable") })
	if err := crashed.Accept(context.Background(), bot.InboundEvent{ID: m.ID, Source: "robot", Payload: []byte("{}")}, m); err != nil {
		t.Fatal(err)
	}
	crashed.Close()
	got, handle := messages()
	in := f.open(t, handle)
	stop := run(in)
	// The database keeps it with the event while it is handled.
	if diff := cmp.Diff(&m, stored(t, f.db, m.ID).Message); diff != "" {
		t.Errorf("stored message (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(m, next(t, got)); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
	stop()
}

// TestEventsKeptWithoutMessageAreParsed: a journal record or an inbox row
// written by a version that kept the payload alone is parsed when read,
// and the message is stored with the journaled event.
func TestEventsKeptWithoutMessageAreParsed(t *testing.T) {
	f := newFixture(t)
	// An old record: the event as JSON, without its message.
	body, err := json.Marshal(map[string]any{"ID": "robot:old1", "Source": "robot", "Payload": []byte("robot:old1"),
		"ReceivedAt": time.Now().UTC(), "Attempts": 1})
	if err != nil {
		t.Fatal(err)
	}
	rec := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
	if err := os.WriteFile(f.journal, append(rec, body...), 0o640); err != nil {
		t.Fatal(err)
	}
	// An old row, stored and due.
	past := time.Now().Add(-time.Minute)
	if errs := f.db.AddInbound(context.Background(), past, bot.InboundEvent{ID: "robot:old2", Source: "robot",
		Payload: []byte("robot:old2"), ReceivedAt: past, Attempts: 1}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	got, handle := messages()
	in := f.open(t, handle)
	stop := run(in)
	if ev := stored(t, f.db, "robot:old1"); ev.Message == nil || ev.Message.ID != "robot:old1" {
		t.Errorf("replayed event stored as %+v; want it with its parsed message", ev)
	}
	seen := map[string]bool{}
	for range 2 {
		seen[next(t, got).ID] = true // parse: the payload is the id
	}
	stop()
	if !seen["robot:old1"] || !seen["robot:old2"] {
		t.Errorf("handled %v, want old1 and old2", seen)
	}
}
