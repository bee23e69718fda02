package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"weibao/configs"
	"weibao/storage"
)

// doctor runs `weibao doctor`: the loaded configuration's paths, which of
// them need a public URL, and what it lacks. It connects to nothing.
func doctor(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	cfg, err := parseConfig(fs, args)
	if err != nil {
		return err
	}
	_, err = io.WriteString(out, cfg.Doctor().String())
	return err
}

// logDoctor logs the doctor's report once at start, a line each. The demo
// (no configuration file) lacks things on purpose: its warnings are INFO.
func logDoctor(cfg *configs.Config, log *slog.Logger) {
	d := cfg.Doctor()
	for _, c := range d.Checks {
		log.Info("path", "path", c.Path, "public_url_needed", c.Inbound, "how", c.How)
	}
	level := slog.LevelWarn
	if cfg.Embedded {
		level = slog.LevelInfo
	}
	for _, w := range d.Warnings {
		log.Log(context.Background(), level, w)
	}
}

// wecomCmd runs `weibao wecom chats`: the group chats the bot has heard
// from, with their ids and the ward each is configured for, so the
// operator can copy a group's id into wards[].chat_id.
func wecomCmd(ctx context.Context, args []string, out io.Writer) error {
	switch {
	case len(args) > 0 && args[0] == "chats":
		return wecomChats(ctx, args[1:], out)
	case len(args) > 0 && args[0] == "resume":
		return wecomResume(ctx, args[1:], out)
	}
	return fmt.Errorf("usage: weibao wecom chats|resume [--config FILE]")
}

// wecomChats is `weibao wecom chats`: the chats the bot has heard from.
func wecomChats(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("wecom chats", flag.ContinueOnError)
	cfg, err := parseConfig(fs, args)
	if err != nil {
		return err
	}
	db, err := storage.Open(ctx, cfg.Database.Driver, cfg.Database.DSN, storage.Options{Location: cfg.Location})
	if err != nil {
		return err
	}
	defer db.Close()
	chats, err := db.HeardChats(ctx)
	if err != nil {
		return err
	}
	return printChats(out, chats, cfg)
}

func printChats(out io.Writer, chats []storage.HeardChat, cfg *configs.Config) error {
	if len(chats) == 0 {
		_, err := fmt.Fprintln(out, "no group chat has messaged the bot yet: @-mention the bot once in the ward's group, then run this again")
		return err
	}
	ward := map[string]string{}
	for _, w := range cfg.Wards {
		if w.ChatID != "" {
			ward[w.ChatID] = w.Code + " " + w.Name
		}
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHAT ID\tWARD\tMESSAGES\tLAST HEARD\tLAST FROM")
	for _, c := range chats {
		w := ward[c.ChatID]
		if w == "" {
			w = "(no ward has this chat_id)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", c.ChatID, w, c.Messages, c.LastAt.In(cfg.Location).Format(time.DateTime), c.LastFrom)
	}
	return tw.Flush()
}
