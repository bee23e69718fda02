package wecom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"weibao/bot"
)

// WeCom's byte limits for message bodies: text and markdown of the app and
// the robot webhook, and the intelligent robot's stream and markdown
// (doc 101031, SDK StreamReplyBody).
const (
	TextLimit         = 2048
	MarkdownLimit     = 4096
	RobotContentLimit = 20480
)

// Per-destination limits: a robot webhook takes 20 messages a minute, the
// app 30 a minute per member (excess is dropped silently by WeCom); the
// intelligent robot 30 a minute and 1,000 an hour per conversation, replies
// included, and 30 uploads a minute and 1,000 an hour per bot.
const (
	webhookPerMinute = 20
	appPerMinute     = 30
	robotPerMinute   = 30
	robotPerHour     = 1000
)

// SenderOptions configure a Sender.
type SenderOptions struct {
	// Client reaches the server API (app messages, webhooks, response_url).
	Client *Client
	// Conn is the robot's long connection (websocket mode); nil in callback mode.
	Conn *LongConn
	// Passive hands card updates to callbacks still waiting (callback mode).
	Passive *Passive
	// Limits counts the messages per destination across replicas
	// (redisstore.RateLog).
	Limits RateLimiter
	// Claims records which message used a response_url, good for one reply
	// (redisstore.Values).
	Claims Claims
	// Webhooks maps a ward group's chat id to its robot webhook key, the
	// robot's only way to speak first in callback mode, and in websocket
	// mode the way into a group the robot has not been @-mentioned in yet.
	Webhooks map[string]string
	// WardPeople names the people of the ward whose group chat id is given,
	// who get a group message 1:1 by the app when the robot may not speak
	// first in the group and it has no webhook key. Nil: no such fallback.
	WardPeople func(ctx context.Context, chatID string) ([]string, error)
	// TellLead queues a notice to the project lead; key makes it once
	// (the outbox's Key). Nil tells no one.
	TellLead func(ctx context.Context, key, text string) error
	Clock    bot.Clock

	// Files holds the documents file messages name (storage.DB); the bytes
	// are loaded and uploaded at delivery, since media ids expire after 3
	// days. Nil makes file messages unroutable.
	Files bot.Files
	// Texts renders the notices the sender writes itself (the catalogue);
	// required with Files.
	Texts Texts
	// FileURL is where a person downloads a stored file that WeCom cannot
	// carry; default the admin API path /api/v1/files/<id>.
	FileURL func(id int64) string
	// CardCode finds the response code message/send returned for a ticket's
	// card (the outbox ref, storage.DB.CardCode), so that a card update
	// answering no click (an action typed as a command) can redraw it. Nil
	// leaves such updates unroutable.
	CardCode func(ctx context.Context, ticketNo, taskID string) (string, error)
}

// Destination names the WeCom service m goes to first, for the outbox's
// breaker: the app API (every 1:1 message and card, all behind one access
// token), a group's robot webhook, the robot's long connection, or the host
// of a reply's response_url. It names a webhook by its group chat id, never
// by its key, which is a secret.
func (s *Sender) Destination(m bot.Outgoing) string {
	if r, ok := readRoute(m.Route); ok && m.ReplyTo != "" && m.File == nil {
		switch {
		case r.Source == SourceRobotWS:
			return "robot-ws"
		case r.Source == SourceRobot && r.ResponseURL != "":
			if u, err := url.Parse(r.ResponseURL); err == nil {
				return "response_url:" + u.Host
			}
		}
	}
	switch {
	case m.ToChat != "" && s.opt.Conn != nil:
		return "robot-ws"
	case m.ToChat != "":
		return "webhook:" + m.ToChat
	}
	return "app"
}

// share is what m may use of a destination's limit per window: a routine
// message (bot.RankRoutine: P3/P4 cards, reports, digests) two thirds, so
// that hundreds of them leave room for a P1's card, a breach notice or a
// nurse's answer, which the outbox sends first.
func share(m bot.Outgoing, limit int) int {
	if m.Rule().Rank >= bot.RankRoutine {
		return limit - limit/3
	}
	return limit
}

