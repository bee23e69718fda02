package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/credential"
	"github.com/silenceper/wechat/v2/util"
	"github.com/silenceper/wechat/v2/work"
	workcfg "github.com/silenceper/wechat/v2/work/config"

	"weibao/bot"
)

// DefaultAPIBase is WeCom's public API host; private deployments configure
// their own (wecom.api_base).
const DefaultAPIBase = "https://qyapi.weixin.qq.com"

// ClientOptions configure a Client.
type ClientOptions struct {
	APIBase string // default DefaultAPIBase
	CorpID  string
	AgentID string
	Secret  string
	// Cache keeps the access token; use NewTokenCache over Redis so replicas
	// share one token. Required.
	Cache cache.Cache
	// HTTPClient defaults to one with a 10 s timeout.
	HTTPClient *http.Client
	// LoginBase is the web login page, default LoginBase.
	LoginBase string
	// UploadTimeout bounds one media upload (a file of up to 20 MB over a
	// hospital's uplink), default 2 min.
	UploadTimeout time.Duration
}

// Client calls the WeCom server API: silenceper/wechat where it has the call
// (tokens, message/send, appchat/send, webhook/send), its own requests for
// the rest. Every answer's errcode is checked and returned as *APIError.
//
// silenceper's HTTP client and URL rewrite are process-wide, so NewClient
// sets them: one WeCom tenant per process.
type Client struct {
	base    string
	http    *http.Client
	upload  *http.Client
	work    *work.Work
	token   credential.AccessTokenContextHandle
	cache   cache.Cache
	key     string // the token's cache key, dropped on 40014/42001
	agentID int
	corpID  string
	// loginBase is the web login page (LoginURL).
	loginBase string
}

// NewClient builds a Client and points silenceper at opt.APIBase.
func NewClient(opt ClientOptions) (*Client, error) {
	if opt.Cache == nil {
		return nil, errors.New("wecom: client needs a token cache")
	}
	agentID, err := strconv.Atoi(opt.AgentID)
	if opt.AgentID != "" && err != nil {
		return nil, fmt.Errorf("wecom: agent id %q is not a number", opt.AgentID)
	}
	if opt.APIBase == "" {
		opt.APIBase = DefaultAPIBase
	}
	base := strings.TrimRight(opt.APIBase, "/")
	if opt.HTTPClient == nil {
		opt.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.LoginBase == "" {
		opt.LoginBase = LoginBase
	}
	if opt.UploadTimeout <= 0 {
		opt.UploadTimeout = 2 * time.Minute
	}
	upload := *opt.HTTPClient
	upload.Timeout = opt.UploadTimeout
	util.DefaultHTTPClient = opt.HTTPClient
	if base != DefaultAPIBase {
		util.SetURIModifier(func(uri string) string {
			if rest, ok := strings.CutPrefix(uri, DefaultAPIBase); ok {
				return base + rest
			}
			return uri
		})
	} else {
		util.SetURIModifier(nil)
	}
	w := work.NewWork(&workcfg.Config{CorpID: opt.CorpID, CorpSecret: opt.Secret, AgentID: opt.AgentID, Cache: opt.Cache})
	return &Client{
		base:    base,
		http:    opt.HTTPClient,
		upload:  &upload,
		work:    w,
		token:   credential.NewWorkAccessToken(opt.CorpID, opt.Secret, opt.AgentID, credential.CacheKeyWorkPrefix, opt.Cache),
		cache:   opt.Cache,
		key:     fmt.Sprintf("%s_access_token_%s_%s", credential.CacheKeyWorkPrefix, opt.CorpID, opt.AgentID),
		agentID: agentID,
		corpID:  opt.CorpID,

		loginBase: opt.LoginBase,
	}, nil
}

// APIError is an errcode WeCom returned.
type APIError struct {
	API     string
	Code    int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("wecom %s: errcode %d: %s", e.API, e.Code, e.Message)
}

// Temporary reports whether retrying later can succeed.
func (e *APIError) Temporary() bool {
	switch e.Code {
	case -1, // system busy
		40014, 41001, 42001, // token trouble that outlived the one refresh
		45009, 45033, // frequency limits
		60020: // caller IP not yet trusted: an admin can fix it
		return true
	}
	return false
}

// HTTPError is an answer whose HTTP status is not 200.
type HTTPError struct {
	API    string
	Status int
}

func (e *HTTPError) Error() string { return fmt.Sprintf("wecom %s: HTTP %d", e.API, e.Status) }

// Temporary reports whether retrying later can succeed: a server error, a
// timeout or a rate limit can; any other 4xx is a request that never will.
func (e *HTTPError) Temporary() bool {
	return e.Status >= 500 || e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests
}

// Temporary reports whether err is worth retrying: everything except an
// errcode WeCom documents as final (bad user, bad payload…) or a refused
// request (HTTP 4xx).
func Temporary(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Temporary()
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return he.Temporary()
	}
	return err != nil
}

