package escalation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"weibao/bot"
	"weibao/sla/pager"
)

// Receipts stores pushed call reports and key presses for the receipt loop
// and returns at once: Alibaba retries a push it has not seen answered in
// 700 ms. It is the sla/pager push handlers' sink.
func (e *Engine) Receipts(ctx context.Context, rs []pager.Receipt) error {
	now := e.opt.Clock.Now()
	recs := make([]bot.PageReceipt, len(rs))
	for i, r := range rs {
		recs[i] = bot.PageReceipt{Provider: r.Provider, CallID: r.CallID, PageRef: r.PageID, Status: string(r.Status),
			Code: r.Code, Digits: r.Digits, At: r.At, ReceivedAt: now}
	}
	if err := e.opt.Pages.AddReceipts(ctx, recs...); err != nil {
		return err
	}
	select {
	case e.kick <- struct{}{}:
	default:
	}
	return nil
}

// receiptLoop handles stored receipts when kicked and every 30 s (those a
// crash or a failed acknowledgement left behind).
func (e *Engine) receiptLoop(ctx context.Context) error {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		if err := e.HandleReceipts(ctx); err != nil && ctx.Err() == nil {
			e.opt.Logger.Warn("handle receipts", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-e.kick:
		case <-t.C:
		}
	}
}

// HandleReceipts works through the stored receipts: a "1" pressed
// acknowledges the ticket as the person paged, and every final call result
// goes on the ticket's timeline. A receipt whose acknowledgement failed for
// a reason other than the ticket's state stays for the next round.
func (e *Engine) HandleReceipts(ctx context.Context) error {
	for {
		rs, err := e.opt.Pages.PendingReceipts(ctx, 100)
		if err != nil || len(rs) == 0 {
			return err
		}
		for _, r := range rs {
			if err := e.receipt(ctx, r); err != nil {
				return fmt.Errorf("receipt %d: %w", r.ID, err)
			}
			if err := e.opt.Pages.ReceiptHandled(ctx, r.ID, e.opt.Clock.Now()); err != nil {
				return err
			}
		}
	}
}

func (e *Engine) receipt(ctx context.Context, r bot.PageReceipt) error {
	if pager.Status(r.Status) == pager.StatusProgress {
		return nil
	}
	// The provider's call id, not the echoed page id, finds the page: page
	// ids are guessable and pushes are unsigned, call ids are neither.
	page, err := e.opt.Pages.PageByMessage(ctx, r.Provider, r.CallID)
	if err == nil && r.PageRef != "" && r.PageRef != PageID(page.ID) {
		err = fmt.Errorf("receipt echoes page %s for call of page %d: %w", r.PageRef, page.ID, bot.ErrNotFound)
	}
	if errors.Is(err, bot.ErrNotFound) {
		e.opt.Logger.Warn("receipt for an unknown page", "provider", r.Provider, "call_id", r.CallID, "page_ref", r.PageRef)
		return nil
	}
	if err != nil {
		return err
	}
	rc := pager.Receipt{Status: pager.Status(r.Status), Digits: r.Digits}
	who := page.UserID
	if p, err := e.opt.Directory.Person(ctx, page.UserID); err == nil {
		who = displayName(p)
	}
	f := map[string]any{"name": who, "status": r.Status, "provider": r.Provider}
	detail := e.opt.Texts.Text("sla.detail.receipt", f)
	if rc.Acknowledged() {
		detail = e.opt.Texts.Text("sla.detail.receipt_ack", f)
	}
	if err := e.note(ctx, page.TicketNo, bot.EventPaged, []string{detail}); err != nil {
		return err
	}
	if !rc.Acknowledged() {
		return nil
	}
	t, err := e.opt.Acknowledger.Acknowledge(ctx, page.UserID, page.TicketNo)
	switch {
	case errors.Is(err, bot.ErrInvalid), errors.Is(err, bot.ErrForbidden):
		// Already acknowledged, resolved, or the person may not: nothing to do.
		e.opt.Logger.Info("key press did not acknowledge", "ticket", page.TicketNo, "user", page.UserID, "err", err)
		return nil
	case err != nil:
		return err
	}
	e.opt.Logger.Info("acknowledged by phone", "ticket", t.No, "user", page.UserID)
	return nil
}
