package bot

import "time"

// ChatType tells a group conversation from a 1:1 one.
type ChatType string

const (
	ChatGroup  ChatType = "group"
	ChatSingle ChatType = "single"
)

// Message is anything a person sent weibao, whatever the channel (robot
// callback, robot long connection, self-built app, the terminal chat). The
// dialogue and command code only ever sees this type.
type Message struct {
	ID       string // the channel's message id, unique per channel; the inbox dedupes on it
	Channel  string // "robot", "app", "cli"
	From     string // WeCom user id of the sender
	ChatID   string // group chat id; empty for 1:1
	ChatType ChatType
	Text     string // with the leading @bot mention stripped
	// Quoted is the text of the message this one quotes (a reply to a
	// card or to another message); empty when nothing is quoted.
	Quoted string
	At     time.Time

	Attachments []Attachment
	Location    *Location
	// Button is set when the message is a click on a card button.
	Button *ButtonClick
	// Event names a non-message event ("enter_chat", "feedback"); empty for messages.
	Event string
	// Route is how the channel answers this message (a WeCom reply URL or
	// request id), written by the channel when it parses the message. The
	// bot does not read it: replies carry it back (Outgoing.Route).
	Route string `json:",omitempty"`
}

// Attachment is a picture, voice note or file that came with a message.
type Attachment struct {
	Kind string // "image", "voice", "file"
	URL  string // download URL (robot) or media id (app)
	Name string
}

// Location is a WeCom location message, used for 到场.
type Location struct {
	Lat, Lng float64
	Label    string
}

// ButtonClick is a press on a card button.
type ButtonClick struct {
	Key    string // the button's key, e.g. "ack:F20261126-0007"
	TaskID string // the card's task id, needed to update the card
}

// Format is how an outgoing text renders.
type Format string

const (
	FormatText     Format = "text"
	FormatMarkdown Format = "markdown"
)

// Outgoing is a message weibao sends. It is written to the outbox in the same
// transaction as the change that caused it, then delivered by a worker.
type Outgoing struct {
	// Key makes the message idempotent: the outbox stores one row per key, so
	// a retried handler never queues a second copy.
	Key      string
	TicketNo string

	ToUsers  []string // 1:1 through the self-built app
	ToChat   string   // a ward group chat id
	Mentions []string // user ids @-mentioned in the group
	// ReplyTo is the inbound Message.ID this answers, so a channel that can
	// only reply (the robot's response_url or req_id) knows where to.
	ReplyTo string
	// Route is the Route of the message ReplyTo names, so the channel needs
	// nothing but this message to answer it.
	Route string `json:",omitempty"`

	Format Format
	Text   string
	Card   *Card
	// CardUpdate replaces the buttons of a card already sent.
	CardUpdate *CardUpdate
	// File is a document (a report workbook, zip or page) sent as a file
	// message after Text; its bytes are kept in the database and fetched by
	// ID when delivered, so the outbox row stays small.
	File *FileRef `json:",omitempty"`
	// AppChat marks ToChat as a group chat the app created (a war room),
	// reached through the app (appchat/send) rather than the robot; it takes
	// text and markdown, not cards. CreateChat, when set, creates that group
	// before the message is posted in it.
	AppChat    bool      `json:",omitempty"`
	CreateChat *ChatSpec `json:",omitempty"`
}

// ChatSpec is a group chat for the app to create: its name, owner and
// members (user ids; the owner among them).
type ChatSpec struct {
	Name    string
	Owner   string
	Members []string
}

// FileRef names a stored file (see Files).
type FileRef struct {
	ID   int64
	Name string // e.g. "运维月报-2026-11.xlsx"
	Size int64
}

// Card is an interactive message with buttons (the paging card).
type Card struct {
	TaskID  string // unique per card; clicks and updates refer to it
	Title   string
	Body    string
	Fields  []CardField
	Buttons []Button
}

// CardField is one "label: value" line on a card.
type CardField struct{ Label, Value string }

// Button is one card button; Key comes back in ButtonClick.Key.
type Button struct {
	Key  string
	Text string
}

// CardUpdate changes a sent card, e.g. to show "已接单 by 张工" instead of buttons.
type CardUpdate struct {
	TaskID   string
	UserIDs  []string
	Replaced string // text shown in place of the buttons
}
