package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

func runSessions(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("sessions", out)
	path := configFlag(fs)
	dir := fs.String("dir", "", "read this recordings directory instead of the store of --config (for example the spool of an s3 server)")
	var filter recorder.Filter
	fs.StringVar(&filter.Identity, "identity", "", "only sessions whose identity contains this text")
	fs.StringVar(&filter.Agent, "agent", "", "only sessions of this agent")
	fs.StringVar(&filter.Target, "target", "", "only sessions that opened a channel to this target")
	fs.StringVar(&filter.Outcome, "outcome", "", "only sessions that were refused (any refusal or denied statement), clean, or open")
	since := fs.String("since", "", "only sessions begun since T: an RFC 3339 time, or a duration before now such as 24h")
	until := fs.String("until", "", "only sessions begun before T (same forms as --since)")
	refused := fs.Bool("refused", false, "only sessions with refusals (same as --outcome refused)")
	fs.StringVar(&filter.Human, "human", "", "only sessions vouched for by this human (exactly): their own and their agents'")
	fs.StringVar(&filter.Role, "role", "", "only sessions that used this database role, on any target")
	fs.StringVar(&filter.Decision, "decision", "", "only sessions with a statement allowed (allow) or denied (deny)")
	fs.StringVar(&filter.Denials, "denials", "", "only sessions with (yes) or without (no) any refusal or denied statement")
	fs.StringVar(&filter.Masked, "masked", "", "only sessions with (yes) or without (no) a statement with masked columns")
	fs.StringVar(&filter.Verification, "verification", "", "only sessions whose recording is verified, failed or incomplete, checked with the recorder's keys (those of --config, or --pubkey)")
	var pubkeys stringList
	fs.Var(&pubkeys, "pubkey", "for --verification: a trusted recorder public key, as verify takes it (repeatable; default: the key in data_dir of --config and recording.trusted_keys)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := completeFilter(&filter, *since, *until, *refused); err != nil {
		return err
	}
	store, lag, cfg, err := sessionsSource(*path, *dir)
	if err != nil {
		return err
	}
	keys := recorder.Trust()
	if filter.Verification != "" {
		// Verified only when asked: it reads every manifest and checks
		// every signature.
		if keys, err = (&auditFlags{config: path, pubkeys: pubkeys}).keys(cfg); err != nil {
			return err
		}
		if keys.Len() == 0 {
			return usageError("sessions: --verification needs the recorder's keys: --config or --pubkey")
		}
	}
	return listSessions(out, store, filter, lag, keys)
}

// listSessions prints the sessions of store that filter selects. A
// session that cannot be read (a chunk missing from the bucket, a file
// that cannot be read) is listed as UNREADABLE, with why, and the listing
// goes on: one damaged recording must not hide all the others.
// With keys, each session is verified (for filter's Verification).
func listSessions(out io.Writer, store auditSource, filter recorder.Filter, lag time.Duration, keys *recorder.Keyring) error {
	sessions, err := keys.Summaries(store, filter, lag)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSION\tSTART\tDURATION\tIDENTITY\tTARGETS\tCHANNELS\tREFUSALS\tEND\tCHAIN")
	// Every text column is the client's choosing: Printable, so that
	// none can forge or hide a row (and tabs cannot shift columns).
	p := recorder.Printable
	for _, s := range sessions {
		if s.Unreadable != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", p(s.ID), p("UNREADABLE: "+s.Unreadable.Error()))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", p(s.ID), s.Start.Local().Format(time.DateTime),
			duration(s.Summary), p(orDash(s.Identity)), p(orDash(strings.Join(s.Targets, ","))), s.Channels, s.Refusals,
			p(orDash(s.EndReason)), p(chainState(s.ChainError)))
	}
	return tw.Flush()
}

// sessionsSource is --dir, else the store of the configuration (with
// store s3, the bucket); how long after the time in its id a session
// may have started (Filter.MayMatch): the configured handshake timeout,
// or, for a directory without a configuration, a day; and the
// configuration (nil without one).
func sessionsSource(configPath, dir string) (auditSource, time.Duration, *policy.Config, error) {
	if dir != "" && configPath == "" {
		return recorder.FileStore{Dir: dir}, 24 * time.Hour, nil, nil
	}
	cfg, err := loadConfigFlag(configPath, "sessions")
	if err != nil {
		return nil, 0, nil, err
	}
	lag := cfg.SSH.HandshakeTimeout.D()
	if dir != "" {
		return recorder.FileStore{Dir: dir}, lag, cfg, nil
	}
	src, err := recordingSource(cfg)
	return src, lag, cfg, err
}

// completeFilter adds the flags that need parsing to a sessions filter.
func completeFilter(f *recorder.Filter, since, until string, refused bool) error {
	if refused {
		f.Outcome = recorder.OutcomeRefused
	}
	if name, allowed := f.BadChoice(); name != "" {
		return usageError("sessions: --%s is %s", name, strings.Join(allowed, ", "))
	}
	var err error
	now := time.Now()
	if f.Since, err = parseTime(since, now); err != nil {
		return usageError("sessions: --since: %v", err)
	}
	if f.Until, err = parseTime(until, now); err != nil {
		return usageError("sessions: --until: %v", err)
	}
	return nil
}

func duration(s recorder.Summary) string {
	if s.End.IsZero() {
		return "open"
	}
	return s.End.Sub(s.Start).Round(time.Millisecond).String()
}

func chainState(err error) string {
	if err != nil {
		return "BROKEN: " + err.Error()
	}
	return "intact"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
