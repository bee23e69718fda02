package wecom

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"weibao/bot"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	at := time.Unix(1409659813, 0).UTC()
	tests := []struct {
		name      string
		source    string
		payload   string
		want      bot.Message
		wantReply Reply
	}{
		{
			name: "app text (official vector)", source: SourceApp, payload: vecPostPlain,
			want:      bot.Message{ID: "app:4561255354251345929", Channel: "app", From: "mycreate", ChatType: bot.ChatSingle, Text: "hello", At: at},
			wantReply: Reply{Source: SourceApp, ChatType: bot.ChatSingle, From: "mycreate"},
		},
		{
			name: "app card click", source: SourceApp,
			payload: `<xml><ToUserName>wx1</ToUserName><FromUserName>zhanggong</FromUserName><CreateTime>1409659813</CreateTime><MsgType>event</MsgType><Event>template_card_event</Event><EventKey>ack:F1</EventKey><TaskId>page-F1-1</TaskId><CardType>button_interaction</CardType><ResponseCode>rc1</ResponseCode><AgentID>1</AgentID></xml>`,
			want: bot.Message{ID: "app:zhanggong@1409659813/page-F1-1/ack:F1", Channel: "app", From: "zhanggong", ChatType: bot.ChatSingle, At: at,
				Event: "card_click", Button: &bot.ButtonClick{Key: "ack:F1", TaskID: "page-F1-1"}},
			wantReply: Reply{Source: SourceApp, ResponseCode: "rc1", CardEvent: true, ChatType: bot.ChatSingle, From: "zhanggong"},
		},
		{
			name: "app location", source: SourceApp,
			payload: `<xml><FromUserName>zhanggong</FromUserName><CreateTime>1409659813</CreateTime><MsgType>location</MsgType><Location_X>29.56</Location_X><Location_Y>106.55</Location_Y><Label>东街院区</Label><MsgId>77</MsgId></xml>`,
			want: bot.Message{ID: "app:77", Channel: "app", From: "zhanggong", ChatType: bot.ChatSingle, At: at,
				Location: &bot.Location{Lat: 29.56, Lng: 106.55, Label: "东街院区"}},
			wantReply: Reply{Source: SourceApp, ChatType: bot.ChatSingle, From: "zhanggong"},
		},
		{
			name: "app image", source: SourceApp,
			payload: `<xml><FromUserName>n1</FromUserName><CreateTime>1409659813</CreateTime><MsgType>image</MsgType><PicUrl>http://x</PicUrl><MediaId>m1</MediaId><MsgId>78</MsgId></xml>`,
			want: bot.Message{ID: "app:78", Channel: "app", From: "n1", ChatType: bot.ChatSingle, At: at,
				Attachments: []bot.Attachment{{Kind: "image", URL: "m1"}}},
			wantReply: Reply{Source: SourceApp, ChatType: bot.ChatSingle, From: "n1"},
		},
		{
			name: "robot group text strips the mention", source: SourceRobot,
			payload:   `{"msgid":"m1","aibotid":"b","chatid":"wrdA","chattype":"group","from":{"userid":"nurse1"},"response_url":"https://x/r?c=1","msgtype":"text","text":{"content":"@运维助手` + "\u2005" + `监护仪 黑屏"}}`,
			want:      bot.Message{ID: "robot:m1", Channel: "robot", From: "nurse1", ChatID: "wrdA", ChatType: bot.ChatGroup, Text: "监护仪 黑屏", At: now},
			wantReply: Reply{Source: SourceRobot, ResponseURL: "https://x/r?c=1", ChatID: "wrdA", ChatType: bot.ChatGroup, From: "nurse1"},
		},
		{
			name: "robot mixed", source: SourceRobot,
			payload: `{"msgid":"m2","chatid":"wrdA","chattype":"group","from":{"userid":"nurse1"},"msgtype":"mixed","create_time":1409659813,"mixed":{"msg_item":[{"msgtype":"text","text":{"content":"@bot 打印机卡纸"}},{"msgtype":"image","image":{"url":"https://img/1"}}]}}`,
			want: bot.Message{ID: "robot:m2", Channel: "robot", From: "nurse1", ChatID: "wrdA", ChatType: bot.ChatGroup, Text: "打印机卡纸", At: at,
				Attachments: []bot.Attachment{{Kind: "image", URL: "https://img/1"}}},
			wantReply: Reply{Source: SourceRobot, ChatID: "wrdA", ChatType: bot.ChatGroup, From: "nurse1"},
		},
		{
			name: "robot quote", source: SourceRobot,
			payload:   `{"msgid":"m3","chatid":"wrdA","chattype":"group","from":{"userid":"nurse1"},"msgtype":"text","text":{"content":"@bot 好了"},"quote":{"msgtype":"text","text":{"content":"工单 F1 已解决"}}}`,
			want:      bot.Message{ID: "robot:m3", Channel: "robot", From: "nurse1", ChatID: "wrdA", ChatType: bot.ChatGroup, Text: "好了", Quoted: "工单 F1 已解决", At: now},
			wantReply: Reply{Source: SourceRobot, ChatID: "wrdA", ChatType: bot.ChatGroup, From: "nurse1"},
		},
		{
			name: "robot single voice", source: SourceRobot,
			payload:   `{"msgid":"m4","chattype":"single","from":{"userid":"nurse1"},"msgtype":"voice","voice":{"content":"电脑蓝屏"}}`,
			want:      bot.Message{ID: "robot:m4", Channel: "robot", From: "nurse1", ChatType: bot.ChatSingle, Text: "电脑蓝屏", At: now},
			wantReply: Reply{Source: SourceRobot, ChatType: bot.ChatSingle, From: "nurse1"},
		},
		{
			name: "robot single file", source: SourceRobot,
			payload: `{"msgid":"m5","chattype":"single","from":{"userid":"nurse1"},"msgtype":"file","file":{"url":"https://f/1"}}`,
			want: bot.Message{ID: "robot:m5", Channel: "robot", From: "nurse1", ChatType: bot.ChatSingle, At: now,
				Attachments: []bot.Attachment{{Kind: "file", URL: "https://f/1"}}},
			wantReply: Reply{Source: SourceRobot, ChatType: bot.ChatSingle, From: "nurse1"},
		},
		{
			name: "robot card click", source: SourceRobot,
			payload: `{"msgid":"e1","create_time":1409659813,"chatid":"wrdA","chattype":"group","from":{"userid":"zhanggong"},"response_url":"https://x/r?c=2","msgtype":"event","event":{"eventtype":"template_card_event","template_card_event":{"card_type":"button_interaction","event_key":"ack:F1","task_id":"page-F1-1"}}}`,
			want: bot.Message{ID: "robot:e1", Channel: "robot", From: "zhanggong", ChatID: "wrdA", ChatType: bot.ChatGroup, At: at,
				Event: "card_click", Button: &bot.ButtonClick{Key: "ack:F1", TaskID: "page-F1-1"}},
			wantReply: Reply{Source: SourceRobot, ResponseURL: "https://x/r?c=2", CardEvent: true, ChatID: "wrdA", ChatType: bot.ChatGroup, From: "zhanggong"},
		},
		{
			name: "robot enter_chat", source: SourceRobot,
			payload:   `{"msgid":"e2","create_time":1409659813,"chattype":"single","from":{"userid":"nurse1"},"msgtype":"event","event":{"eventtype":"enter_chat"}}`,
			want:      bot.Message{ID: "robot:e2", Channel: "robot", From: "nurse1", ChatType: bot.ChatSingle, At: at, Event: "enter_chat"},
			wantReply: Reply{Source: SourceRobot, ChatType: bot.ChatSingle, From: "nurse1"},
		},
		{
			name: "robot feedback", source: SourceRobot,
			payload:   `{"msgid":"e3","create_time":1409659813,"chattype":"single","from":{"userid":"nurse1"},"msgtype":"event","event":{"eventtype":"feedback_event","feedback_event":{"id":"f","type":1}}}`,
			want:      bot.Message{ID: "robot:e3", Channel: "robot", From: "nurse1", ChatType: bot.ChatSingle, At: at, Event: "feedback"},
			wantReply: Reply{Source: SourceRobot, ChatType: bot.ChatSingle, From: "nurse1"},
		},
		{
			name: "long-connection frame", source: SourceRobotWS,
			payload:   `{"cmd":"aibot_msg_callback","headers":{"req_id":"r9"},"body":{"msgid":"m9","chatid":"wrdB","chattype":"group","from":{"userid":"nurse2"},"msgtype":"text","text":{"content":"@bot 网络断了"}}}`,
			want:      bot.Message{ID: "robot:m9", Channel: "robot", From: "nurse2", ChatID: "wrdB", ChatType: bot.ChatGroup, Text: "网络断了", At: now},
			wantReply: Reply{Source: SourceRobotWS, ReqID: "r9", ChatID: "wrdB", ChatType: bot.ChatGroup, From: "nurse2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reply, err := Parse(tt.source, []byte(tt.payload), now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(bot.Message{}, "Route")); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantReply, reply); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
			// The route a reply carries back is the same Reply.
			r, ok := readRoute(got.Route)
			if diff := cmp.Diff(tt.wantReply, r.Reply); !ok || diff != "" {
				t.Errorf("route %q (-want +got):\n%s", got.Route, diff)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, source, payload string
		want                  error
	}{
		{"broken xml", SourceApp, "<xml><FromUserName>a", ErrMalformed},
		{"app without sender", SourceApp, "<xml><MsgType>text</MsgType></xml>", ErrMalformed},
		{"app text without id", SourceApp, "<xml><FromUserName>a</FromUserName><MsgType>text</MsgType></xml>", ErrMalformed},
		{"app unknown type", SourceApp, "<xml><FromUserName>a</FromUserName><MsgType>link</MsgType><MsgId>1</MsgId></xml>", ErrIgnored},
		{"app unknown event", SourceApp, "<xml><FromUserName>a</FromUserName><MsgType>event</MsgType><Event>subscribe</Event></xml>", ErrIgnored},
		{"broken json", SourceRobot, `{"msgid":`, ErrMalformed},
		{"robot without msgid", SourceRobot, `{"from":{"userid":"a"},"msgtype":"text","text":{"content":"x"}}`, ErrMalformed},
		{"robot text without text", SourceRobot, `{"msgid":"1","from":{"userid":"a"},"msgtype":"text"}`, ErrIgnored},
		{"robot stream refresh", SourceRobot, `{"msgid":"1","from":{"userid":"a"},"msgtype":"stream","stream":{"id":"s"}}`, ErrIgnored},
		{"robot event without body", SourceRobot, `{"msgid":"1","from":{"userid":"a"},"msgtype":"event"}`, ErrMalformed},
		{"invalid utf-8", SourceRobot, "{\"msgid\":\"1\",\"from\":{\"userid\":\"a\"},\"msgtype\":\"text\",\"text\":{\"content\":\"\xff\xfe\"}}", ErrMalformed},
		{"unknown source", "fax", "x", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Parse(tt.source, []byte(tt.payload), time.Now())
			if !errors.Is(err, tt.want) {
				t.Errorf("Parse err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestStripMention(t *testing.T) {
	tests := map[string]string{
		"@运维助手 监护仪黑屏":      "监护仪黑屏",
		"@运维助手\u2005监护仪黑屏": "监护仪黑屏",
		" @bot  接单 F1 ":    "接单 F1",
		"没有提及":             "没有提及",
		"@bot":             "",
		"请 @张工 看看":         "请 @张工 看看",
		"@bot @张工 看看":      "@张工 看看",
	}
	for in, want := range tests {
		if got := StripMention(in); got != want {
			t.Errorf("StripMention(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(vecPostBody), []byte(vecJSONBody), []byte(vecPostPlain))
	f.Add([]byte("<xml>"), []byte(`{"encrypt":1}`), []byte(`{"msgid":"1","from":{"userid":"a"},"msgtype":"mixed","mixed":{"msg_item":[{}]}}`))
	f.Fuzz(func(t *testing.T, xmlBody, jsonBody, plain []byte) {
		ParseAppEnvelope(xmlBody)
		ParseRobotEnvelope(jsonBody)
		for _, src := range []string{SourceApp, SourceRobot, SourceRobotWS} {
			m, _, err := Parse(src, plain, time.Now())
			if err == nil && m.ID == "" {
				t.Errorf("Parse(%s) accepted a payload without an id", src)
			}
		}
	})
}

// TestParseRoute pins what the route keeps beyond the Reply: whether it is
// an event (which aibot_respond_msg may not answer) or a welcome, and which
// card a click came from.
func TestParseRoute(t *testing.T) {
	tests := []struct {
		name, source, payload string
		want                  route
	}{
		{"robot enter_chat", SourceRobot, `{"msgid":"e2","chattype":"single","from":{"userid":"nurse1"},"msgtype":"event","event":{"eventtype":"enter_chat"}}`,
			route{Reply: Reply{Source: SourceRobot, ChatType: bot.ChatSingle, From: "nurse1"}, Welcome: true, Event: true}},
		{"robot card click", SourceRobot, `{"msgid":"e1","chatid":"wrdA","chattype":"group","from":{"userid":"eng1"},"response_url":"https://x/r","msgtype":"event","event":{"eventtype":"template_card_event","template_card_event":{"event_key":"ack:F1","task_id":"t1"}}}`,
			route{Reply: Reply{Source: SourceRobot, ResponseURL: "https://x/r", CardEvent: true, ChatID: "wrdA", ChatType: bot.ChatGroup, From: "eng1"}, Event: true, TaskID: "t1"}},
		{"robot feedback", SourceRobotWS, `{"cmd":"aibot_event_callback","headers":{"req_id":"r9"},"body":{"msgid":"e3","chattype":"single","from":{"userid":"nurse1"},"msgtype":"event","event":{"eventtype":"feedback_event"}}}`,
			route{Reply: Reply{Source: SourceRobotWS, ReqID: "r9", ChatType: bot.ChatSingle, From: "nurse1"}, Event: true}},
		{"robot text", SourceRobot, `{"msgid":"m1","chattype":"single","from":{"userid":"nurse1"},"msgtype":"text","text":{"content":"hi"}}`,
			route{Reply: Reply{Source: SourceRobot, ChatType: bot.ChatSingle, From: "nurse1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, err := Parse(tt.source, []byte(tt.payload), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			got, ok := readRoute(m.Route)
			if diff := cmp.Diff(tt.want, got); !ok || diff != "" {
				t.Errorf("route %q (-want +got):\n%s", m.Route, diff)
			}
		})
	}
	if _, ok := readRoute(""); ok {
		t.Error("an empty route reads as a route")
	}
}

// TestCardClickIDs: an engineer taking two cards within one second sends
// two events with one sender and create time; both must pass the dedupe,
// while WeCom's retry of one click is the same event.
func TestCardClickIDs(t *testing.T) {
	click := func(task, key, code string) string {
		m, _, err := Parse(SourceApp, []byte(`<xml><ToUserName>wx1</ToUserName><FromUserName>eng1</FromUserName><CreateTime>1409659813</CreateTime><MsgType>event</MsgType><Event>template_card_event</Event><EventKey>`+key+`</EventKey><TaskId>`+task+`</TaskId><ResponseCode>`+code+`</ResponseCode><AgentID>1</AgentID></xml>`), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	first, second := click("F1-L0", "ack:F1", "rc1"), click("F2-L0", "ack:F2", "rc2")
	if first == second {
		t.Errorf("two clicks on two cards in one second share the id %q", first)
	}
	if retry := click("F1-L0", "ack:F1", "rc1"); retry != first {
		t.Errorf("a retried click has id %q, the click %q", retry, first)
	}
}