// StoreError is a failure of weibao's own shared store (the Redis behind
// rate limits and reply claims), not of WeCom: the outbox retries it
// without counting it against the destination's breaker.
type StoreError struct{ Err error }

func (e *StoreError) Error() string   { return "send bookkeeping: " + e.Err.Error() }
func (e *StoreError) Unwrap() error   { return e.Err }
func (e *StoreError) Local() bool     { return true }
func (e *StoreError) Temporary() bool { return true }

// RateLimiter counts sends per key in a sliding window shared by replicas.
type RateLimiter interface {
	// Allow records one send at key unless limit sends lie in the last
	// window; then it returns how long until one fits (zero: recorded).
	Allow(ctx context.Context, key string, limit int, window time.Duration, now time.Time) (time.Duration, error)
}

// Claims are first-come keys shared by replicas.
type Claims interface {
	// SetNX stores val at key for ttl unless key exists, and reports whether it did.
	SetNX(ctx context.Context, key, val string, ttl time.Duration) (bool, error)
	Get(ctx context.Context, key string) (val string, ok bool, err error)
}

// Texts is the message catalogue (catalog.Catalog).
type Texts interface {
	Text(key string, fields map[string]any) string
}

// Sender delivers bot.Outgoing through the right WeCom call; the outbox
// worker calls it. Nothing else in weibao builds WeCom messages.
type Sender struct {
	opt SenderOptions
}

// NewSender returns a Sender.
func NewSender(opt SenderOptions) (*Sender, error) {
	if opt.Client == nil || opt.Limits == nil || opt.Claims == nil {
		return nil, errors.New("wecom: sender needs Client, Limits and Claims")
	}
	if (opt.Files != nil || opt.TellLead != nil) && opt.Texts == nil {
		return nil, errors.New("wecom: a sender with Files or TellLead needs Texts")
	}
	if opt.Clock == nil {
		opt.Clock = bot.SystemClock{}
	}
	if opt.FileURL == nil {
		opt.FileURL = func(id int64) string { return fmt.Sprintf("/api/v1/files/%d", id) }
	}
	return &Sender{opt: opt}, nil
}

// RateLimitError says a destination is over its limit; the message waits.
type RateLimitError struct {
	Dest  string
	After time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("wecom: %s over its rate limit, retry in %s", e.Dest, e.After)
}

// RetryAfter tells the outbox when to try again.
func (e *RateLimitError) RetryAfter() time.Duration { return e.After }

// RouteError is a message WeCom can never deliver as addressed: retrying
// cannot help, and the outbox reports it as unroutable.
type RouteError struct{ Reason string }

func (e *RouteError) Error() string    { return "wecom: cannot deliver: " + e.Reason }
func (e *RouteError) Temporary() bool  { return false }
func (e *RouteError) Unroutable() bool { return true }

// Deliver sends m and returns WeCom's reference for it (message id or a
// card's response code), or an error: *RateLimitError to wait,
// Temporary() false when retrying cannot help.
func (s *Sender) Deliver(ctx context.Context, m bot.Outgoing) (string, error) {
	if m.AppChat {
		return s.toAppChat(ctx, m)
	}
	if m.File != nil {
		// Files go out proactively: no reply route carries one.
		return s.file(ctx, m)
	}
	if m.ReplyTo != "" {
		ref, done, err := s.reply(ctx, m)
		if done || err != nil {
			return ref, err
		}
	}
	if m.CardUpdate != nil {
		if m.ReplyTo != "" {
			return "", &RouteError{"no way to update the card the click " + m.ReplyTo + " came from"}
		}
		return s.redraw(ctx, m)
	}
	switch {
	case m.ToChat != "":
		return s.toChat(ctx, m)
	case len(m.ToUsers) > 0:
		return s.toUsers(ctx, m)
	}
	return "", &RouteError{"no recipient"}
}

