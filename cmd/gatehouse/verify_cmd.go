package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

const verifyUsage = `Usage: gatehouse verify [--config F | --dir DIR --pubkey KEY] (SESSION... | --since T)
       gatehouse verify --bundle FILE.zip (--pubkey KEY | --console-pubkey KEY | --config F)

Checks each recording's hash chain and sequence, the signature of every checkpoint, its
signed manifest, and that it reached as far as the ledgers saw it (a closed session cut and
its manifest deleted fails) (docs/recording-format.md). With --config naming recording.store s3, the
recordings are read from the bucket, and every object must also have an Object Lock retention
mode and a retain-until date in the future. Exit status: 0 when every recording verified;
1 when one failed (altered, or unreadable), naming the first problem; 2 for a usage error;
3 when none failed but some have no manifest (still open, or the recorder crashed).

Recorder keys rotated out are trusted from recording.trusted_keys of --config (each held to its
not_after), or from --pubkey given the JSON of GET /v1/recorder-keys, which lists them retired.

Console streams are also trusted from the console's own key (console.signing_key in data_dir
of --config, or --console-pubkey); that key verifies nothing else.

With --bundle, checks an evidence bundle (gatehouse evidence, or the console's /evidence) offline
instead: manifest.sig against the recorder key, or the console key for a bundle the console made
(--pubkey takes either; --console-pubkey and --config's console key are trusted for bundles whose
manifest says signing_key "console"), then every file's SHA-256 and row count; it names each file
that differs, is missing or was added, and exits 1 on any (docs/evidence.md).

`

// exitIncomplete is verify's exit status when nothing was found altered
// but a recording has no manifest (still open, or cut short by a crash).
const exitIncomplete = 3

func runVerify(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("verify", out)
	audit := addAuditFlags(fs)
	since := fs.String("since", "", "verify every recording begun since T: an RFC 3339 time, or a duration before now such as 24h or 7d")
	kind := fs.String("kind", recorder.KindSession, "which recordings --since verifies: sessions, ca or console")
	bundle := fs.String("bundle", "", "check this evidence bundle (a zip from gatehouse evidence) instead of recordings")
	var consolePubkeys stringList
	fs.Var(&consolePubkeys, "console-pubkey", "a trusted console public key, for console streams only: as --pubkey takes keys, or the JSON of GET /v1/recorder-keys (its console_keys) (repeatable; default: console.signing_key in data_dir of --config)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), verifyUsage)
		fs.PrintDefaults()
	}
	ids, err := parseWithArgs(fs, args)
	if err != nil {
		return err
	}
	if *bundle != "" {
		if len(ids) > 0 || *since != "" {
			return usageError("verify: --bundle takes no SESSION and no --since")
		}
		return verifyBundle(*bundle, audit, consolePubkeys, out)
	}
	if !slices.Contains(verifiedKinds, *kind) {
		return usageError("verify: --kind is %s, %s or %s", recorder.KindSession, recorder.KindCA, recorder.KindConsole)
	}
	if (len(ids) == 0) == (*since == "") {
		return usageError("usage: gatehouse verify [--config F | --dir DIR --pubkey KEY] (SESSION... | --since T); see --help")
	}
	store, keys, err := audit.openSource("verify", false)
	if err != nil {
		return err
	}
	ledgers, err := keys.ReadLedgers(store)
	if err != nil {
		return err
	}
	console, err := consoleKeys(audit.cfg, consolePubkeys)
	if err != nil {
		return err
	}
	v := &verifyRun{store: store, ledgers: ledgers, keys: keys, consoleKeys: console, out: out}
	if *since != "" {
		if ids, err = v.since(*kind, *since); err != nil {
			return err
		}
	}
	for _, id := range ids {
		v.one(*kind, id)
	}
	return v.result(*since)
}

// verifyRun verifies recordings one after the other and remembers the
// first problem of each class.
type verifyRun struct {
	store                     auditSource
	ledgers                   *recorder.Ledgers // how far each stream reached, to tell a cut from a crash
	keys                      *recorder.Keyring
	consoleKeys               []ed25519.PublicKey // trusted for console streams only, besides keys
	out                       io.Writer
	ok, incomplete, failed    int
	firstFailed, firstOpenErr error
}

func (v *verifyRun) since(kind, value string) ([]string, error) {
	from, err := parseTime(value, time.Now())
	if err != nil {
		return nil, usageError("verify: --since: %v", err)
	}
	all, err := v.store.List(kind)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, id := range all {
		if t, ok := recorder.IDTime(id); !ok || !t.Before(from) {
			ids = append(ids, id)
		}
	}
	fmt.Fprintf(v.out, "%d recordings of kind %s begun since %s\n", len(ids), kind, from.UTC().Format(time.RFC3339))
	return ids, nil
}

// verifiedKinds are the kinds of stream verify checks.
var verifiedKinds = []string{recorder.KindSession, recorder.KindCA, recorder.KindConsole}

