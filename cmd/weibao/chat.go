package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"weibao/bot/outbox"
	"weibao/configs"
	"weibao/terminal"
)

// chatDSN is the SQLite file `weibao chat` uses unless a database is named:
// its clock jumps (/later) must never touch a running server's data, which
// by default is serverDSN (configs/defaults.yaml).
const (
	chatDSN   = "data/chat.db"
	serverDSN = "data/weibao.db"
)

// chat runs `weibao chat --as <userid> [--in <chat>]`: the bot engine with the
// terminal as the only channel.
func chat(ctx context.Context, args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	as := fs.String("as", "", "roster user id to speak as (e.g. nurse1, eng1)")
	where := fs.String("in", "", "group chat id or ward code; empty for a 1:1 chat with the bot")
	cfg, err := parseConfig(fs, args)
	if err != nil {
		return err
	}
	if *as == "" {
		return errors.New("chat: --as <userid> is required (see configs/demo.yaml for the demo roster)")
	}
	ownStores(cfg)
	// The chat never serves HTTP; it must not take a running server's port.
	// The terminal is its channel, not the /try page.
	cfg.Server.Addr = "127.0.0.1:0"
	cfg.Try.Enabled = false
	clock := &terminal.Clock{}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError, ReplaceAttr: maskAttr}))
	m, err := openWith(ctx, cfg, logger, clock)
	if err != nil {
		return err
	}
	defer m.Close()
	t, err := connectTerminal(m, clock, out, nil)
	if err != nil {
		return err
	}
	if err := t.As(ctx, *as); err != nil {
		return err
	}
	t.In(ctx, *where)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range m.workers {
		wg.Go(func() { w(ctx) })
	}
	err = t.Run(ctx, in)
	cancel()
	wg.Wait()
	return err
}

// ownStores gives the chat its own SQLite file next to the server's and an
// in-process Redis (a shared one would let its clock jumps fire a real
// server's timers), unless the configuration names a database other than
// the built-in default.
func ownStores(cfg *configs.Config) {
	if cfg.Database.Driver != "sqlite" || filepath.Clean(cfg.Database.DSN) != filepath.Clean(serverDSN) {
		return
	}
	cfg.Database.DSN = chatDSN
	cfg.Redis.URL = ""
}

// connectTerminal makes the terminal the bot's channel: it hands the typed
// lines to the conversation engine and is the Deliverer of an outbox worker,
// woken whenever messages are queued. What it delivers is printed to out,
// or handed to show when set (the /try page).
func connectTerminal(m *Main, clock *terminal.Clock, out io.Writer, show func(terminal.Shown)) (*terminal.Terminal, error) {
	t, err := terminal.New(terminal.Options{Out: out, Bot: m.Bot.Engine, Directory: m.DB, Outbox: m.DB,
		Texts: m.Catalog, Clock: clock, Location: m.Config.Location, Show: show})
	if err != nil {
		return nil, err
	}
	// One destination after another (in the order of their first message), so
	// the transcript reads the same on every run.
	w, err := outbox.New(outbox.Options{Store: m.DB, Deliverer: t, Clock: clock, Parallel: 1,
		Logger: m.Logger.With("component", "outbox"), Registerer: m.Registry})
	if err != nil {
		return nil, err
	}
	m.DB.Subscribe(w.Committed)
	m.workers = append(m.workers, w.Run)
	return t, nil
}