func fromCommon(api string, err error) error {
	var ce *util.CommonError
	if errors.As(err, &ce) {
		return &APIError{API: api, Code: int(ce.ErrCode), Message: ce.ErrMsg}
	}
	if err != nil {
		return redact(fmt.Errorf("wecom %s: %w", api, err))
	}
	return nil
}

// retryToken runs call and, when WeCom says the token is invalid or
// expired, drops the cached token and runs it once more.
func (c *Client) retryToken(ctx context.Context, call func() error) error {
	err := call()
	var ae *APIError
	if errors.As(err, &ae) && (ae.Code == 40014 || ae.Code == 42001) {
		if derr := cache.DeleteContext(ctx, c.cache, c.key); derr != nil {
			return errors.Join(err, derr)
		}
		err = call()
	}
	return err
}

// AppMessage is the body of message/send and appchat/send; silenceper lacks
// markdown, textcard and template_card, so weibao has its own.
type AppMessage struct {
	ToUser       string        `json:"touser,omitempty"`
	ChatID       string        `json:"chatid,omitempty"`
	MsgType      string        `json:"msgtype"`
	AgentID      int           `json:"agentid,omitempty"`
	Text         *Content      `json:"text,omitempty"`
	Markdown     *Content      `json:"markdown,omitempty"`
	TemplateCard *TemplateCard `json:"template_card,omitempty"`
	File         *Media        `json:"file,omitempty"`
	Safe         int           `json:"safe,omitempty"`
}

// Media names an uploaded file (a media id is valid for 3 days).
type Media struct {
	MediaID string `json:"media_id"`
}

// Content is a text or markdown body; the mention lists are the robot
// webhook's.
type Content struct {
	Content       string   `json:"content"`
	MentionedList []string `json:"mentioned_list,omitempty"`
}

// TemplateCard is a button_interaction card (and what the robot accepts).
type TemplateCard struct {
	CardType              string       `json:"card_type"`
	MainTitle             CardTitle    `json:"main_title"`
	SubTitleText          string       `json:"sub_title_text,omitempty"`
	HorizontalContentList []CardKV     `json:"horizontal_content_list,omitempty"`
	TaskID                string       `json:"task_id,omitempty"`
	ButtonList            []CardButton `json:"button_list,omitempty"`
	// ReplaceText greys the buttons out with this text (card updates).
	ReplaceText string `json:"replace_text,omitempty"`
}

// CardTitle is a card's main title.
type CardTitle struct {
	Title string `json:"title,omitempty"`
	Desc  string `json:"desc,omitempty"`
}

// CardKV is one "key: value" line.
type CardKV struct {
	KeyName string `json:"keyname"`
	Value   string `json:"value"`
}

// CardButton is a callback button (type 0).
type CardButton struct {
	Text  string `json:"text"`
	Style int    `json:"style,omitempty"`
	Key   string `json:"key"`
}

