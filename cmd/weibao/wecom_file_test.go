package main

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/access"
	"weibao/wecom"
	"weibao/wecom/wecomtest"
)

// TestWeComMonthlyReportFileReachesLead: the monthly report job's workbook
// reaches the lead as a WeCom file message: the bytes are loaded from the
// database and uploaded at delivery, and the file message carries the media
// id the (fake) WeCom issued. The same file is downloadable from the report
// API, and a file over WeCom's limit leaves a failed outbox row and a
// markdown notice with that download address.
func TestWeComMonthlyReportFileReachesLead(t *testing.T) {
	ctx := context.Background()
	m, w, fake, _ := openWeComMainEnv(t, "callback", make(chan bot.Message, 10), map[string]string{
		"WEIBAO_SERVER_PUBLIC_URL": "https://weibao.example"})
	tok, _, err := m.Access.CreateToken(ctx, "lead1", access.Viewer, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Reports.Service.SendMonthly(ctx, time.Date(2026, 11, 15, 12, 0, 0, 0, m.Config.Location)); err != nil {
		t.Fatal(err)
	}
	w.Outbox.Kick()
	var summary, file wecomtest.Request
	for file.API == "" {
		r := nextCall(t, fake)
		switch {
		case r.API == "message/send" && r.Body["msgtype"] == "markdown":
			summary = r
		case r.API == "message/send" && r.Body["msgtype"] == "file":
			file = r
		case r.API != "media/upload":
			t.Fatalf("unexpected call %s %s", r.API, r.Raw)
		}
	}
	if summary.Body["touser"] != "lead1" || file.Body["touser"] != "lead1" {
		t.Errorf("summary to %v, file to %v; want both to the lead (lead1)", summary.Body["touser"], file.Body["touser"])
	}
	media, _ := file.Body["file"].(map[string]any)
	up, ok := fake.Uploaded(media["media_id"].(string))
	if !ok || up.Sender != "app" || up.Name != "运维月报-2026-11.xlsx" {
		t.Fatalf("file message %s: upload %+v (issued %v)", file.Raw, up.Name, ok)
	}
	zr, err := zip.NewReader(bytes.NewReader(up.Data), int64(len(up.Data)))
	if err != nil {
		t.Fatalf("uploaded workbook is not a zip container: %v", err)
	}
	var sheets int
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "xl/worksheets/") {
			sheets++
		}
	}
	if sheets == 0 {
		t.Error("uploaded workbook has no worksheets")
	}

	// The first stored file of this fresh database is the workbook.
	stored, err := m.DB.File(ctx, 1)
	if err != nil || !bytes.Equal(stored.Data, up.Data) {
		t.Fatalf("stored file 1 (%v) differs from the upload", err)
	}
	req, _ := http.NewRequest("GET", m.URL()+"/api/v1/files/1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(body, up.Data) || !strings.Contains(res.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("GET /api/v1/files/1 = %d, %d bytes, %q", res.StatusCode, len(body), res.Header.Get("Content-Disposition"))
	}

	// Too large for WeCom: a notice with the download address, the row failed.
	big := bot.FileRef{ID: 1, Name: "季度运维资料-2026Q4.zip", Size: wecom.FileLimit + 1}
	if err := m.DB.Enqueue(ctx, bot.Outgoing{Key: "big/lead1", TicketNo: "F20261201-0001", ToUsers: []string{"lead1"}, File: &big}); err != nil {
		t.Fatal(err)
	}
	w.Outbox.Kick()
	notice := nextCall(t, fake)
	md, _ := notice.Body["markdown"].(map[string]any)
	if c, _ := md["content"].(string); notice.API != "message/send" || !strings.Contains(c, "https://weibao.example/api/v1/files/1") {
		t.Errorf("notice = %s %s, want markdown with the download address", notice.API, notice.Raw)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		es, err := m.DB.OutboxEntries(ctx, "F20261201-0001")
		if err != nil {
			t.Fatal(err)
		}
		if len(es) == 1 && es[0].Status == "failed" {
			if !strings.Contains(es[0].LastError, "over WeCom's") {
				t.Errorf("failed row says %q", es[0].LastError)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox row = %+v, want failed", es)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