// reply answers through the route the message carries from the inbound
// one (m.Route); done=false means there is none left and the message goes
// out proactively.
func (s *Sender) reply(ctx context.Context, m bot.Outgoing) (ref string, done bool, err error) {
	r, ok := readRoute(m.Route)
	if !ok {
		return "", false, nil
	}
	if m.CardUpdate != nil {
		if !r.CardEvent {
			return "", true, &RouteError{"card update replies to " + m.ReplyTo + ", which is not a card click"}
		}
		return s.updateCard(ctx, m, r)
	}
	if r.Source == SourceApp {
		return "", false, nil // the app has no reply route: message/send to the user
	}
	// A robot reply lands where the message came from; other destinations
	// are sent proactively.
	if m.ToChat != r.ChatID || (m.ToChat == "" && !oneUser(m.ToUsers, r.From)) {
		return "", false, nil
	}
	bodies := robotParts(m)
	if len(bodies) > 1 {
		return "", false, nil // one reply cannot carry it: all parts go out proactively
	}
	body := bodies[0]
	conv := r.ChatID
	if conv == "" {
		conv = r.From
	}
	switch r.Source {
	case SourceRobotWS:
		// aibot_respond_msg answers message callbacks only; an enter_chat
		// has its welcome, a card click its update (above), and a feedback
		// event no reply at all (SDK WSClient): those go out proactively.
		if r.Event && !r.Welcome {
			return "", false, nil
		}
		cmd, payload := CmdRespondMsg, any(body)
		switch {
		case r.Welcome:
			cmd, payload = CmdRespondWelcome, welcome(m)
		case body.MsgType == "markdown":
			// A reply to a user message is a finished stream (doc 101031).
			payload = map[string]any{"msgtype": "stream", "stream": map[string]any{
				"id": newReqID(), "finish": true, "content": body.Markdown.Content}}
		}
		if err := s.robotLimit(ctx, m, conv); err != nil {
			return "", true, err
		}
		if err := s.ws(ctx, cmd, r.ReqID, payload); err != nil {
			if Temporary(err) {
				return "", true, err
			}
			return "", false, nil // the req_id expired: send proactively
		}
		return "", true, nil
	case SourceRobot:
		// The response_url's markdown is documented with no limit of its
		// own: longer than the webhook's goes through the webhook, split.
		if r.ResponseURL == "" || body.Markdown != nil && len(body.Markdown.Content) > MarkdownLimit {
			return "", false, nil
		}
		// The URL works once: the first message to claim it uses it.
		fresh, err := s.opt.Claims.SetNX(ctx, m.ReplyTo, m.Key, time.Hour)
		if err != nil {
			return "", true, &StoreError{err}
		}
		if !fresh {
			if owner, _, _ := s.opt.Claims.Get(ctx, m.ReplyTo); owner != m.Key {
				return "", false, nil
			}
		}
		if err := s.robotLimit(ctx, m, conv); err != nil {
			return "", true, err
		}
		if err := s.opt.Client.Respond(ctx, r.ResponseURL, body); err != nil {
			if Temporary(err) {
				return "", true, err
			}
			return "", false, nil
		}
		return "", true, nil
	}
	return "", false, nil
}

func oneUser(users []string, u string) bool { return len(users) == 1 && users[0] == u }

func (s *Sender) updateCard(ctx context.Context, m bot.Outgoing, r route) (string, bool, error) {
	cu := m.CardUpdate
	users := cu.UserIDs
	switch r.Source {
	case SourceApp:
		if len(users) == 0 {
			users = []string{r.From}
		}
		err := s.opt.Client.UpdateCard(ctx, CardUpdateRequest{UserIDs: users, ResponseCode: r.ResponseCode,
			Button: &ReplaceName{ReplaceName: cu.Replaced}})
		return "", true, err
	case SourceRobotWS:
		return "", true, s.ws(ctx, CmdRespondUpdate, r.ReqID, robotCardUpdate(cu, r.TaskID))
	case SourceRobot:
		b, err := json.Marshal(robotCardUpdate(cu, r.TaskID))
		if err != nil {
			return "", true, err
		}
		if s.opt.Passive != nil && s.opt.Passive.Offer(m.ReplyTo, b) {
			return "passive", true, nil
		}
		// The click's HTTP answer is gone: say it in the chat instead.
		if r.ResponseURL != "" {
			err := s.opt.Client.Respond(ctx, r.ResponseURL, AppMessage{MsgType: "markdown", Markdown: &Content{Content: cu.Replaced}})
			return "", true, err
		}
	}
	return "", true, &RouteError{"no way to update the card"}
}

