// Package promapi reads a server's CPU, memory and disk usage from the
// Prometheus HTTP API (GET /api/v1/query, an instant vector) as
// node_exporter or windows_exporter expose them, for the monthly
// inspection's pre-filled figures.
package promapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"weibao/bot/records"
)

// Client queries one Prometheus server.
type Client struct {
	URL  string // e.g. http://prometheus:9090
	HTTP *http.Client
}

var _ records.Metrics = (*Client)(nil)

// queries are the usage expressions in percent; %s is the instance label,
// already quoted. Disk is the fullest real filesystem.
var queries = map[bool]map[string]string{
	false: {
		"cpu":    `100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",instance=%s}[5m])))`,
		"memory": `100 * (1 - node_memory_MemAvailable_bytes{instance=%[1]s} / node_memory_MemTotal_bytes{instance=%[1]s})`,
		"disk": `max(100 * (1 - node_filesystem_avail_bytes{instance=%[1]s,fstype!~"tmpfs|overlay|squashfs"}` +
			` / node_filesystem_size_bytes{instance=%[1]s,fstype!~"tmpfs|overlay|squashfs"}))`,
	},
	true: {
		"cpu":    `100 * (1 - avg(rate(windows_cpu_time_total{mode="idle",instance=%s}[5m])))`,
		"memory": `100 * (1 - windows_os_physical_memory_free_bytes{instance=%[1]s} / windows_cs_physical_memory_bytes{instance=%[1]s})`,
		"disk": `max(100 * (1 - windows_logical_disk_free_bytes{instance=%[1]s,volume!~"HarddiskVolume.*"}` +
			` / windows_logical_disk_size_bytes{instance=%[1]s,volume!~"HarddiskVolume.*"}))`,
	},
}

// Usage reads instance's figures; one it cannot read (no such series) is
// left nil, and an unreachable or failing server is an error.
func (c *Client) Usage(ctx context.Context, instance string, windows bool) (records.Usage, error) {
	var u records.Usage
	for name, dst := range map[string]**float64{"cpu": &u.CPU, "memory": &u.Memory, "disk": &u.Disk} {
		v, err := c.query(ctx, fmt.Sprintf(queries[windows][name], strconv.Quote(instance)))
		if err != nil {
			return records.Usage{}, fmt.Errorf("prometheus %s of %s: %w", name, instance, err)
		}
		*dst = v
	}
	return u, nil
}

// response is the API's envelope for an instant vector.
type response struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value [2]any `json:"value"` // [unix seconds, "value"]
		} `json:"result"`
	} `json:"data"`
}

// query runs an instant query and returns its first sample, nil for none.
func (c *Client) query(ctx context.Context, q string) (*float64, error) {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.URL, "/")+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var r response
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("status %d: unreadable answer: %w", resp.StatusCode, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("status %d: %s: %s", resp.StatusCode, r.ErrorType, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %q, want vector", r.Data.ResultType)
	}
	if len(r.Data.Result) == 0 {
		return nil, nil
	}
	s, ok := r.Data.Result[0].Value[1].(string)
	if !ok {
		return nil, fmt.Errorf("sample value %v is not a string", r.Data.Result[0].Value[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("sample value %q: %w", s, err)
	}
	return &v, nil
}
