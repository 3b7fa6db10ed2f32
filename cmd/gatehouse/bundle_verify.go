package main

import (
	"fmt"
	"io"
	"os"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/evidence"
)

// verifyBundle is `gatehouse verify --bundle`: an evidence bundle
// checked against --pubkey (or the recorder key of --config), every
// difference named.
func verifyBundle(path string, audit *auditFlags, out io.Writer) error {
	var cfg *policy.Config
	if *audit.config != "" && len(audit.pubkeys) == 0 {
		var err error
		if cfg, err = policy.Load(*audit.config); err != nil {
			return err
		}
	}
	if cfg == nil && len(audit.pubkeys) == 0 {
		return usageError("verify: --bundle needs --pubkey KEY (the recorder public key) or --config")
	}
	keys, err := audit.keys(cfg)
	if err != nil {
		return err
	}
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
	for _, p := range res.Problems {
		fmt.Fprintf(out, "FAILED  %s\n", recorder.Printable(p.String()))
	}
	if len(res.Problems) > 0 {
		return exitError{1, fmt.Errorf("verify: %s: %d problems, the first: %s", path, len(res.Problems), recorder.Printable(res.Problems[0].String()))}
	}
	m := res.Manifest
	fmt.Fprintf(out, "OK  %s: manifest signed by %s; %d files match their SHA-256 and row counts; produced %s by %s, period %s to %s\n",
		recorder.Printable(path), res.SignedBy, len(m.Files), recorder.Printable(m.ProducedAt), recorder.Printable(m.Producer),
		recorder.Printable(m.Parameters.From), recorder.Printable(m.Parameters.To))
	return nil
}