// redraw updates an app card that no click answers, with the one-shot
// response code message/send returned for it (valid 72 h, doc 94945).
func (s *Sender) redraw(ctx context.Context, m bot.Outgoing) (string, error) {
	cu := m.CardUpdate
	if s.opt.CardCode == nil || cu.TaskID == "" || m.TicketNo == "" {
		return "", &RouteError{"a card update without a click needs the card's ticket and task id and a code lookup"}
	}
	code, err := s.opt.CardCode(ctx, m.TicketNo, cu.TaskID)
	if errors.Is(err, bot.ErrNotFound) {
		return "", &RouteError{"card " + cu.TaskID + " was not sent with a response code"}
	}
	if err != nil {
		return "", err
	}
	if code == "" {
		return "", nil // the card expired unsent: nobody has it to redraw
	}
	users := cu.UserIDs
	if len(users) == 0 {
		users = m.ToUsers
	}
	return "", s.opt.Client.UpdateCard(ctx, CardUpdateRequest{UserIDs: users, ResponseCode: code,
		Button: &ReplaceName{ReplaceName: cu.Replaced}})
}

// robotCardUpdate is the passive/long-connection body that redraws a card
// for everyone (or for cu.UserIDs) with its buttons greyed out; clicked is
// the task id of the card the click came from.
func robotCardUpdate(cu *bot.CardUpdate, clicked string) map[string]any {
	taskID := cu.TaskID
	if taskID == "" {
		taskID = clicked
	}
	out := map[string]any{
		"response_type": "update_template_card",
		"template_card": TemplateCard{CardType: "button_interaction", MainTitle: CardTitle{Title: cu.Replaced}, TaskID: taskID,
			ButtonList: []CardButton{{Text: cu.Replaced, Style: 2, Key: "done"}}, ReplaceText: cu.Replaced},
	}
	if len(cu.UserIDs) > 0 {
		out["userids"] = cu.UserIDs
	}
	return out
}

func (s *Sender) ws(ctx context.Context, cmd, reqID string, body any) error {
	if s.opt.Conn == nil {
		return &RouteError{"robot long connection not configured"}
	}
	return s.opt.Conn.Send(ctx, cmd, reqID, body)
}

func (s *Sender) toChat(ctx context.Context, m bot.Outgoing) (string, error) {
	if s.opt.Conn != nil {
		for _, body := range robotParts(m) {
			if err := s.robotLimit(ctx, m, m.ToChat); err != nil {
				return "", err
			}
			err := s.ws(ctx, CmdSendMsg, "", map[string]any{"chatid": m.ToChat, "msgtype": body.MsgType,
				body.MsgType: firstNonNil(body.Markdown, body.TemplateCard)})
			if refused(err) {
				return s.noPriorMessage(ctx, m, func() (string, error) { return s.toWebhook(ctx, m) }, s.toUsers)
			}
			if err != nil {
				return "", err
			}
		}
		return "", nil
	}
	return s.toWebhook(ctx, m)
}

// refused is WeCom turning a proactive robot message down for good. WeCom
// documents no errcode for "nobody has messaged the robot in this chat
// yet", so every such refusal is taken for it.
func refused(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && !ae.Temporary()
}

