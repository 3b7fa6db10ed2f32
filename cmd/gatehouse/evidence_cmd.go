package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/evidence"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

const evidenceUsage = `Usage: gatehouse evidence --config F (--from T --to T | --since D) --out FILE.zip [--identity NAME ...] [--target T ...]

Writes the SOC 2 evidence bundle of a period (docs/evidence.md): every session begun in
[--from, --to), its statements, the denials, each session's verification (with its Object
Lock), the certificates issued and refused, the access requests, the revocations, the
masked-column exposure, the console's auditor activity, the completeness counts and the
exceptions, as CSV and JSON Lines; a per-identity access report (report.html); the bucket's
Object Lock configuration; and a manifest (source, parameters, producer, each file's rows
and SHA-256) signed by the recorder key. T is an RFC 3339 time or a date (UTC); a date for --to means the
end of that day. --since 90d is the period up to now. Check a bundle with
gatehouse verify --bundle FILE.zip --pubkey KEY.

`

func runEvidence(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("evidence", out)
	path := configFlag(fs)
	from := fs.String("from", "", "the period's start: an RFC 3339 time or a date (2026-01-01, UTC midnight)")
	to := fs.String("to", "", "the period's end, excluded: an RFC 3339 time, or a date (its whole day is included)")
	since := fs.String("since", "", "instead of --from/--to: the period up to now, such as 90d")
	outPath := fs.String("out", "", "the zip to write")
	var identities, targets stringList
	fs.Var(&identities, "identity", "only sessions of this identity or agent, exactly (repeatable)")
	fs.Var(&targets, "target", "only sessions that opened a channel to this target (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), evidenceUsage)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	scope, err := evidencePeriod(*from, *to, *since, time.Now())
	if err != nil {
		return err
	}
	if *outPath == "" {
		return usageError("evidence: --out FILE.zip is required")
	}
	scope.Identities, scope.Targets = identities, targets
	cfg, err := loadConfigFlag(*path, "evidence")
	if err != nil {
		return err
	}
	opts, src, err := evidenceOptions(ctx, cfg, scope, args)
	if err != nil {
		return err
	}
	m, err := writeBundle(*outPath, src, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s: %s to %s, %d files, manifest signed by %s\n", *outPath, m.Parameters.From, m.Parameters.To, len(m.Files), m.SignedBy)
	for _, f := range m.Files {
		fmt.Fprintf(out, "  %-20s %8d rows  sha256 %s\n", f.Name, f.Rows, f.SHA256)
	}
	return nil
}

// evidencePeriod resolves --from/--to or --since to [From, To).
func evidencePeriod(from, to, since string, now time.Time) (evidence.Scope, error) {
	if (since != "") == (from != "" || to != "") || (since == "" && (from == "" || to == "")) {
		return evidence.Scope{}, usageError("evidence: give --from and --to, or --since")
	}
	var sc evidence.Scope
	if since != "" {
		d, err := policy.ParseDuration(since)
		if err != nil || d <= 0 {
			return sc, usageError("evidence: --since %q is not a positive duration such as 90d", since)
		}
		return evidence.Scope{From: now.Add(-d).UTC(), To: now.UTC()}, nil
	}
	var err error
	if sc.From, err = evidence.ParseBound(from, false); err != nil {
		return sc, usageError("evidence: --from: %v", err)
	}
	if sc.To, err = evidence.ParseBound(to, true); err != nil {
		return sc, usageError("evidence: --to: %v", err)
	}
	if !sc.From.Before(sc.To) {
		return sc, usageError("evidence: --from must be before --to")
	}
	return sc, nil
}

// evidenceOptions are the bundle's source and keys from cfg: the store
// it reads, the recorder key that verifies sessions and signs the
// manifest, and who is producing it.
func evidenceOptions(ctx context.Context, cfg *policy.Config, scope evidence.Scope, args []string) (evidence.Options, auditSource, error) {
	key, err := recorder.LoadKey(recorderKeyPath(cfg))
	if err != nil {
		return evidence.Options{}, nil, fmt.Errorf("evidence: the recorder key signs the bundle: %w", err)
	}
	pub, err := recorder.SignerPublicKey(key)
	if err != nil {
		return evidence.Options{}, nil, err
	}
	// Sessions signed by keys rotated out verify with trusted_keys.
	ring, err := recorderKeyring(cfg, pub)
	if err != nil {
		return evidence.Options{}, nil, fmt.Errorf("evidence: %w", err)
	}
	src, err := recordingSource(cfg)
	if err != nil {
		return evidence.Options{}, nil, err
	}
	opts := evidence.Options{Scope: scope, Args: args, Lag: cfg.SSH.HandshakeTimeout.D(), Keyring: ring, Signer: key,
		Version: versionLine(), Producer: producer(), Now: time.Now().UTC()}
	opts.Store, opts.Lock = evidenceStore(ctx, cfg, src)
	return opts, src, nil
}

// evidenceStore describes src for a bundle's manifest and reads its
// Object Lock when it is the bucket. `gatehouse evidence` and the
// console's /evidence both describe it here: objectlock.json, a data
// file, repeats it, and the same parameters must give the same files.
func evidenceStore(ctx context.Context, cfg *policy.Config, src recorder.SummarySource) (evidence.StoreInfo, evidence.ObjectLock) {
	info := evidence.StoreInfo{Store: cfg.Recording.Store}
	if bucket, ok := src.(*s3store.Client); ok {
		info.Bucket, info.Endpoint = cfg.Recording.S3.Bucket, cfg.Recording.S3.Endpoint
		return info, bucketLock{ctx: ctx, c: bucket}
	}
	info.Dir = cfg.Path(cfg.Recording.Dir)
	if fs, ok := src.(recorder.FileStore); ok {
		info.Dir = fs.Dir
	}
	return info, nil
}

// bucketLock reads Object Lock for the bundle from the bucket, as it
// stands now.
type bucketLock struct {
	ctx context.Context
	c   *s3store.Client
}

func (b bucketLock) Objects(kind, id string) ([]string, error) { return b.c.Objects(b.ctx, kind, id) }

func (b bucketLock) Retention(key string) (string, time.Time, error) {
	return b.c.Retention(b.ctx, key)
}

func (b bucketLock) Config() (evidence.BucketLock, error) {
	lc, err := b.c.LockConfig(b.ctx)
	return evidence.BucketLock{Status: lc.Status, DefaultMode: lc.Mode, DefaultValidity: lc.Validity, DefaultUnit: lc.Unit}, err
}

// producer is who makes the bundle: the local user and host.
func producer() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}

// writeBundle writes the bundle next to path and renames it into place:
// a failed run leaves no partial bundle behind.
func writeBundle(path string, src auditSource, opts evidence.Options) (*evidence.Manifest, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".evidence-*.zip")
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer os.Remove(f.Name())         // after the rename, nothing is left to remove
	opts.TempDir = filepath.Dir(path) // the populations spool where the bundle goes, not in a tmpfs
	m, err := evidence.Build(f, src, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return nil, fmt.Errorf("evidence: writing %s: %w", path, err)
	}
	return m, nil
}
