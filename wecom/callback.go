package wecom

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"weibao/bot"
)

// Sources name the parser that reads an inbound payload.
const (
	SourceApp     = "app"      // self-built app callback: decrypted XML
	SourceRobot   = "robot"    // robot callback: decrypted JSON
	SourceRobotWS = "robot_ws" // robot long connection: the whole frame
)

// Channel values in bot.Message.Channel.
const (
	ChannelApp   = "app"
	ChannelRobot = "robot"
)

// Parse errors. ErrMalformed is a 400; ErrIgnored is a well-formed payload
// weibao does not act on (answered 200, not stored).
var (
	ErrMalformed = errors.New("wecom: malformed payload")
	ErrIgnored   = errors.New("wecom: payload ignored")
)

// AppEnvelope is the outer XML of a self-built app callback.
type AppEnvelope struct {
	ToUserName string `xml:"ToUserName"`
	AgentID    string `xml:"AgentID"`
	Encrypt    string `xml:"Encrypt"`
}

// ParseAppEnvelope reads the outer XML of an app callback.
func ParseAppEnvelope(body []byte) (AppEnvelope, error) {
	var env AppEnvelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return env, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.Encrypt == "" {
		return env, fmt.Errorf("%w: envelope without Encrypt", ErrMalformed)
	}
	return env, nil
}