// noPriorMessage delivers a group message the robot may not send: through
// the group's webhook when it has a key, else by the app to the ward's
// people 1:1 (toUsers gets m addressed to them); and it tells the lead,
// once per group, that one @ to the robot there ends it.
func (s *Sender) noPriorMessage(ctx context.Context, m bot.Outgoing, webhook func() (string, error),
	toUsers func(context.Context, bot.Outgoing) (string, error)) (string, error) {
	via := "wecom.via_webhook"
	var ref string
	var err error
	if s.opt.Webhooks[m.ToChat] != "" {
		_, err = webhook()
	} else {
		via = "wecom.via_app"
		var people []string
		if s.opt.WardPeople != nil {
			people, err = s.opt.WardPeople(ctx, m.ToChat)
		}
		if err == nil && len(people) == 0 {
			return "", &RouteError{"the robot may not speak first in group chat " + m.ToChat +
				" and there is no webhook key or ward member to send it to instead"}
		}
		if err == nil {
			u := m
			u.ToChat, u.ToUsers = "", people
			ref, err = toUsers(ctx, u)
		}
	}
	if err != nil {
		return "", err
	}
	if s.opt.TellLead != nil {
		text := s.opt.Texts.Text("wecom.no_prior_message", map[string]any{"chat": m.ToChat, "via": s.opt.Texts.Text(via, nil)})
		if err := s.opt.TellLead(ctx, "wecom/no-prior-message/"+m.ToChat, text); err != nil {
			return ref, err
		}
	}
	return ref, nil
}

// toWebhook sends a group message through the group's robot webhook: in
// callback mode the robot only answers callbacks, so that is how weibao
// speaks first in a group.
func (s *Sender) toWebhook(ctx context.Context, m bot.Outgoing) (string, error) {
	key := s.opt.Webhooks[m.ToChat]
	if key == "" {
		return "", &RouteError{"no robot webhook key for group chat " + m.ToChat +
			" (robot callback mode: set webhook_key on the ward with this chat_id)"}
	}
	if m.Card != nil {
		return "", &RouteError{"robot webhooks cannot send interactive cards (group chat " + m.ToChat + ")"}
	}
	for _, part := range parts(m) {
		if err := s.limit(ctx, "webhook:"+key, share(m, webhookPerMinute)); err != nil {
			return "", err
		}
		if err := s.opt.Client.Webhook(ctx, key, part); err != nil {
			return "", err
		}
	}
	return "", nil
}

func (s *Sender) toUsers(ctx context.Context, m bot.Outgoing) (string, error) {
	for _, u := range m.ToUsers {
		if err := s.limit(ctx, "app:"+u, share(m, appPerMinute)); err != nil {
			return "", err
		}
	}
	to := strings.Join(m.ToUsers, "|")
	if m.Card != nil {
		res, err := s.opt.Client.Send(ctx, AppMessage{ToUser: to, MsgType: "template_card", TemplateCard: card(m.Card)})
		return res.ResponseCode, err
	}
	var ref string
	for _, part := range parts(m) {
		part.ToUser = to
		part.Text, part.Markdown = withoutMentions(part.Text), withoutMentions(part.Markdown)
		res, err := s.opt.Client.Send(ctx, part)
		if err != nil {
			return "", err
		}
		ref = res.MsgID
	}
	return ref, nil
}

// chatExists is appchat/create's errcode for a chat id already taken: a
// create retried after its answer was lost finds its own group.
const chatExists = 86215

// toAppChat creates the app's group chat m names if asked (CreateChat),
// then posts m's text there (appchat/send). WeCom counts an app's messages
// per member, as for 1:1 messages.
func (s *Sender) toAppChat(ctx context.Context, m bot.Outgoing) (string, error) {
	if m.ToChat == "" || m.Card != nil || m.File != nil || m.ReplyTo != "" {
		return "", &RouteError{"an app group chat message needs a chat id and takes text or markdown only"}
	}
	if c := m.CreateChat; c != nil {
		_, err := s.opt.Client.CreateAppChat(ctx, AppChat{Name: c.Name, Owner: c.Owner, UserList: c.Members, ChatID: m.ToChat})
		var ae *APIError
		if err != nil && !(errors.As(err, &ae) && ae.Code == chatExists) {
			return "", err
		}
	}
	if m.Text == "" {
		return "", nil
	}
	if err := s.limit(ctx, "appchat:"+m.ToChat, appPerMinute); err != nil {
		return "", err
	}
	for _, part := range parts(m) {
		part.ChatID = m.ToChat
		part.Text = withoutMentions(part.Text)
		if err := s.opt.Client.SendAppChat(ctx, part); err != nil {
			return "", err
		}
	}
	return "", nil
}

