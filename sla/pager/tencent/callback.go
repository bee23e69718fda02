package tencent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"weibao/sla/pager"
)

// text accepts a JSON string or number; the callbacks document strings.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*t = text(n)
	return nil
}

type callback struct {
	Prompt *struct {
		Result      text `json:"result"`
		CallID      text `json:"callid"`
		EndCallTime text `json:"end_calltime"`
	} `json:"voiceprompt_callback"`
	Key *struct {
		CallID   text `json:"callid"`
		Keypress text `json:"keypress"`
	} `json:"voicekey_callback"`
}

// ParseCallback parses a VMS callback: voiceprompt_callback (call status)
// or voicekey_callback (key press). Other callback kinds yield no receipts,
// so they are still acknowledged. Tencent does not echo SessionContext here,
// so PageID is empty: match CallID against the attempt's MessageID.
func ParseCallback(body []byte) ([]pager.Receipt, error) {
	var cb callback
	if err := json.Unmarshal(body, &cb); err != nil {
		return nil, fmt.Errorf("tencent callback: %w", err)
	}
	var out []pager.Receipt
	if p := cb.Prompt; p != nil {
		if p.CallID == "" {
			return nil, errors.New("tencent callback: no callid")
		}
		r := pager.Receipt{Provider: Provider, CallID: string(p.CallID), Code: string(p.Result), Status: pager.StatusFailed}
		switch p.Result {
		case "0":
			r.Status = pager.StatusAnswered
		case "1":
			r.Status = pager.StatusNoAnswer
		}
		if sec, err := strconv.ParseInt(string(p.EndCallTime), 10, 64); err == nil && sec > 0 {
			r.At = time.Unix(sec, 0)
		}
		out = append(out, r)
	}
	if k := cb.Key; k != nil {
		if k.CallID == "" {
			return nil, errors.New("tencent callback: no callid")
		}
		out = append(out, pager.Receipt{Provider: Provider, CallID: string(k.CallID), Status: pager.StatusKeypress, Digits: string(k.Keypress)})
	}
	return out, nil
}
