package main

import (
	"context"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// runRevoke is `gatehouse revoke`: it appends an entry to the revocation
// list in data_dir, which a running gatehouse reads within a second, and
// records cert.revoked in the CA's record.
func runRevoke(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("revoke", out)
	path := configFlag(fs)
	serial := fs.String("serial", "", "revoke the certificate with this serial, and the agent certificates it authorised; for an agent certificate, its key too")
	identity := fs.String("identity", "", "revoke every certificate issued so far whose KeyId is NAME or \"NAME via agent:…\"")
	key := fs.String("key", "", "revoke every certificate, past or future, of the key with this SHA256:… fingerprint")
	reason := fs.String("reason", "", "why, for the record")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	r, err := revocationFromFlags(*serial, *identity, *key, *reason)
	if err != nil {
		return err
	}
	cfg, err := loadConfigFlag(*path, "revoke")
	if err != nil {
		return err
	}
	state, err := openState(ctx, cfg)
	if err != nil {
		return err
	}
	defer state.close()
	issued, err := state.issued.All()
	if err != nil {
		return err
	}
	listPath := state.writer.Where()
	entries := append([]ca.Revocation{r}, ca.AgentKeyRevocations(r, issued)...)
	if err := state.writer.Append(entries...); err != nil {
		return err
	}
	var events []event.CertRevoked
	for _, r := range entries {
		events = append(events, r.Recorded(ca.MatchIssued(r, issued, r.RevokedAt)))
	}
	if err := recordRevocation(cfg, events); err != nil {
		return fmt.Errorf("revoke: the revocation is in effect (%s) but could not be recorded: %w", listPath, err)
	}
	for _, ev := range events {
		reportRevocation(out, ca.Revocation(ev.Revocation), ev.Matched, listPath)
	}
	return nil
}

func revocationFromFlags(serial, identity, key, reason string) (ca.Revocation, error) {
	r := ca.Revocation{Identity: identity, Key: key, Reason: reason, RevokedAt: time.Now().UTC(), By: localUser()}
	if serial != "" {
		n, err := strconv.ParseUint(serial, 10, 64)
		if err != nil || n == 0 {
			return r, usageError("revoke: --serial %q: want a certificate serial (a positive integer, as `gatehouse status` or ssh-keygen -L prints it)", serial)
		}
		r.Serial = n
	}
	if err := r.Validate(); err != nil {
		return r, usageError("revoke: %v (one of --serial N, --identity NAME, --key SHA256:…)", err)
	}
	return r, nil
}

func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// recordRevocation records cert.revoked, one per entry, in a CA stream
// of its own, as `gatehouse ca sign` records its issuances.
func recordRevocation(cfg *policy.Config, events []event.CertRevoked) error {
	rec, err := openRecorder(cfg)
	if err != nil {
		return err
	}
	stream, err := rec.Open(recorder.KindCA)
	if err != nil {
		return err
	}
	for _, ev := range events {
		if err := stream.Emit(event.TypeCertRevoked, ev); err != nil {
			stream.Close()
			return err
		}
	}
	return stream.Close()
}

func reportRevocation(out io.Writer, r ca.Revocation, matched []ca.RevokedCertificate, listPath string) {
	fmt.Fprintf(out, "revoked %s", r)
	if r.Reason != "" {
		fmt.Fprintf(out, " (%s)", r.Reason)
	}
	fmt.Fprintf(out, "\nlist: %s\n", listPath)
	if len(matched) == 0 {
		fmt.Fprintln(out, "no certificate in the CA's record that is still valid matches it yet")
	}
	for _, c := range matched {
		fmt.Fprintf(out, "  serial %d  %q  valid until %s\n", c.Serial, c.KeyID, c.ValidBefore.Format(time.RFC3339))
	}
	fmt.Fprintln(out, "A running gatehouse refuses these certificates and ends their sessions within 5 seconds.")
}
