package tencent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"weibao/sla/pager"
)

type callback struct {
	Prompt *struct {
		Result      pager.Text `json:"result"`
		CallID      pager.Text `json:"callid"`
		EndCallTime pager.Text `json:"end_calltime"`
	} `json:"voiceprompt_callback"`
	Key *struct {
		CallID   pager.Text `json:"callid"`
		Keypress pager.Text `json:"keypress"`
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