// one verifies a recording of kind (or, when there is none, of another
// kind: a SESSION argument may name a CA or console stream too).
func (v *verifyRun) one(kind, id string) {
	rep, err := verifyRecording(v.store, v.ledgers, kind, id, v.keysFor(kind))
	for _, other := range verifiedKinds {
		if other == kind || !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if r, e := verifyRecording(v.store, v.ledgers, other, id, v.keysFor(other)); !errors.Is(e, fs.ErrNotExist) {
			rep, err = r, e
		}
	}
	switch {
	case err == nil:
		v.ok++
		fmt.Fprintf(v.out, "OK          %s  %s\n", recorder.Printable(id), recorder.Printable(verifiedText(rep)))
	case errors.Is(err, recorder.ErrIncomplete):
		v.incomplete++
		v.firstOpenErr = firstOf(v.firstOpenErr, err)
		fmt.Fprintf(v.out, "INCOMPLETE  %s  %s\n", recorder.Printable(id), recorder.Printable(err.Error()))
	default:
		v.failed++
		v.firstFailed = firstOf(v.firstFailed, err)
		fmt.Fprintf(v.out, "FAILED      %s  %s\n", recorder.Printable(id), recorder.Printable(err.Error()))
	}
}

// keysFor are the keys a stream of kind is trusted from: the console's
// sign console streams and nothing else.
func (v *verifyRun) keysFor(kind string) *recorder.Keyring {
	if kind != recorder.KindConsole || len(v.consoleKeys) == 0 {
		return v.keys
	}
	keys := v.keys.Keys()
	for _, k := range v.consoleKeys {
		keys = append(keys, recorder.TrustedKey{Key: k, Name: "console key " + recorder.Fingerprint(k)})
	}
	ring, err := recorder.NewKeyring(keys...)
	if err != nil { // the console key is also a recorder key: trust it as that
		return v.keys
	}
	return ring
}

// verifyRecording verifies a stored recording, against the ledgers, and,
// on S3, that every object of it is under retention.
func verifyRecording(src auditSource, ledgers *recorder.Ledgers, kind, id string, keys *recorder.Keyring) (*recorder.Report, error) {
	rep, err := keys.VerifyStoredWith(src, ledgers, kind, id)
	if rc, ok := src.(retentionChecker); ok && (err == nil || errors.Is(err, recorder.ErrIncomplete)) {
		if e := rc.CheckRetention(kind, id); e != nil {
			err = e
		}
	}
	return rep, err
}

func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// verifiedText says what a successful verification established.
func verifiedText(rep *recorder.Report) string {
	m := rep.Manifest
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d events", m.Kind, m.Events)
	if m.Events > 0 {
		fmt.Fprintf(&b, " (seq %d–%d)", m.FirstSeq, m.LastSeq)
	}
	fmt.Fprintf(&b, " chained, %d checkpoints and the manifest signed by %s", rep.Checkpoints, strings.Join(rep.Keys, ", "))
	if id := m.Identity; id != nil && id.Name != "" {
		fmt.Fprintf(&b, "; %s, certificate serial %d", id.Name, id.Serial)
	}
	fmt.Fprintf(&b, "; %s to %s, ended: %s", m.Start.Format(time.RFC3339), m.End.Format(time.RFC3339), m.EndReason)
	if m.Error != "" {
		fmt.Fprintf(&b, " (recording error: %s)", m.Error)
	}
	if r := m.Recovered; r != nil {
		b.WriteString("; " + recoveredText(m))
	}
	return b.String()
}

// recoveredText says how a recording cut short by a crash ends: the
// events after the last checkpoint were signed only when it was closed
// at the next start, and a torn last line was dropped.
func recoveredText(m *recorder.Manifest) string {
	r := m.Recovered
	s := fmt.Sprintf("ABNORMAL END: gatehouse stopped (crash or kill) before closing it; closed at the next start, %s, "+
		"with the %d events it had (last seq %d), %d of them signed by a checkpoint before the crash",
		r.At.Format(time.RFC3339), m.Events, m.LastSeq, r.Checkpointed)
	if r.SessionEnd != "" {
		s += fmt.Sprintf("; the session had ended (%s)", r.SessionEnd)
	}
	if r.TornTailBytes > 0 {
		s += fmt.Sprintf("; a torn last line of %d bytes (sha256 %s) was dropped", r.TornTailBytes, r.TornTailSHA256)
	}
	return s
}

func (v *verifyRun) result(since string) error {
	if since != "" {
		fmt.Fprintf(v.out, "%d verified, %d incomplete, %d failed\n", v.ok, v.incomplete, v.failed)
	}
	switch {
	case v.firstFailed != nil:
		return exitError{1, printableError{v.firstFailed}}
	case v.firstOpenErr != nil:
		return exitError{exitIncomplete, printableError{v.firstOpenErr}}
	}
	return nil
}

// printableError is an error about a recording, whose message quotes
// what the recording holds, made Printable for the terminal it is
// printed on.
type printableError struct{ error }

func (e printableError) Error() string { return recorder.Printable(e.error.Error()) }
func (e printableError) Unwrap() error { return e.error }