// FileTooLargeError is a file over WeCom's limit: the recipients got a
// notice with its download address instead, and the message is given up.
type FileTooLargeError struct {
	Name string
	Size int64
}

func (e *FileTooLargeError) Error() string {
	return fmt.Sprintf("wecom: file %q is %d bytes, over WeCom's %d byte limit: a download notice was sent instead", e.Name, e.Size, FileLimit)
}

func (e *FileTooLargeError) Temporary() bool { return false }

// file uploads m.File for its channel and sends it as a file message, after
// m.Text if there is one. The upload happens here, at delivery, because a
// media id lives 3 days and a message may wait longer in the outbox; a retry
// uploads again.
func (s *Sender) file(ctx context.Context, m bot.Outgoing) (string, error) {
	if s.opt.Files == nil {
		return "", &RouteError{"file messages need the file store (SenderOptions.Files)"}
	}
	if m.ToChat == "" && len(m.ToUsers) == 0 {
		return "", &RouteError{"no recipient"}
	}
	if m.File.Size > FileLimit {
		return s.fileTooLarge(ctx, m, m.File.Size)
	}
	f, err := s.opt.Files.File(ctx, m.File.ID)
	if errors.Is(err, bot.ErrNotFound) {
		return "", &RouteError{fmt.Sprintf("file %d (%s) is not in the file store", m.File.ID, m.File.Name)}
	}
	if err != nil {
		return "", err
	}
	if len(f.Data) > FileLimit {
		return s.fileTooLarge(ctx, m, int64(len(f.Data)))
	}
	name := m.File.Name
	if name == "" {
		name = f.Name
	}
	// A text sent with the file goes first; should the file then fail, a
	// retry sends the text again (report messages carry no text with a file).
	sendText := func() error {
		if m.Text == "" {
			return nil
		}
		t := m
		t.File = nil
		_, err := s.Deliver(ctx, t)
		return err
	}
	if m.ToChat != "" {
		err := s.fileToChat(ctx, m, name, f.Data, sendText)
		if s.opt.Conn != nil && refused(err) {
			// The text went out before the robot refused the file.
			sent := func() error { return nil }
			return s.noPriorMessage(ctx, m, func() (string, error) { return "", s.fileToWebhook(ctx, m, name, f.Data, sent) },
				func(ctx context.Context, u bot.Outgoing) (string, error) {
					return s.fileToUsers(ctx, u, name, f.Data, sent)
				})
		}
		return "", err
	}
	return s.fileToUsers(ctx, m, name, f.Data, sendText)
}

func (s *Sender) fileToUsers(ctx context.Context, m bot.Outgoing, name string, data []byte, sendText func() error) (string, error) {
	for _, u := range m.ToUsers {
		if err := s.limit(ctx, "app:"+u, share(m, appPerMinute)); err != nil {
			return "", err
		}
	}
	id, err := s.opt.Client.UploadFile(ctx, name, data)
	if err != nil {
		return "", err
	}
	if err := sendText(); err != nil {
		return "", err
	}
	res, err := s.opt.Client.Send(ctx, AppMessage{ToUser: strings.Join(m.ToUsers, "|"), MsgType: "file", File: &Media{MediaID: id}})
	return res.MsgID, err
}

// fileToChat sends a file to a group: over the long connection (its own
// chunked upload) in websocket mode, else through the group's robot webhook
// with a media id uploaded for that webhook key.
func (s *Sender) fileToChat(ctx context.Context, m bot.Outgoing, name string, data []byte, sendText func() error) error {
	if s.opt.Conn != nil {
		if err := s.robotLimit(ctx, m, m.ToChat); err != nil {
			return err
		}
		if err := s.uploadLimit(ctx); err != nil {
			return err
		}
		id, err := s.opt.Conn.UploadFile(ctx, name, data)
		if err != nil {
			return err
		}
		if err := sendText(); err != nil {
			return err
		}
		return s.ws(ctx, CmdSendMsg, "", map[string]any{"chatid": m.ToChat, "msgtype": "file", "file": Media{MediaID: id}})
	}
	return s.fileToWebhook(ctx, m, name, data, sendText)
}

