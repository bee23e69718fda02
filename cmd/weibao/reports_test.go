package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"weibao/bot/access"
)

// TestReportsWired boots weibao and checks the report jobs are registered
// and the report API answers a viewer's token.
func TestReportsWired(t *testing.T) {
	m, _ := openTestMain(t, nil)
	tok, _, err := m.Access.CreateToken(context.Background(), "lead1", access.Viewer, "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, j := range m.Reports.Scheduler.Jobs() {
		names = append(names, j.Name+" "+j.Spec)
	}
	want := []string{"access_purge 30 3 * * *", "analysis 5 8-20 * * *", "digest 30 8 * * *", "knowledge_register 0 9 * * *",
		"knowledge_review 30 9 1 * *", "knowledge_sweep 20 * * * *", "monthly 0 9 1 * *", "quarterly 0 9 1-10 1,4,7,10 *", "records 30 9 * * *"}
	if len(names) != len(want) {
		t.Fatalf("jobs %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Errorf("job %d = %q, want %q", i, names[i], want[i])
		}
	}
	get := func(path string) (int, []byte) {
		req, _ := http.NewRequest("GET", m.URL()+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	for _, path := range []string{"/api/v1/reports/monthly?month=2026-11", "/api/v1/reports/quarterly?quarter=2026Q4"} {
		code, b := get(path)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, b)
		}
		if _, err := zip.NewReader(bytes.NewReader(b), int64(len(b))); err != nil {
			t.Errorf("%s: not a zip container: %v", path, err)
		}
	}
	code, b := get("/api/v1/jobs/runs")
	var runs struct{ Items []any }
	if code != http.StatusOK || json.Unmarshal(b, &runs) != nil {
		t.Errorf("job runs: %d %s", code, b)
	}
	if code, _ := get("/api/v1/tickets/F20261112-0004/analysis"); code != http.StatusNotFound {
		t.Errorf("analysis of an unknown ticket: %d, want 404", code)
	}
}