// ParseRobotEnvelope returns the ciphertext of a robot callback body
// ({"encrypt": "…"}).
func ParseRobotEnvelope(body []byte) (string, error) {
	var env struct {
		Encrypt string `json:"encrypt"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return "", fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.Encrypt == "" {
		return "", fmt.Errorf("%w: envelope without encrypt", ErrMalformed)
	}
	return env.Encrypt, nil
}

// Reply is what a channel needs to answer an inbound message. Parse writes
// it into the message's Route, which replies carry back to the Sender.
type Reply struct {
	Source       string       `json:",omitempty"`
	ResponseURL  string       `json:",omitempty"` // robot callback: one-shot, valid 1 h
	ReqID        string       `json:",omitempty"` // robot long connection: echoed by replies
	ResponseCode string       `json:",omitempty"` // app card click: updates the card (72 h)
	CardEvent    bool         `json:",omitempty"` // a card click: its reply updates the card
	ChatID       string       `json:",omitempty"`
	ChatType     bot.ChatType `json:",omitempty"`
	From         string       `json:",omitempty"`
}

// route is bot.Message.Route for WeCom: the Reply and what else of the
// message a reply depends on.
type route struct {
	Reply
	Welcome bool   `json:",omitempty"` // an enter_chat event, answered with a welcome
	Event   bool   `json:",omitempty"` // an event callback, which only its own command answers
	TaskID  string `json:",omitempty"` // the clicked card's task id
}

// readRoute decodes a bot.Message.Route; false when there is none.
func readRoute(s string) (route, bool) {
	var r route
	if s == "" || json.Unmarshal([]byte(s), &r) != nil {
		return route{}, false
	}
	return r, true
}

// Parse turns a payload into the channel-neutral message, with its reply
// route in m.Route, and the route itself. now stands in for payloads that
// carry no time.
func Parse(source string, payload []byte, now time.Time) (bot.Message, Reply, error) {
	m, r, err := parse(source, payload, now)
	if err != nil {
		return bot.Message{}, Reply{}, err
	}
	rt := route{Reply: r, Welcome: m.Event == "enter_chat", Event: m.Event != ""}
	if m.Button != nil {
		rt.TaskID = m.Button.TaskID
	}
	b, err := json.Marshal(rt)
	if err != nil {
		return bot.Message{}, Reply{}, fmt.Errorf("wecom: reply route: %w", err)
	}
	m.Route = string(b)
	return m, r, nil
}

func parse(source string, payload []byte, now time.Time) (bot.Message, Reply, error) {
	if !utf8.Valid(payload) {
		return bot.Message{}, Reply{}, fmt.Errorf("%w: invalid UTF-8", ErrMalformed)
	}
	switch source {
	case SourceApp:
		return parseApp(payload)
	case SourceRobot:
		return parseRobot(payload, "", now)
	case SourceRobotWS:
		var f frame
		if err := json.Unmarshal(payload, &f); err != nil {
			return bot.Message{}, Reply{}, fmt.Errorf("%w: frame: %v", ErrMalformed, err)
		}
		m, r, err := parseRobot(f.Body, f.Headers.ReqID, now)
		r.Source = SourceRobotWS
		return m, r, err
	}
	return bot.Message{}, Reply{}, fmt.Errorf("%w: unknown source %q", ErrMalformed, source)
}

type appXML struct {
	ToUserName   string  `xml:"ToUserName"`
	FromUserName string  `xml:"FromUserName"`
	CreateTime   int64   `xml:"CreateTime"`
	MsgType      string  `xml:"MsgType"`
	Content      string  `xml:"Content"`
	MsgID        string  `xml:"MsgId"`
	PicURL       string  `xml:"PicUrl"`
	MediaID      string  `xml:"MediaId"`
	Recognition  string  `xml:"Recognition"`
	LocationX    float64 `xml:"Location_X"`
	LocationY    float64 `xml:"Location_Y"`
	Label        string  `xml:"Label"`
	Event        string  `xml:"Event"`
	EventKey     string  `xml:"EventKey"`
	TaskID       string  `xml:"TaskId"`
	ResponseCode string  `xml:"ResponseCode"`
}

func parseApp(payload []byte) (bot.Message, Reply, error) {
	var x appXML
	if err := xml.Unmarshal(payload, &x); err != nil {
		return bot.Message{}, Reply{}, fmt.Errorf("%w: app message: %v", ErrMalformed, err)
	}
	if x.FromUserName == "" || x.MsgType == "" {
		return bot.Message{}, Reply{}, fmt.Errorf("%w: app message without sender or type", ErrMalformed)
	}
	m := bot.Message{
		Channel:  ChannelApp,
		From:     x.FromUserName,
		ChatType: bot.ChatSingle,
		At:       time.Unix(x.CreateTime, 0).UTC(),
	}
	r := Reply{Source: SourceApp, ChatType: bot.ChatSingle, From: x.FromUserName}
	switch x.MsgType {
	case "text":
		m.Text = x.Content
	case "image":
		m.Attachments = []bot.Attachment{{Kind: "image", URL: x.MediaID}}
	case "voice":
		m.Text = x.Recognition
		m.Attachments = []bot.Attachment{{Kind: "voice", URL: x.MediaID}}
	case "location":
		m.Location = &bot.Location{Lat: x.LocationX, Lng: x.LocationY, Label: x.Label}
	case "event":
		switch x.Event {
		case "template_card_event", "template_card_menu_event":
			m.Event = "card_click"
			m.Button = &bot.ButtonClick{Key: x.EventKey, TaskID: x.TaskID}
			r.ResponseCode, r.CardEvent = x.ResponseCode, true
		case "enter_agent":
			m.Event = "enter_chat"
		default:
			return bot.Message{}, Reply{}, fmt.Errorf("%w: app event %q", ErrIgnored, x.Event)
		}
		// Events carry no MsgId; WeCom's rule is sender plus create time.
		// A click also names its card and button: an engineer taking two
		// cards within one second clicks twice, and WeCom's retry of one
		// click repeats all three.
		m.ID = ChannelApp + ":" + x.FromUserName + "@" + strconv.FormatInt(x.CreateTime, 10)
		if m.Button != nil {
			m.ID += "/" + x.TaskID + "/" + x.EventKey
		}
		return m, r, nil
	default:
		return bot.Message{}, Reply{}, fmt.Errorf("%w: app message type %q", ErrIgnored, x.MsgType)
	}
	if x.MsgID == "" {
		return bot.Message{}, Reply{}, fmt.Errorf("%w: app message without MsgId", ErrMalformed)
	}
	m.ID = ChannelApp + ":" + x.MsgID
	return m, r, nil
}

type robotText struct {
	Content string `json:"content"`
}

type robotMedia struct {
	URL    string `json:"url"`
	AESKey string `json:"aeskey"`
}

type robotItem struct {
	MsgType string      `json:"msgtype"`
	Text    *robotText  `json:"text"`
	Image   *robotMedia `json:"image"`
}

type robotContent struct {
	MsgType string      `json:"msgtype"`
	Text    *robotText  `json:"text"`
	Image   *robotMedia `json:"image"`
	File    *robotMedia `json:"file"`
	Voice   *robotText  `json:"voice"`
	Mixed   *struct {
		Items []robotItem `json:"msg_item"`
	} `json:"mixed"`
}

type robotJSON struct {
	robotContent
	MsgID       string `json:"msgid"`
	ChatID      string `json:"chatid"`
	ChatType    string `json:"chattype"`
	ResponseURL string `json:"response_url"`
	CreateTime  int64  `json:"create_time"`
	From        struct {
		UserID string `json:"userid"`
	} `json:"from"`
	Quote *robotContent `json:"quote"`
	Event *struct {
		EventType string `json:"eventtype"`
		Card      *struct {
			EventKey string `json:"event_key"`
			TaskID   string `json:"task_id"`
		} `json:"template_card_event"`
	} `json:"event"`
}

func parseRobot(body []byte, reqID string, now time.Time) (bot.Message, Reply, error) {
	var j robotJSON
	if err := json.Unmarshal(body, &j); err != nil {
		return bot.Message{}, Reply{}, fmt.Errorf("%w: robot message: %v", ErrMalformed, err)
	}
	if j.MsgID == "" || j.From.UserID == "" || j.MsgType == "" {
		return bot.Message{}, Reply{}, fmt.Errorf("%w: robot message without msgid, sender or type", ErrMalformed)
	}
	m := bot.Message{
		ID:       ChannelRobot + ":" + j.MsgID,
		Channel:  ChannelRobot,
		From:     j.From.UserID,
		ChatType: bot.ChatSingle,
		At:       now.UTC(),
	}
	if j.CreateTime > 0 {
		m.At = time.Unix(j.CreateTime, 0).UTC()
	}
	if j.ChatType == "group" {
		m.ChatType, m.ChatID = bot.ChatGroup, j.ChatID
	}
	r := Reply{Source: SourceRobot, ResponseURL: j.ResponseURL, ReqID: reqID, ChatID: m.ChatID, ChatType: m.ChatType, From: m.From}
	switch j.MsgType {
	case "event":
		if j.Event == nil {
			return bot.Message{}, Reply{}, fmt.Errorf("%w: robot event without event", ErrMalformed)
		}
		switch j.Event.EventType {
		case "template_card_event":
			if j.Event.Card == nil {
				return bot.Message{}, Reply{}, fmt.Errorf("%w: card event without template_card_event", ErrMalformed)
			}
			m.Event = "card_click"
			m.Button = &bot.ButtonClick{Key: j.Event.Card.EventKey, TaskID: j.Event.Card.TaskID}
			r.CardEvent = true
		case "enter_chat":
			m.Event = "enter_chat"
		case "feedback_event":
			m.Event = "feedback"
		default:
			return bot.Message{}, Reply{}, fmt.Errorf("%w: robot event %q", ErrIgnored, j.Event.EventType)
		}
		return m, r, nil
	case "stream":
		// Refresh polls for a stream reply; weibao never answers with streams.
		return bot.Message{}, Reply{}, fmt.Errorf("%w: stream refresh", ErrIgnored)
	}
	text, atts, ok := j.robotContent.flatten()
	if !ok {
		return bot.Message{}, Reply{}, fmt.Errorf("%w: robot message type %q", ErrIgnored, j.MsgType)
	}
	m.Text, m.Attachments = StripMention(text), atts
	if j.Quote != nil {
		m.Quoted, _, _ = j.Quote.flatten()
	}
	return m, r, nil
}

// flatten joins the text parts and collects the media of one message.
func (c robotContent) flatten() (string, []bot.Attachment, bool) {
	var atts []bot.Attachment
	media := func(kind string, md *robotMedia) {
		if md != nil {
			atts = append(atts, bot.Attachment{Kind: kind, URL: md.URL})
		}
	}
	switch c.MsgType {
	case "text":
		if c.Text == nil {
			return "", nil, false
		}
		return c.Text.Content, nil, true
	case "voice":
		if c.Voice == nil {
			return "", nil, false
		}
		return c.Voice.Content, nil, true
	case "image":
		media("image", c.Image)
		return "", atts, true
	case "file":
		media("file", c.File)
		return "", atts, true
	case "mixed":
		if c.Mixed == nil {
			return "", nil, false
		}
		var parts []string
		for _, it := range c.Mixed.Items {
			switch {
			case it.MsgType == "text" && it.Text != nil:
				parts = append(parts, it.Text.Content)
			case it.MsgType == "image":
				media("image", it.Image)
			}
		}
		return strings.Join(parts, "\n"), atts, true
	}
	return "", nil, false
}

// StripMention removes the leading "@name" that WeCom leaves at the start of
// a group message to the robot, with the space after it (WeCom uses U+2005).
func StripMention(s string) string {
	t := strings.TrimLeft(s, " \u2005\t\n")
	if !strings.HasPrefix(t, "@") {
		return strings.TrimSpace(s)
	}
	i := strings.IndexAny(t, " \u2005\t\n")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(strings.TrimLeft(t[i:], " \u2005\t\n"))
}
