package wecom_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"weibao/bot"
	"weibao/catalog"
	"weibao/storage/redisstore/redistest"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// files is an in-memory bot.Files.
type files map[int64]*bot.StoredFile

func (f files) PutFile(_ context.Context, name string, data []byte) (bot.FileRef, error) {
	ref := bot.FileRef{ID: int64(len(f) + 1), Name: name, Size: int64(len(data))}
	f[ref.ID] = &bot.StoredFile{FileRef: ref, Data: data}
	return ref, nil
}

func (f files) File(_ context.Context, id int64) (*bot.StoredFile, error) {
	if sf, ok := f[id]; ok {
		return sf, nil
	}
	return nil, bot.ErrNotFound
}

func fileSender(t *testing.T, fake *wecomtest.Server, client *wecom.Client, conn *wecom.LongConn, fs files) *wecom.Sender {
	t.Helper()
	s, err := wecom.NewSender(wecom.SenderOptions{Client: client, Conn: conn, Limits: limits(t), Claims: claims(t), Files: fs, Texts: catalog.Default(),
		Webhooks: map[string]string{"wrd-a": wecomtest.WebhookKey},
		FileURL:  func(id int64) string { return fmt.Sprintf("https://weibao.example/api/v1/files/%d", id) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// discard is an inbox that keeps nothing.
type discard struct{}

func (discard) Accept(context.Context, bot.InboundEvent, bot.Message) error { return nil }

// connect runs a long connection to the fake until the test ends.
func connect(t *testing.T, fake *wecomtest.Server) *wecom.LongConn {
	t.Helper()
	conn, err := wecom.NewLongConn(wecom.LongConnOptions{URL: fake.WSURL(), BotID: wecomtest.BotID, Secret: wecomtest.BotSecret,
		Inbox: discard{}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { conn.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for !conn.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("long connection not subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return conn
}

// workbook is test bytes standing in for an xlsx, longer than one
// long-connection chunk (512 KB) so the chunking is exercised.
func workbook(n int) []byte {
	return bytes.Repeat([]byte("PK\x03\x04月报"), n/10+1)[:n]
}

// TestSenderFileMessages pins how a stored file reaches each destination:
// uploaded at delivery for that channel (the app's media/upload, the group
// webhook's upload_media, the long connection's chunked upload), then sent
// as a file message with the media id; the fake accepts only media ids it
// issued to that same sender.
func TestSenderFileMessages(t *testing.T) {
	ctx := context.Background()
	run := redistest.Prefix()
	tests := []struct {
		name      string
		ws        bool
		msg       bot.Outgoing
		wantAPIs  []string
		wantOwner string // who the media id was issued to
	}{
		{"to the lead through the app", false, bot.Outgoing{Key: "f1" + run, ToUsers: []string{"lead"}},
			[]string{"media/upload", "message/send"}, "app"},
		{"to a group through its robot webhook", false, bot.Outgoing{Key: "f2" + run, ToChat: "wrd-a"},
			[]string{"webhook/upload_media", "webhook/send"}, "webhook:" + wecomtest.WebhookKey},
		{"to a group over the long connection", true, bot.Outgoing{Key: "f3" + run, ToChat: "wrd-b"},
			[]string{wecom.CmdUploadInit, wecom.CmdUploadChunk, wecom.CmdUploadChunk, wecom.CmdUploadChunk, wecom.CmdUploadFinish, wecom.CmdSendMsg}, "robot"},
		{"text first, then the file", false, bot.Outgoing{Key: "f4" + run, ToUsers: []string{"lead"}, Format: bot.FormatMarkdown, Text: "## 运维月报"},
			[]string{"media/upload", "message/send", "message/send"}, "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, fake := newClient(t, time.Second)
			var conn *wecom.LongConn
			if tt.ws {
				conn = connect(t, fake)
				// WeCom takes proactive robot messages only in chats a user has messaged it in.
				if err := fake.Push(wecom.CmdMsgCallback, "req-"+tt.msg.Key, map[string]any{"msgid": tt.msg.Key, "chatid": tt.msg.ToChat, "chattype": "group",
					"from": map[string]string{"userid": "nurse1"}, "msgtype": "text", "text": map[string]string{"content": "@bot 1"}}); err != nil {
					t.Fatal(err)
				}
			}
			fs := files{}
			data := workbook(1<<20 + 4321)
			ref, _ := fs.PutFile(ctx, "运维月报-2026-11.xlsx", data)
			tt.msg.File = &ref
			if _, err := fileSender(t, fake, client, conn, fs).Deliver(ctx, tt.msg); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			var apis []string
			var last wecomtest.Request
			for _, r := range fake.Requests() {
				apis = append(apis, r.API)
				last = r
			}
			if diff := cmp.Diff(tt.wantAPIs, apis); diff != "" {
				t.Fatalf("calls (-want +got):\n%s", diff)
			}
			body := last.Body
			if tt.ws {
				body, _ = body["body"].(map[string]any)
			}
			file, _ := body["file"].(map[string]any)
			id, _ := file["media_id"].(string)
			up, ok := fake.Uploaded(id)
			if body["msgtype"] != "file" || !ok {
				t.Fatalf("last call %s %s: want a file message with an issued media id", last.API, last.Raw)
			}
			if up.Sender != tt.wantOwner || up.Name != ref.Name || !bytes.Equal(up.Data, data) {
				t.Errorf("uploaded %s %q, %d bytes (equal %v); want %s %q, %d bytes", up.Sender, up.Name, len(up.Data),
					bytes.Equal(up.Data, data), tt.wantOwner, ref.Name, len(data))
			}
		})
	}
}

// TestSenderFileFailures: a file over WeCom's 20 MB limit is not uploaded;
// the recipients get a markdown notice naming it and its download address,
// and the message is given up with a clear, permanent error. A file missing
// from the store is unroutable; a failed upload is retried later.
func TestSenderFileFailures(t *testing.T) {
	ctx := context.Background()
	run := redistest.Prefix()
	client, fake := newClient(t, time.Second)
	fs := files{}
	big := bot.FileRef{ID: 41, Name: "季度运维资料-2026Q4.zip", Size: wecom.FileLimit + 1}
	fs[41] = &bot.StoredFile{FileRef: big}
	s := fileSender(t, fake, client, nil, fs)

	_, err := s.Deliver(ctx, bot.Outgoing{Key: "big" + run, ToUsers: []string{"lead"}, File: &big})
	var tooLarge *wecom.FileTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Temporary() || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("Deliver(21 MB) err = %v, want a permanent FileTooLargeError", err)
	}
	r := nextRequest(t, fake)
	md, _ := r.Body["markdown"].(map[string]any)
	content, _ := md["content"].(string)
	if r.API != "message/send" || r.Body["touser"] != "lead" || !strings.Contains(content, big.Name) ||
		!strings.Contains(content, "https://weibao.example/api/v1/files/41") || !strings.Contains(content, "20 MB") {
		t.Errorf("notice = %s %s, want markdown to the lead naming the file, the limit and its download address", r.API, r.Raw)
	}
	if r, ok := fake.Next(50 * time.Millisecond); ok {
		t.Errorf("unexpected call after the notice: %s %s", r.API, r.Raw)
	}

	gone := bot.FileRef{ID: 99, Name: "gone.xlsx", Size: 10}
	_, err = s.Deliver(ctx, bot.Outgoing{Key: "gone" + run, ToUsers: []string{"lead"}, File: &gone})
	var u interface{ Unroutable() bool }
	if !errors.As(err, &u) || !u.Unroutable() {
		t.Errorf("Deliver(missing file) err = %v, want unroutable", err)
	}

	ok, _ := fs.PutFile(ctx, "运维月报-2026-11.xlsx", workbook(2000))
	fake.Inject("media/upload", wecomtest.Fault{Status: 502})
	if _, err := s.Deliver(ctx, bot.Outgoing{Key: "retry" + run, ToUsers: []string{"lead"}, File: &ok}); err == nil || !wecom.Temporary(err) {
		t.Fatalf("Deliver during an upload outage err = %v, want a temporary error", err)
	}
	if _, err := s.Deliver(ctx, bot.Outgoing{Key: "retry" + run, ToUsers: []string{"lead"}, File: &ok}); err != nil {
		t.Fatalf("retry: %v", err)
	}
}

func nextRequest(t *testing.T, fake *wecomtest.Server) wecomtest.Request {
	t.Helper()
	r, ok := fake.Next(time.Second)
	if !ok {
		t.Fatal("nothing reached WeCom")
	}
	return r
}
