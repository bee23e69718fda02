// Command weibao is the WeCom maintenance bot for the hospital's ICU clinical
// information system. `weibao` or `weibao serve` runs the service; see
// `weibao help` for the other commands.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	_ "time/tzdata" // a bare container still knows Asia/Shanghai
)

const usage = `weibao — WeCom maintenance bot for the ICU clinical information system

usage:
  weibao [serve] [--config FILE]   run the service (no config: embedded SQLite + in-process Redis, demo roster)
  weibao chat --as USERID [--in CHAT|WARD] [--config FILE]
                                   talk to the bot from a terminal as a roster person
  weibao wecom resume [--config FILE]
                                   reconnect the robot after another connection took it over
  weibao help                      this text
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "weibao:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args)
	case "chat":
		return chat(ctx, args, os.Stdin, os.Stdout)
	case "wecom":
		return wecomCommand(ctx, args, os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}
