package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/console"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// maxLinkTTL bounds how long a link may wait to be used.
const maxLinkTTL = 7 * 24 * time.Hour

// runConsoleLink mints a single-use console link for an external auditor
// and prints its URL; the minting is recorded first.
func runConsoleLink(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("console link", out)
	path := configFlag(fs)
	identity := fs.String("identity", "", "who the link is for (a name the records will show)")
	ttl := fs.Duration("ttl", 8*time.Hour, "how long the link stays usable, at most 168h; the console session it opens ends then too")
	from := fs.String("from", "", "show only sessions that started at or after this time (RFC 3339, or a duration before now: 24h, 7d)")
	to := fs.String("to", "", "show only sessions that started before this time (same forms as --from)")
	var targets stringList
	fs.Var(&targets, "target", "show only sessions on this target (repeatable; default: every target)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfigFlag(*path, "console link")
	if err != nil {
		return err
	}
	l, err := linkFromFlags(cfg, *identity, *ttl, *from, *to, targets, time.Now().UTC())
	if err != nil {
		return err
	}
	url, err := mintLink(cfg, l)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s\n(single use, for %s, until %s; sessions %s)\n", url, l.Identity, l.Expires.Format(time.RFC3339), l.ScopeText())
	return nil
}

// linkFromFlags checks the flags and makes the link they describe.
func linkFromFlags(cfg *policy.Config, identity string, ttl time.Duration, from, to string, targets []string, now time.Time) (console.Link, error) {
	l := console.Link{Identity: strings.TrimSpace(identity), Targets: targets, Expires: now.Add(ttl), MintedBy: localUser(), Minted: now}
	var err error
	switch {
	case l.Identity == "":
		return l, usageError("console link: --identity is required: the name the records will show for this auditor")
	case ttl <= 0 || ttl > maxLinkTTL:
		return l, usageError("console link: --ttl %s is outside (0, %s]", ttl, maxLinkTTL)
	}
	if l.From, err = parseTime(from, now); err != nil {
		return l, usageError("console link: --from: %v", err)
	}
	if l.To, err = parseTime(to, now); err != nil {
		return l, usageError("console link: --to: %v", err)
	}
	if !l.From.IsZero() && !l.To.IsZero() && !l.From.Before(l.To) {
		return l, usageError("console link: --from must be before --to")
	}
	for _, t := range targets {
		if _, ok := cfg.Targets[t]; !ok {
			return l, usageError("console link: --target %q is not a target of the configuration", t)
		}
	}
	return l, nil
}

// mintLink records console.link_minted in a console stream of its own,
// then stores the link in data_dir, and returns its URL.
func mintLink(cfg *policy.Config, l console.Link) (string, error) {
	if cfg.Recording.Store == "discard" {
		return "", errors.New("console link: recording.store is discard: the link's minting could not be recorded, so none is made")
	}
	rec, err := openConsoleRecorder(cfg)
	if err != nil {
		return "", err
	}
	stream, err := rec.Open(recorder.KindConsole)
	if err != nil {
		return "", fmt.Errorf("console link: open a console stream: %w", err)
	}
	record := func(ref string) error {
		return stream.Emit(event.TypeConsoleLinkMinted, event.ConsoleLinkMinted{By: l.MintedBy, For: l.Identity, Link: ref,
			From: l.From, To: l.To, Targets: l.Targets, Expires: l.Expires})
	}
	token, err := linkStore(cfg).Mint(l, record)
	if err = errors.Join(err, stream.Close()); err != nil {
		return "", fmt.Errorf("console link: %w", err)
	}
	return consoleBase(cfg) + "/link/" + token, nil
}

// linkStore is where links are kept: data_dir/console-links.
func linkStore(cfg *policy.Config) *console.LinkStore {
	return &console.LinkStore{Dir: cfg.Path("console-links")}
}

// consoleBase is the console's URL as browsers reach it:
// console.public_url, else its listen address.
func consoleBase(cfg *policy.Config) string {
	if u := strings.TrimSuffix(cfg.Console.PublicURL, "/"); u != "" {
		return u
	}
	if cfg.Console.TLS() {
		return "https://" + cfg.Console.Listen
	}
	return "http://" + cfg.Console.Listen
}