func (s *Sender) fileToWebhook(ctx context.Context, m bot.Outgoing, name string, data []byte, sendText func() error) error {
	key := s.opt.Webhooks[m.ToChat]
	if key == "" {
		return &RouteError{"no robot webhook key for group chat " + m.ToChat +
			" (robot callback mode: set webhook_key on the ward with this chat_id)"}
	}
	if err := s.limit(ctx, "webhook:"+key, share(m, webhookPerMinute)); err != nil {
		return err
	}
	id, err := s.opt.Client.UploadWebhookFile(ctx, key, name, data)
	if err != nil {
		return err
	}
	if err := sendText(); err != nil {
		return err
	}
	return s.opt.Client.Webhook(ctx, key, AppMessage{MsgType: "file", File: &Media{MediaID: id}})
}

// fileTooLarge tells the recipients where to download a file WeCom will not
// carry, then gives the file message up.
func (s *Sender) fileTooLarge(ctx context.Context, m bot.Outgoing, size int64) (string, error) {
	notice := bot.Outgoing{Key: m.Key, TicketNo: m.TicketNo, ToUsers: m.ToUsers, ToChat: m.ToChat, Mentions: m.Mentions,
		Format: bot.FormatMarkdown, Text: s.opt.Texts.Text("wecom.file_too_large", map[string]any{
			"name": m.File.Name, "mb": fmt.Sprintf("%.1f", float64(size)/(1<<20)), "limit": FileLimit >> 20,
			"url": s.opt.FileURL(m.File.ID)})}
	if m.Text != "" {
		notice.Text = m.Text + "\n\n" + notice.Text
	}
	if _, err := s.Deliver(ctx, notice); err != nil {
		return "", err
	}
	return "", &FileTooLargeError{Name: m.File.Name, Size: size}
}

func withoutMentions(c *Content) *Content {
	if c != nil {
		c.MentionedList = nil
	}
	return c
}

// limit counts one message to dest in the last minute, shared by all
// replicas; over the limit it says how long until one fits.
func (s *Sender) limit(ctx context.Context, dest string, perMinute int) error {
	return s.window(ctx, dest, perMinute, time.Minute)
}

func (s *Sender) window(ctx context.Context, dest string, limit int, window time.Duration) error {
	wait, err := s.opt.Limits.Allow(ctx, dest, limit, window, s.opt.Clock.Now())
	if err != nil {
		return &StoreError{err}
	}
	if wait > 0 {
		return &RateLimitError{Dest: dest, After: wait}
	}
	return nil
}

// robotLimit counts one robot message m in a conversation (a group's chat
// id, or the userid of a 1:1) against the minute, then the hour. A message
// the hour refuses still counts in the minute, which only matters while the
// hour refuses anyway.
func (s *Sender) robotLimit(ctx context.Context, m bot.Outgoing, conv string) error {
	if err := s.window(ctx, "robot:"+conv, share(m, robotPerMinute), time.Minute); err != nil {
		return err
	}
	return s.window(ctx, "robot-hour:"+conv, share(m, robotPerHour), time.Hour)
}

// uploadLimit counts one robot upload, per bot (one bot per deployment).
func (s *Sender) uploadLimit(ctx context.Context) error {
	if err := s.window(ctx, "robot-upload", robotPerMinute, time.Minute); err != nil {
		return err
	}
	return s.window(ctx, "robot-upload-hour", robotPerHour, time.Hour)
}

// robotParts is a robot message: markdown (with <@id> mentions) split to
// the robot's limit, or a card; the robot has no plain text messages.
func robotParts(m bot.Outgoing) []AppMessage {
	if m.Card != nil {
		return []AppMessage{{MsgType: "template_card", TemplateCard: card(m.Card)}}
	}
	return markdownParts(m, RobotContentLimit)
}

