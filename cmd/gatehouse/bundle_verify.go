package main

import (
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/evidence"
)

// verifyBundle is `gatehouse verify --bundle`: an evidence bundle
// checked against the recorder keys (--pubkey, or the recorder key of
// --config) and the console keys (--console-pubkey, or the console key in
// data_dir of --config: the console signs the bundles it makes), every
// difference named.
func verifyBundle(path string, audit *auditFlags, consolePubkeys []string, out io.Writer) error {
	var cfg *policy.Config
	if *audit.config != "" && (len(audit.pubkeys) == 0 || len(consolePubkeys) == 0) {
		var err error
		if cfg, err = policy.Load(*audit.config); err != nil {
			return err
		}
	}
	if cfg == nil && len(audit.pubkeys) == 0 && len(consolePubkeys) == 0 {
		return usageError("verify: --bundle needs --pubkey KEY (the recorder or console public key), --console-pubkey KEY or --config")
	}
	var keys []ed25519.PublicKey
	var ring *recorder.Keyring
	if cfg != nil || len(audit.pubkeys) > 0 {
		var err error
		if ring, err = audit.keys(cfg); err != nil {
			return err
		}
		keys = ring.Public()
	}
	console, err := consoleKeys(cfg, consolePubkeys)
	if err != nil {
		return err
	}
	keys = append(keys, console...)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	res, err := evidence.VerifyBundle(f, st.Size(), keys)
	if err != nil {
		return exitError{1, err}
	}
	res.Problems = append(res.Problems, signerMismatch(res, console)...)
	res.Problems = append(res.Problems, signedAfterRetirement(res, ring)...)
	for _, p := range res.Problems {
		fmt.Fprintf(out, "FAILED  %s\n", recorder.Printable(p.String()))
	}
	if len(res.Problems) > 0 {
		return exitError{1, fmt.Errorf("verify: %s: %d problems, the first: %s", path, len(res.Problems), recorder.Printable(res.Problems[0].String()))}
	}
	m := res.Manifest
	fmt.Fprintf(out, "OK  %s: manifest signed by %s (%s key); %d files match their SHA-256 and row counts; produced %s by %s, period %s to %s\n",
		recorder.Printable(path), res.SignedBy, signingKeyName(m), len(m.Files), recorder.Printable(m.ProducedAt), recorder.Printable(m.Producer),
		recorder.Printable(m.Parameters.From), recorder.Printable(m.Parameters.To))
	return nil
}

// signerMismatch is a problem when the manifest was signed by a console
// key but does not say so: a console key is trusted for the bundles the
// console made, never for one that claims the recorder key signed it.
func signerMismatch(res *evidence.Result, console []ed25519.PublicKey) []evidence.Problem {
	if res.Manifest == nil || res.Manifest.SigningKey == evidence.SigningKeyConsole {
		return nil
	}
	for _, k := range console {
		if recorder.Fingerprint(k) == res.SignedBy {
			return []evidence.Problem{{File: evidence.ManifestFile, Reason: "signed by the console key " + res.SignedBy + " but its signing_key is not \"console\""}}
		}
	}
	return nil
}

// signedAfterRetirement is a problem when the manifest was signed by a
// recorder key rotated out, after its not_after: a retired key signs
// nothing, and a bundle it signed after its rotation is not to be
// trusted, whatever its signature says.
func signedAfterRetirement(res *evidence.Result, ring *recorder.Keyring) []evidence.Problem {
	if res.Manifest == nil {
		return nil
	}
	for _, k := range ring.Keys() {
		if recorder.Fingerprint(k.Key) != res.SignedBy || k.NotAfter.IsZero() {
			continue
		}
		produced, err := time.Parse(time.RFC3339Nano, res.Manifest.ProducedAt)
		if err != nil || produced.After(k.NotAfter) {
			return []evidence.Problem{{File: evidence.ManifestFile, Reason: fmt.Sprintf("signed by retired key %s (%s), whose not_after is %s, but produced at %q: signed after the key was rotated out",
				res.SignedBy, k.Name, k.NotAfter.UTC().Format(time.RFC3339), res.Manifest.ProducedAt)}}
		}
	}
	return nil
}

// signingKeyName says which of gatehouse's keys the manifest says signed it.
func signingKeyName(m *evidence.Manifest) string {
	if m.SigningKey == "" {
		return "recorder"
	}
	return recorder.Printable(m.SigningKey)
}
