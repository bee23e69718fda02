package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"text/tabwriter"
	"time"

	"weibao/bot/access"
	"weibao/storage"
)

// tokenCmd is `weibao token create|list|revoke`: per-person API tokens,
// made on the server (whoever runs this can read the configuration, so a
// lead's token may change the roster without a second factor).
func tokenCmd(ctx context.Context, args []string, out io.Writer) error {
	const use = "usage: weibao token create --person USERID [--role lead|engineer|viewer] [--label TEXT] [--ttl 720h] | list | revoke [--config FILE] ID"
	if len(args) == 0 {
		return fmt.Errorf("%s", use)
	}
	fs := flag.NewFlagSet("token "+args[0], flag.ContinueOnError)
	var person, role, label *string
	var ttl *time.Duration
	switch args[0] {
	case "create":
		person = fs.String("person", "", "the person's WeCom user id (in the directory)")
		role = fs.String("role", "", "lead, engineer or viewer (default: the most the person's role allows)")
		label = fs.String("label", "", "what the token is for, shown by list")
		ttl = fs.Duration("ttl", 0, "expire after this long (default: never)")
	case "list", "revoke":
	default:
		return fmt.Errorf("%s", use)
	}
	cfg, err := parseConfig(fs, args[1:])
	if err != nil {
		return err
	}
	db, err := storage.Open(ctx, cfg.Database.Driver, cfg.Database.DSN, storage.Options{Location: cfg.Location})
	if err != nil {
		return err
	}
	defer db.Close()
	// The people as serve would know them, so a token can be made before
	// the first start.
	if err := db.SyncDirectory(ctx, directory(cfg)); err != nil {
		return err
	}
	svc := access.New(db, db, nil, nil, nil, nil)
	who := access.Principal{UserID: "cli"}
	if u, err := user.Current(); err == nil {
		who.UserID = "cli:" + u.Username
	}
	from := access.From{IP: "local", UserAgent: "weibao token " + args[0]}
	switch args[0] {
	case "create":
		if *person == "" {
			return fmt.Errorf("token create: --person is required")
		}
		var r access.Role
		if *role != "" {
			if r, err = access.ParseRole(*role); err != nil {
				return fmt.Errorf("token create: --role: %w", err)
			}
		}
		raw, t, err := svc.CreateToken(ctx, *person, r, *label, *ttl)
		if err != nil {
			return fmt.Errorf("token create: %w", err)
		}
		if err := svc.Audit(ctx, who, from, "token.create", fmt.Sprintf("token:%d", t.ID), nil, tokenView(t)); err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "token %d for %s (%s); shown only now, keep it secret:\n%s\n", t.ID, t.UserID, t.Role, raw)
		return err
	case "revoke":
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: weibao token revoke ID")
		}
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if err != nil {
			return fmt.Errorf("token revoke: %q is not a token id (see weibao token list)", fs.Arg(0))
		}
		if err := svc.RevokeToken(ctx, id); err != nil {
			return fmt.Errorf("token revoke: %w", err)
		}
		if err := svc.Audit(ctx, who, from, "token.revoke", fmt.Sprintf("token:%d", id), nil, nil); err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "token %d revoked\n", id)
		return err
	}
	tokens, err := svc.Tokens(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPERSON\tROLE\tLABEL\tCREATED\tEXPIRES\tREVOKED")
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(cfg.Location).Format("2006-01-02 15:04")
	}
	for _, t := range tokens {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.UserID, t.Role, t.Label, at(t.Created), at(t.Expires), at(t.Revoked))
	}
	return tw.Flush()
}

// tokenView is a token as the audit log records it (never the token).
func tokenView(t access.Token) map[string]any {
	v := map[string]any{"person": t.UserID, "role": t.Role, "label": t.Label}
	if !t.Expires.IsZero() {
		v["expires"] = t.Expires
	}
	return v
}
