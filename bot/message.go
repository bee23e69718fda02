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

	// Kind is what the message is for (Class derives it when empty);
	// Priority is its ticket's, set when the ticket's change queues it.
	Kind     Kind     `json:",omitempty"`
	Priority Priority `json:",omitempty"`
}

// Kind is what an outgoing message is for. Its Rule decides the message's
// place in its destination's queue and how long delivering it is worth it.
type Kind string

const (
	KindPage   Kind = "page"   // a paging card (page, repage, transfer)
	KindBreach Kind = "breach" // an escalation card or SLA notice (bot/escalation)
	KindNotice Kind = "notice" // a ticket's news to its reporters or engineer
	KindReply  Kind = "reply"  // an answer in a dialogue or to a command, no ticket behind it
	KindBusy   Kind = "busy"   // "系统繁忙": the answer to a message that failed
	KindReport Kind = "report" // reports, digests, reminders, roster notices
)

// Rule is how the outbox treats a kind of message.
type Rule struct {
	// Rank orders a destination's due messages (0 first) and limits what
	// the lower ones may use of its rate limit, so that a P1's card is not
	// held behind hundreds of P3 cards.
	Rank int
	// TTL is how long after queueing the message is still of use; past it
	// an undelivered message is dropped and recorded as expired. Zero: it
	// is retried until delivered (or covered).
	TTL time.Duration
	// MaxBackoff caps the wait between two attempts.
	MaxBackoff time.Duration
	// Covered: once a later page or breach card of the same ticket has been
	// delivered (the ticket's next escalation step), an undelivered one is
	// dropped and recorded as covered.
	Covered bool
}

// Ranks.
const (
	RankUrgent  = 0 // P1/P2 pages, breach notices
	RankReply   = 1 // answers to people waiting for them, ticket notices
	RankRoutine = 2 // P3/P4 pages, reports, digests
)

// The rules. A reply is worth its dialogue: a prompt delivered after the
// dialogue timed out (3 min by default, then the sweep tickets it) or after
// the nurse gave up asks a question nobody is answering any more, so
// replies live ReplyTTL; a busy notice ("try again") is worth it only in
// the first minute. Pages, breach notices, ticket notices and reports are
// never given up by age: what makes a page moot is the ticket's next
// escalation step reaching someone, not the clock.
const (
	ReplyTTL = 5 * time.Minute
	BusyTTL  = time.Minute
)

// Class is m's kind: Kind when set, else read from the message's shape.
func (m Outgoing) Class() Kind {
	switch {
	case m.Kind != "":
		return m.Kind
	case m.Card != nil && m.TicketNo != "":
		return KindPage
	case m.TicketNo != "":
		return KindNotice
	case m.ReplyTo != "":
		return KindReply
	}
	return KindReport
}

// Rule is the outbox's rule for m.
func (m Outgoing) Rule() Rule {
	urgent := m.Priority == P1 || m.Priority == P2
	switch m.Class() {
	case KindBreach:
		return Rule{Rank: RankUrgent, MaxBackoff: 30 * time.Second, Covered: true}
	case KindPage:
		if urgent {
			return Rule{Rank: RankUrgent, MaxBackoff: 30 * time.Second, Covered: true}
		}
		return Rule{Rank: RankRoutine, MaxBackoff: 2 * time.Minute, Covered: true}
	case KindNotice:
		if urgent {
			return Rule{Rank: RankReply, MaxBackoff: 30 * time.Second}
		}
		return Rule{Rank: RankReply, MaxBackoff: 2 * time.Minute}
	case KindReply:
		return Rule{Rank: RankReply, TTL: ReplyTTL, MaxBackoff: 30 * time.Second}
	case KindBusy:
		return Rule{Rank: RankReply, TTL: BusyTTL, MaxBackoff: 15 * time.Second}
	}
	return Rule{Rank: RankRoutine, MaxBackoff: 10 * time.Minute}
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
