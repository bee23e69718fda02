package aliyun

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"weibao/sla/pager"
)

// record is a VoiceReport (final) or VoiceCallReport (intermediate) record.
type record struct {
	CallID     pager.Text `json:"call_id"`
	StatusCode pager.Text `json:"status_code"`
	OutID      pager.Text `json:"out_id"`
	DTMF       pager.Text `json:"dtmf"`
	StatusTime pager.Text `json:"status_time"` // VoiceCallReport
	EndTime    pager.Text `json:"end_time"`    // VoiceReport
}

// ParseReceipts parses an HTTP-push batch, a JSON array of VoiceReport or
// VoiceCallReport records. Times are Beijing time; At is zero when the
// record has none.
func ParseReceipts(body []byte) ([]pager.Receipt, error) {
	var recs []record
	if err := json.Unmarshal(body, &recs); err != nil {
		return nil, fmt.Errorf("aliyun receipt: %w", err)
	}
	out := make([]pager.Receipt, 0, len(recs))
	for i, r := range recs {
		if r.CallID == "" {
			return nil, fmt.Errorf("aliyun receipt %d: no call_id", i)
		}
		at := string(r.StatusTime)
		if at == "" {
			at = string(r.EndTime)
		}
		t, _ := time.ParseInLocation(time.DateTime, at, pager.Beijing) // zero when absent
		out = append(out, pager.Receipt{
			Provider: Provider,
			CallID:   string(r.CallID),
			PageID:   string(r.OutID),
			Status:   status(string(r.StatusCode)),
			Code:     string(r.StatusCode),
			Digits:   string(r.DTMF),
			At:       t,
		})
	}
	return out, nil
}

// status maps the carrier receipt codes; codes outside the final 200xxx
// range are intermediate VoiceCallReport states.
func status(code string) pager.Status {
	switch code {
	case "200000", "200001", "200008": // to the end, hung up early, answered but no key
		return pager.StatusAnswered
	case "200002":
		return pager.StatusBusy
	case "200003":
		return pager.StatusNoAnswer
	case "200119":
		return pager.StatusThrottled
	case "300000":
		return pager.StatusKeypress
	}
	if strings.HasPrefix(code, "200") {
		return pager.StatusFailed
	}
	return pager.StatusProgress
}