// SendResult is what message/send returns that weibao keeps.
type SendResult struct {
	MsgID        string
	ResponseCode string // for cards: lets a later update_template_card change it
}

// Send posts an app message (message/send). msg.AgentID is filled in.
func (c *Client) Send(ctx context.Context, msg AppMessage) (SendResult, error) {
	msg.AgentID = c.agentID
	var res SendResult
	err := c.retryToken(ctx, func() error {
		r, err := c.work.GetMessage().Send("message/send", msg)
		if err != nil {
			return fromCommon("message/send", err)
		}
		res = SendResult{MsgID: r.MsgID, ResponseCode: r.ResponseCode}
		if r.InvalidUser != "" && r.InvalidUser == msg.ToUser {
			return &APIError{API: "message/send", Code: 81013, Message: "all recipients invalid"}
		}
		return nil
	})
	return res, err
}

// SendAppChat posts to a group the app created (appchat/send).
func (c *Client) SendAppChat(ctx context.Context, msg AppMessage) error {
	return c.retryToken(ctx, func() error {
		_, err := c.work.GetAppChat().Send("appchat/send", msg)
		return fromCommon("appchat/send", err)
	})
}

// Webhook posts to a group robot webhook (消息推送). silenceper returns no
// error for a failed errcode there, so it is checked here.
func (c *Client) Webhook(ctx context.Context, key string, msg AppMessage) error {
	info, err := c.work.GetRobot().RobotBroadcast(key, msg)
	if err != nil {
		return fromCommon("webhook/send", err)
	}
	if info.ErrCode != 0 {
		return &APIError{API: "webhook/send", Code: int(info.ErrCode), Message: info.ErrMsg}
	}
	return nil
}

// DepartmentMembers lists the members of a WeCom department
// (user/simplelist, with the app's token; the app's visible range must
// include the department). Only the department's own members: WeCom no
// longer documents fetch_child, so sub-departments are not included. Each
// comes as a person with user id and name only.
func (c *Client) DepartmentMembers(ctx context.Context, departmentID int) ([]bot.Person, error) {
	var out []bot.Person
	err := c.retryToken(ctx, func() error {
		users, err := c.work.GetAddressList().UserSimpleList(departmentID)
		if err != nil {
			return fromCommon("user/simplelist", err)
		}
		out = make([]bot.Person, 0, len(users))
		for _, u := range users {
			out = append(out, bot.Person{UserID: u.UserID, Name: u.Name})
		}
		return nil
	})
	return out, err
}

// AppChat describes a group to create.
type AppChat struct {
	Name     string   `json:"name,omitempty"`
	Owner    string   `json:"owner,omitempty"`
	UserList []string `json:"userlist"`
	ChatID   string   `json:"chatid,omitempty"`
}

// CreateAppChat creates a group owned by the app and returns its chat id.
func (c *Client) CreateAppChat(ctx context.Context, chat AppChat) (string, error) {
	var res struct {
		ChatID string `json:"chatid"`
	}
	err := c.retryToken(ctx, func() error { return c.post(ctx, "appchat/create", chat, &res) })
	return res.ChatID, err
}

// CardUpdateRequest is the body of message/update_template_card.
type CardUpdateRequest struct {
	UserIDs      []string      `json:"userids,omitempty"`
	AtAll        int           `json:"atall,omitempty"`
	AgentID      int           `json:"agentid"`
	ResponseCode string        `json:"response_code"`
	Button       *ReplaceName  `json:"button,omitempty"`
	TemplateCard *TemplateCard `json:"template_card,omitempty"`
}

// ReplaceName greys out the clicked button with a new label.
type ReplaceName struct {
	ReplaceName string `json:"replace_name"`
}

