package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"weibao/bot"
	"weibao/bot/access"
)

type fakeReports struct {
	month   time.Time
	answers map[string]string
}

func (f *fakeReports) Digest(ctx context.Context, day time.Time) (string, error) {
	return "## 运维日报 " + day.Format("2006-01-02"), nil
}

func (f *fakeReports) MonthlyFile(ctx context.Context, m time.Time) (string, []byte, error) {
	f.month = m
	return "运维月报-" + m.Format("2006-01") + ".xlsx", []byte("PK"), nil
}

func (f *fakeReports) QuarterlyFile(ctx context.Context, q time.Time) (string, []byte, error) {
	return fmt.Sprintf("季度运维资料-%dQ%d.zip", q.Year(), (int(q.Month())-1)/3+1), []byte("PK"), nil
}

func (f *fakeReports) AnalysisFile(ctx context.Context, no, format string) (string, string, []byte, error) {
	if no != "F20261112-0004" {
		return "", "", nil, bot.Errorf(bot.ErrNotFound, "", nil, "no analysis")
	}
	return "故障分析报告-" + no + ".html", "text/html; charset=utf-8", []byte("<html>"), nil
}

func (f *fakeReports) SurveyDone(ctx context.Context, no string, answers map[string]string) error {
	f.answers = answers
	return nil
}

type clockAt time.Time

func (c clockAt) Now() time.Time { return time.Time(c) }

func TestReportAPI(t *testing.T) {
	env := newAPI(t)
	env.tokenRaw(t, "lead1", access.Lead, "s3cret")
	fr := env.reports
	srv := httptest.NewServer(env.h)
	defer srv.Close()
	do := func(method, path, token, body string) (*http.Response, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	tests := []struct {
		name, method, path, token, body string
		status                          int
		contentType, disposition        string
	}{
		{"no token", "GET", "/api/v1/reports/monthly?month=2026-11", "", "", 401, "", ""},
		{"wrong token", "GET", "/api/v1/reports/monthly?month=2026-11", "nope", "", 401, "", ""},
		{"monthly", "GET", "/api/v1/reports/monthly?month=2026-11", "s3cret", "", 200,
			"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", `attachment; filename="weibao-2026-11.xlsx"; filename*=UTF-8''%E8%BF%90%E7%BB%B4%E6%9C%88%E6%8A%A5-2026-11.xlsx`},
		{"bad month", "GET", "/api/v1/reports/monthly?month=November", "s3cret", "", 400, "", ""},
		{"quarterly", "GET", "/api/v1/reports/quarterly?quarter=2026Q4", "s3cret", "", 200, "application/zip", ""},
		{"digest", "GET", "/api/v1/reports/digest?date=2026-11-25", "s3cret", "", 200, "text/markdown; charset=utf-8", ""},
		{"analysis html", "GET", "/api/v1/tickets/F20261112-0004/analysis?format=html", "s3cret", "", 200, "text/html; charset=utf-8", ""},
		{"analysis unknown", "GET", "/api/v1/tickets/F20261112-0009/analysis", "s3cret", "", 404, "", ""},
		{"analysis bad no", "GET", "/api/v1/tickets/x/analysis", "s3cret", "", 400, "", ""},
		{"answers", "POST", "/api/v1/tickets/F20261112-0004/analysis", "s3cret", `{"cause":"a","impact":"b","conclusion":"c"}`, 204, "", ""},
		{"answers missing", "POST", "/api/v1/tickets/F20261112-0004/analysis", "s3cret", `{"cause":"a"}`, 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := do(tt.method, tt.path, tt.token, tt.body)
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tt.status, body)
			}
			if res.StatusCode == http.StatusBadRequest {
				var resp apiErrorView
				if err := json.Unmarshal([]byte(body), &resp); err != nil {
					t.Fatalf("400 body not JSON: %q", body)
				}
				checkBadRequest(t, resp.MessageEn, resp.Message, resp.Field)
			}
			if tt.contentType != "" && res.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("content type %q, want %q", res.Header.Get("Content-Type"), tt.contentType)
			}
			if tt.disposition != "" && res.Header.Get("Content-Disposition") != tt.disposition {
				t.Errorf("disposition %q, want %q", res.Header.Get("Content-Disposition"), tt.disposition)
			}
		})
	}
	// Without a month, the summary is last month's.
	do("GET", "/api/v1/reports/monthly", "s3cret", "")
	if got := fr.month.Format("2006-01"); got != "2026-11" {
		t.Errorf("default month %s, want 2026-11", got)
	}
	if fr.answers["conclusion"] != "c" {
		t.Errorf("answers not passed on: %v", fr.answers)
	}
}
