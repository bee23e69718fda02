package pager

import (
	"context"
	"log/slog"
)

// LogNotifier only logs pages; it is the embedded default and the stub
// outside production. It logs ids and lengths, not the text, which may
// carry patient details.
type LogNotifier struct {
	logger *slog.Logger
}

// NewLogNotifier returns a LogNotifier writing to logger.
func NewLogNotifier(logger *slog.Logger) *LogNotifier {
	return &LogNotifier{logger: logger}
}

// Provider returns "log".
func (n *LogNotifier) Provider() string { return "log" }

// Channels returns voice and SMS.
func (n *LogNotifier) Channels() []Channel { return []Channel{Voice, SMS} }

// Limit returns no limit.
func (n *LogNotifier) Limit(Channel) Limit { return Limit{} }

// Send logs the page.
func (n *LogNotifier) Send(ctx context.Context, ch Channel, p Page) (Sent, error) {
	n.logger.InfoContext(ctx, "page (log only)",
		"page_id", p.ID, "ticket", p.TicketNumber, "channel", string(ch),
		"to", MaskNumber(p.Mobile), "params", len(p.Params), "text_len", len([]rune(p.Text)))
	return Sent{MessageID: "log-" + p.ID}, nil
}