// UpdateCard changes a sent app card (message/update_template_card); each
// response code works once.
func (c *Client) UpdateCard(ctx context.Context, req CardUpdateRequest) error {
	req.AgentID = c.agentID
	return c.retryToken(ctx, func() error { return c.post(ctx, "message/update_template_card", req, nil) })
}

// Respond posts a robot's active reply to a callback's response_url, as
// plain JSON, used exactly as received (doc 101138).
func (c *Client) Respond(ctx context.Context, responseURL string, body any) error {
	if err := c.do(ctx, "aibot/response", responseURL, body, nil); err != nil {
		return redact(err, responsePath(responseURL)...)
	}
	return nil
}

// post calls a token-authenticated API that silenceper lacks.
func (c *Client) post(ctx context.Context, api string, body, out any) error {
	tok, err := c.token.GetAccessTokenContext(ctx)
	if err != nil {
		return redact(fmt.Errorf("wecom gettoken: %w", err))
	}
	return c.do(ctx, api, c.base+"/cgi-bin/"+api+"?access_token="+tok, body, out)
}

func (c *Client) do(ctx context.Context, api, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return c.send(ctx, c.http, api, url, "application/json", b, out)
}

// FileLimit is the largest file WeCom accepts for a file message (media
// upload, robot webhook upload, long-connection upload alike).
const FileLimit = 20 << 20

// UploadFile uploads a file for the app (media/upload, type file) and
// returns its media id, valid for 3 days.
func (c *Client) UploadFile(ctx context.Context, name string, data []byte) (string, error) {
	var res struct {
		MediaID string `json:"media_id"`
	}
	err := c.retryToken(ctx, func() error {
		tok, err := c.token.GetAccessTokenContext(ctx)
		if err != nil {
			return redact(fmt.Errorf("wecom gettoken: %w", err))
		}
		return c.multipart(ctx, "media/upload", c.base+"/cgi-bin/media/upload?type=file&access_token="+url.QueryEscape(tok), name, data, &res)
	})
	if err == nil && res.MediaID == "" {
		err = &APIError{API: "media/upload", Code: -1, Message: "no media_id in the answer"}
	}
	return res.MediaID, err
}

// UploadWebhookFile uploads a file for a group robot webhook
// (webhook/upload_media, type file); the media id only works with that key.
func (c *Client) UploadWebhookFile(ctx context.Context, key, name string, data []byte) (string, error) {
	var res struct {
		MediaID string `json:"media_id"`
	}
	err := c.multipart(ctx, "webhook/upload_media", c.base+"/cgi-bin/webhook/upload_media?type=file&key="+url.QueryEscape(key), name, data, &res)
	if err == nil && res.MediaID == "" {
		err = &APIError{API: "webhook/upload_media", Code: -1, Message: "no media_id in the answer"}
	}
	return res.MediaID, err
}

// multipart posts data as the form field "media" with its file name and
// length, the shape both upload APIs document.
func (c *Client) multipart(ctx context.Context, api, url, name string, data []byte, out any) error {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="media"; filename=%q; filelength=%d`, name, len(data))}
	h["Content-Type"] = []string{"application/octet-stream"}
	part, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	part.Write(data)
	if err := mw.Close(); err != nil {
		return err
	}
	return c.send(ctx, c.upload, api, url, mw.FormDataContentType(), buf.Bytes(), out)
}

func (c *Client) send(ctx context.Context, hc *http.Client, api, url, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return redact(fmt.Errorf("wecom %s: %w", api, err))
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := hc.Do(req)
	if err != nil {
		return redact(fmt.Errorf("wecom %s: %w", api, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("wecom %s: %w", api, err)
	}
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{API: api, Status: resp.StatusCode}
	}
	var ce struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &ce); err != nil {
		return fmt.Errorf("wecom %s: answer: %w", api, err)
	}
	if ce.ErrCode != 0 {
		return &APIError{API: api, Code: ce.ErrCode, Message: ce.ErrMsg}
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
