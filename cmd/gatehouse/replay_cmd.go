package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

func runReplay(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("replay", out)
	audit := addAuditFlags(fs)
	speed := fs.Float64("speed", 1, "play N times faster than it happened")
	noWait := fs.Bool("no-wait", false, "print the whole timeline at once")
	ids, err := parseWithArgs(fs, args)
	if err != nil {
		return err
	}
	if len(ids) != 1 || *speed <= 0 {
		return usageError("usage: gatehouse replay [--config F | --dir DIR [--pubkey KEY]] [--speed N] [--no-wait] SESSION")
	}
	store, keys, err := audit.openSource("replay", true)
	if err != nil {
		return err
	}
	kind, lines, err := findStream(store, ids[0])
	if err != nil {
		return err
	}
	verifyErr := replayHeader(out, store, kind, ids[0], lines, keys)
	events, chainErr := recorder.VerifyChain(lines)
	rp := recorder.Replay{Speed: *speed}
	if *noWait {
		rp.Wait = func(context.Context, time.Duration) error { return nil }
	}
	if err := rp.Run(ctx, out, events); err != nil {
		return err
	}
	if verifyErr != nil && !errors.Is(verifyErr, recorder.ErrIncomplete) {
		return exitError{1, printableError{verifyErr}}
	}
	if chainErr != nil {
		return exitError{1, printableError{chainErr}}
	}
	return nil
}

// findStream reads a session's lines, or a CA stream's if there is no
// session by that id.
func findStream(store recorder.VerifySource, id string) (string, [][]byte, error) {
	lines, err := store.Lines(recorder.KindSession, id)
	if !errors.Is(err, fs.ErrNotExist) {
		return recorder.KindSession, lines, err
	}
	if caLines, caErr := store.Lines(recorder.KindCA, id); caErr == nil {
		return recorder.KindCA, caLines, nil
	}
	return "", nil, err
}

// replayHeader prints who the session was and whether its recording
// verified, and returns the verification's error.
func replayHeader(out io.Writer, store auditSource, kind, id string, lines [][]byte, keys *recorder.Keyring) error {
	s := recorder.Summarize(id, lines)
	p := recorder.Printable // the identity, address and reasons are the client's choosing
	fmt.Fprintf(out, "%s %s\n", kind, p(id))
	if kind == recorder.KindSession {
		who := "not authenticated"
		if s.Identity != "" {
			who = fmt.Sprintf("%s (certificate serial %d, key %s)", s.Identity, s.Serial, orDash(s.KeyFingerprint))
		}
		fmt.Fprintf(out, "who:       %s\nfrom:      %s\n", p(who), p(orDash(s.ClientAddr)))
		end := "still open, or cut short (no session.end)"
		if !s.Open() {
			end = fmt.Sprintf("%s after %s: %s", s.End.Format(time.RFC3339), duration(s), s.EndReason)
		}
		fmt.Fprintf(out, "start:     %s\nend:       %s\n", s.Start.Format(time.RFC3339), p(end))
	}
	status, err := verifyStatus(store, kind, id, keys)
	fmt.Fprintf(out, "recording: %s\n\n", p(status))
	return err
}

// verifyStatus verifies a recording for replay's header.
func verifyStatus(store auditSource, kind, id string, keys *recorder.Keyring) (string, error) {
	if keys.Len() == 0 {
		return "NOT VERIFIED: no recorder public key (pass --pubkey, or --config)", nil
	}
	ledgers, err := keys.ReadLedgers(store)
	if err != nil {
		return "NOT VERIFIED: " + err.Error(), err
	}
	rep, err := verifyRecording(store, ledgers, kind, id, keys)
	switch {
	case err == nil:
		return "verified: " + verifiedText(rep), nil
	case errors.Is(err, recorder.ErrIncomplete):
		return "INCOMPLETE: " + err.Error(), err
	}
	return "FAILED VERIFICATION: " + err.Error(), err
}
