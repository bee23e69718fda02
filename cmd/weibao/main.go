// Command weibao is the WeCom maintenance bot for the hospital's ICU clinical
// information system. `weibao` or `weibao serve` runs the service; see
// `weibao help` for the other commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	_ "time/tzdata" // a bare container still knows Asia/Shanghai

	"weibao/configs"
)

const usage = `weibao — WeCom maintenance bot for the ICU clinical information system

usage:
  weibao [serve] [--config FILE]   run the service (no config: embedded SQLite + in-process Redis, demo roster)
  weibao chat --as USERID [--in CHAT|WARD] [--config FILE]
                                   talk to the bot from a terminal as a roster person
  weibao doctor [--config FILE]    which paths of this configuration need a public URL, and its warnings
  weibao wecom chats [--config FILE]
                                   the chats the bot has heard from, with their ids (for wards[].chat_id)
  weibao wecom resume [--config FILE]
                                   reconnect the robot after another connection took it over
  weibao token create --person USERID [--role lead|engineer|viewer] [--label TEXT] [--ttl DURATION]
                                   make a person's admin API token (printed once, stored hashed)
  weibao token list | revoke ID    the tokens made; revoke one (flags before ID)
  weibao version                   the version of this binary
  weibao help                      this text (also -h, --help; COMMAND -h for a command's flags)
`

// version is set at build time: go build -ldflags "-X main.version=1.2.0".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A command's -h prints its flags and ends in flag.ErrHelp: asked for,
	// not a failure.
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "weibao:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		args = args[1:]
		cmd = "help"
	} else if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args)
	case "chat":
		return chat(ctx, args, os.Stdin, os.Stdout)
	case "doctor":
		return doctor(args, os.Stdout)
	case "wecom":
		return wecomCmd(ctx, args, os.Stdout)
	case "token":
		return tokenCmd(ctx, args, os.Stdout)
	case "version":
		fmt.Println("weibao", versionString())
		return nil
	case "help":
		fmt.Print(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
}

// versionString is version, with the VCS revision the Go toolchain stamped
// into the binary when it was built from a checkout.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev == "" {
		return version
	}
	return version + " (" + rev + dirty + ")"
}

// parseConfig parses a command's flags with --config among them, then loads
// the configuration that names.
func parseConfig(fs *flag.FlagSet, args []string) (*configs.Config, error) {
	path := fs.String("config", "", "configuration file (default "+configs.DefaultPath+" if it exists)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return loadConfig(*path)
}

// loadConfig reads the configuration as every command does: the file, then
// the environment, which must name only configuration keys.
func loadConfig(path string) (*configs.Config, error) {
	if err := configs.CheckEnv(os.Environ()); err != nil {
		return nil, err
	}
	return configs.Load(path, os.Getenv)
}
