package configs

import (
	"fmt"
	"strings"
)

// Check is what `weibao doctor` says about one way into or out of weibao
// for this configuration: whether it works with outbound connections only,
// or needs WeCom or a provider to reach weibao at a public URL.
type Check struct {
	Path string // "robot", "app callback", "phone receipts (aliyun)", …
	// Inbound is true when the path needs server.public_url reachable from
	// the internet.
	Inbound bool
	How     string // in plain words
}

// Doctor is the configuration's paths and what it lacks, in plain words:
// printed by `weibao doctor` and logged once at start.
type Doctor struct {
	Checks   []Check
	Warnings []string
}

// Configured is false when no WeCom app or robot is set up (the demo):
// weibao then has no channel but the terminal chat.
func (w WeCom) Configured() bool { return w.CorpID != "" || w.Bot.ID != "" || w.Bot.Token != "" }

// Doctor reads c; it connects to nothing.
func (c *Config) Doctor() Doctor {
	var d Doctor
	url := func(path string) string {
		if c.Server.PublicURL == "" {
			return "needs server.public_url, which is not set; WeCom or the provider posts to <public_url>" + path
		}
		return "needs " + strings.TrimRight(c.Server.PublicURL, "/") + path + " reachable from the internet"
	}
	check := func(path string, inbound bool, how string) {
		d.Checks = append(d.Checks, Check{Path: path, Inbound: inbound, How: how})
	}
	warn := func(format string, args ...any) { d.Warnings = append(d.Warnings, fmt.Sprintf(format, args...)) }

	w := c.WeCom
	switch {
	case !w.Configured() && c.Try.Enabled:
		check("wecom", false, "not configured (wecom.corp_id empty): the /try page is the channel; chat with the bot in the browser at /try, or in a terminal: weibao chat --as nurse1 --in med-icu")
	case !w.Configured():
		check("wecom", false, "not configured (wecom.corp_id empty): nothing goes to WeCom; try the bot in a terminal: weibao chat --as nurse1 --in med-icu")
	default:
		switch {
		case w.Bot.Mode == "websocket":
			check("robot", false, "long connection to "+w.Bot.WSURL+" (outbound only); nurses in ward groups and engineers 1:1 talk to it")
		case w.Bot.Token != "":
			check("robot", true, "callback: "+url("/wecom/bot"))
		default:
			check("robot", false, "not configured (wecom.bot.id for the long connection, or wecom.bot.token for callbacks)")
		}
		if w.CorpID == "" {
			warn("wecom.corp_id is empty: messages to engineers and the lead (the app API) cannot be sent")
		} else {
			check("app messages", false, "sent through "+w.APIBase+" (outbound only; the server's egress IP must be on the app's trusted IP list)")
		}
		if w.Token != "" {
			check("app callback", true, "engineers' messages to the app and its card buttons: "+url("/wecom/callback"))
		}
	}

	p := c.Pager
	phone := false
	switch {
	case p.Aliyun.AccessKeyID != "" && p.Aliyun.Queues.Configured():
		phone = true
		check("phone receipts (aliyun)", false, "pulled from the receipt queue "+p.Aliyun.Queues.VoiceReport+" (outbound only)")
	case p.Aliyun.AccessKeyID != "":
		phone = true
		check("phone receipts (aliyun)", true, "push: "+url("/notify/aliyun/receipt")+" (or configure pager.aliyun.queues to pull them); without it a 1 pressed on a call is not seen and the next escalation step covers it")
	}
	if p.Tencent.SecretID != "" {
		phone = true
		check("phone receipts (tencent)", true, "push: "+url("/notify/tencent/callback")+"; without it a 1 pressed on a call is not seen and the next escalation step covers it")
	}
	if p.Webhook.URL != "" {
		phone = true
		name := p.Webhook.Name
		if name == "" {
			name = "webhook"
		}
		check("phone receipts ("+name+")", true, "push: "+url("/notify/webhook/"+name))
	}
	switch {
	case !phone && c.Try.Enabled && !w.Configured():
		warn("no phone provider configured (pager.aliyun, pager.tencent or pager.webhook): pages are shown on /try as text")
	case !phone:
		warn("no phone provider configured (pager.aliyun, pager.tencent or pager.webhook): pages are only logged")
	}
	if c.Try.Enabled && w.Configured() {
		warn("try.enabled is ignored: the /try page stands in for WeCom, and wecom is configured")
	}

	if len(c.OnCall.Primary) == 0 && len(c.OnCall.Overrides) == 0 {
		warn("no on-call roster (oncall.primary): unless it is set through the admin API, every page goes to the project lead")
	}
	if len(c.People) == 0 {
		warn("no people: nobody can report a fault or be paged (people: in the file)")
	}
	for _, wd := range c.Wards {
		switch {
		case wd.ChatID == "":
			warn("ward %s has no chat_id: a report from its group is not tied to the ward (weibao wecom chats lists the chats the bot has heard from)", wd.Code)
		case !w.Configured() || wd.WebhookKey != "":
		case w.Bot.Mode == "websocket":
			warn("ward %s has no webhook_key: weibao can speak first in its group only after someone has messaged the bot there (set wards[].webhook_key or %s)", wd.Code, WardWebhookEnv(wd.Code))
		default:
			warn("ward %s has no webhook_key: notices weibao starts in its group will fail (set wards[].webhook_key or %s)", wd.Code, WardWebhookEnv(wd.Code))
		}
	}
	return d
}

// String is the report as `weibao doctor` prints it.
func (d Doctor) String() string {
	var b strings.Builder
	for _, c := range d.Checks {
		need := "outbound only"
		if c.Inbound {
			need = "needs a public URL"
		}
		fmt.Fprintf(&b, "%-26s %-20s %s\n", c.Path, need, c.How)
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}