// markdownParts is m as markdown with its <@id> mentions, split to limit.
func markdownParts(m bot.Outgoing, limit int) []AppMessage {
	text := m.Text
	for _, u := range m.Mentions {
		text += " <@" + u + ">"
	}
	var out []AppMessage
	for _, p := range Split(text, limit) {
		out = append(out, AppMessage{MsgType: "markdown", Markdown: &Content{Content: p}})
	}
	return out
}

// welcome is the answer to an enter_chat: text or a template card, the only
// types aibot_respond_welcome_msg takes (SDK WelcomeReplyBody; others get
// errcode 40008).
func welcome(m bot.Outgoing) AppMessage {
	if m.Card != nil {
		return AppMessage{MsgType: "template_card", TemplateCard: card(m.Card)}
	}
	return AppMessage{MsgType: "text", Text: &Content{Content: Truncate(m.Text, TextLimit)}}
}

// parts renders a text or markdown message, split to WeCom's byte limit.
func parts(m bot.Outgoing) []AppMessage {
	if m.Format == bot.FormatMarkdown {
		return markdownParts(m, MarkdownLimit)
	}
	var out []AppMessage
	for _, p := range Split(m.Text, TextLimit) {
		out = append(out, AppMessage{MsgType: "text", Text: &Content{Content: p, MentionedList: m.Mentions}})
	}
	return out
}

func firstNonNil(md *Content, c *TemplateCard) any {
	if c != nil {
		return c
	}
	return md
}

// card renders a paging card as a button_interaction template card.
func card(c *bot.Card) *TemplateCard {
	tc := &TemplateCard{CardType: "button_interaction", MainTitle: CardTitle{Title: Truncate(c.Title, 128)},
		SubTitleText: Truncate(c.Body, 512), TaskID: c.TaskID}
	for _, f := range c.Fields {
		tc.HorizontalContentList = append(tc.HorizontalContentList, CardKV{KeyName: Truncate(f.Label, 64), Value: Truncate(f.Value, 128)})
	}
	for i, b := range c.Buttons[:min(len(c.Buttons), 6)] {
		style := 2
		if i == 0 {
			style = 1
		}
		tc.ButtonList = append(tc.ButtonList, CardButton{Text: b.Text, Style: style, Key: b.Key})
	}
	return tc
}

// Split cuts s into pieces of at most limit bytes at UTF-8 character
// boundaries, preferring the last line break in each piece.
func Split(s string, limit int) []string {
	var out []string
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if nl := strings.LastIndexByte(s[:cut], '\n'); nl > cut/2 {
			cut = nl + 1
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" || len(out) == 0 {
		out = append(out, s)
	}
	return out
}

// Truncate cuts s to at most limit bytes at a character boundary, marking
// the cut with "…".
func Truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const ell = "…"
	cut := limit - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// Passive lets a robot card update reach the click's HTTP answer while the
// callback is still waiting for it (the robot can only update a card in that
// answer). It is per process: the waiting request and the outbox worker
// that delivers the update run in the same replica in the common case;
// otherwise the update falls back to the response_url.
type Passive struct {
	mu      sync.Mutex
	waiting map[string]chan []byte
}

// NewPassive returns an empty registry.
func NewPassive() *Passive { return &Passive{waiting: map[string]chan []byte{}} }

// Wait blocks until an update for the event id is offered or ctx ends.
func (p *Passive) Wait(ctx context.Context, id string) ([]byte, bool) {
	ch := make(chan []byte, 1)
	p.mu.Lock()
	p.waiting[id] = ch
	p.mu.Unlock()
	select {
	case b := <-ch:
		return b, true
	case <-ctx.Done():
	}
	p.mu.Lock()
	if p.waiting[id] == ch {
		delete(p.waiting, id)
	}
	p.mu.Unlock()
	// An offer made before the deregistration is still answered.
	select {
	case b := <-ch:
		return b, true
	default:
		return nil, false
	}
}

// Offer hands body to the request waiting for id; false when none waits.
func (p *Passive) Offer(id string, body []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch, ok := p.waiting[id]
	if !ok {
		return false
	}
	delete(p.waiting, id)
	ch <- body
	return true
}
