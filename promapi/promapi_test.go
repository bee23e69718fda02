package promapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"weibao/promapi"
)

// fake answers instant queries as Prometheus does: GET only, a query
// parameter required, a vector per known metric, an empty vector otherwise.
func fake(t *testing.T, values map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		q := r.URL.Query().Get("query")
		if r.URL.Path != "/api/v1/query" || q == "" {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\""}`))
			return
		}
		for metric, v := range values {
			if strings.Contains(q, metric) {
				w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1764806400.123,"` + v + `"]}]}}`))
				return
			}
		}
		w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestUsage(t *testing.T) {
	ctx := context.Background()
	srv := fake(t, map[string]string{"node_cpu_seconds_total": "23.456", "node_memory_MemAvailable_bytes": "61.2",
		"windows_logical_disk_free_bytes": "91.5"})
	c := &promapi.Client{URL: srv.URL + "/"}
	u, err := c.Usage(ctx, "db1:9100", false)
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU == nil || *u.CPU != 23.456 || u.Memory == nil || *u.Memory != 61.2 || u.Disk != nil {
		t.Errorf("linux usage = %+v", u)
	}
	u, err = c.Usage(ctx, "app1:9182", true)
	if err != nil || u.Disk == nil || *u.Disk != 91.5 || u.CPU != nil {
		t.Errorf("windows usage = %+v, %v", u, err)
	}
	// A server that refuses, or is not there, is an error.
	bad := &promapi.Client{URL: srv.URL + "/nope"}
	if _, err := bad.Usage(ctx, "db1:9100", false); err == nil || !strings.Contains(err.Error(), "bad_data") {
		t.Errorf("refused query: err = %v", err)
	}
	srv2 := httptest.NewServer(http.NotFoundHandler())
	srv2.Close()
	if _, err := (&promapi.Client{URL: srv2.URL}).Usage(ctx, "db1:9100", false); err == nil {
		t.Error("unreachable server: no error")
	}
}
