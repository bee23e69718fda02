package conversation

import (
	"context"
	"time"
)

// Run sweeps expired dialogues and starts queued surveys every SweepEvery,
// and auto-confirms
// resolutions nobody answered within ConfirmWindow, until ctx ends. Several
// replicas may run it: a dialogue is expired under its lock, and a
// confirmation goes through the ticket's state machine.
func (e *Engine) Run(ctx context.Context) error {
	tick := time.NewTicker(e.opt.SweepEvery)
	defer tick.Stop()
	lastConfirm := time.Time{}
	for {
		e.Tick(ctx, &lastConfirm)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Tick runs one round of Run's work; tests and `weibao chat` call it after
// moving the clock. last is when auto-confirmation last ran (updated).
func (e *Engine) Tick(ctx context.Context, last *time.Time) {
	defer func() {
		if p := recover(); p != nil {
			e.opt.Logger.Error("conversation sweep panicked", "panic", p)
		}
	}()
	// Errors after ctx ended are the shutdown interrupting the work, not faults.
	if n, err := e.Sweep(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		e.opt.Logger.Error("dialogue sweep", "err", err, "expired", n)
	} else if n > 0 {
		e.opt.Logger.Info("dialogues expired into tickets", "n", n)
	}
	if err := e.startRequested(ctx); err != nil {
		if ctx.Err() != nil {
			return
		}
		e.opt.Logger.Warn("queued surveys", "err", err)
	}
	if now := e.now(); last == nil || now.Sub(*last) >= time.Minute {
		if last != nil {
			*last = now
		}
		if n, err := e.opt.Tickets.AutoConfirm(ctx, e.opt.ConfirmWindow); err != nil && ctx.Err() == nil {
			e.opt.Logger.Error("auto-confirm", "err", err, "confirmed", n)
		} else if n > 0 {
			e.opt.Logger.Info("resolutions auto-confirmed", "n", n)
		}
	}
}
