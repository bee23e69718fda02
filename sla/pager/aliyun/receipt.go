package aliyun

import (
	"bytes"
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

// ParseReceipts parses VoiceReport or VoiceCallReport records: an
// HTTP-push batch (a JSON array) or a queue message (one object). Times are
// Beijing time; At is zero when the record has none.
func ParseReceipts(body []byte) ([]pager.Receipt, error) {
	var recs []record
	if err := unmarshalRecords(body, &recs); err != nil {
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

// unmarshalRecords reads a JSON array of records, or one record.
func unmarshalRecords[T any](body []byte, recs *[]T) error {
	if b := bytes.TrimSpace(body); len(b) > 0 && b[0] == '{' {
		var r T
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		*recs = []T{r}
		return nil
	}
	return json.Unmarshal(body, recs)
}

// smsRecord is an SmsReport record (delivery of one SMS).
type smsRecord struct {
	BizID      pager.Text `json:"biz_id"`
	OutID      pager.Text `json:"out_id"`
	Success    bool       `json:"success"`
	ErrCode    pager.Text `json:"err_code"`
	ReportTime pager.Text `json:"report_time"`
}

// ParseSMSReports parses SmsReport records, an array or one object. The
// BizId SendSms returned is the receipt's CallID, as it is the page's
// message id.
func ParseSMSReports(body []byte) ([]pager.Receipt, error) {
	var recs []smsRecord
	if err := unmarshalRecords(body, &recs); err != nil {
		return nil, fmt.Errorf("aliyun sms report: %w", err)
	}
	out := make([]pager.Receipt, 0, len(recs))
	for i, r := range recs {
		if r.BizID == "" {
			return nil, fmt.Errorf("aliyun sms report %d: no biz_id", i)
		}
		st := pager.StatusDelivered
		if !r.Success {
			st = pager.StatusFailed
		}
		t, _ := time.ParseInLocation(time.DateTime, string(r.ReportTime), pager.Beijing) // zero when absent
		out = append(out, pager.Receipt{Provider: Provider, CallID: string(r.BizID), PageID: string(r.OutID),
			Status: st, Code: string(r.ErrCode), At: t})
	}
	return out, nil
}
