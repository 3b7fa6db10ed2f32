package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
	"github.com/gatehouse-dev/gatehouse/recorder/stack"
)

func runRecorder(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "pubkey" {
		return usageError("usage: gatehouse recorder pubkey --config F")
	}
	fs := newFlags("recorder pubkey", out)
	path := configFlag(fs)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := loadConfigFlag(*path, "recorder pubkey")
	if err != nil {
		return err
	}
	key, err := recorder.LoadKey(recorderKeyPath(cfg))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w (the recorder key is generated when `gatehouse serve` first starts)", err)
	}
	if err != nil {
		return err
	}
	pub, err := recorder.SignerPublicKey(key)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, recorder.FormatPublicKey(pub))
	return nil
}

func recorderKeyPath(cfg *policy.Config) string { return cfg.Path(recorder.KeyFile) }

// openRecorder is the recorder of an operator command: the recorder key
// in data_dir, made on first use, and the spool in recording.dir. With
// store s3, a running server uploads what the command leaves there (it
// rescans the spool every minute).
func openRecorder(cfg *policy.Config) (*recorder.Recorder, error) {
	key, err := recorderKey(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Recording.Store == "discard" {
		return &recorder.Recorder{Store: recorder.Discard{}, Signer: key}, nil
	}
	return &recorder.Recorder{Store: recorder.FileStore{Dir: cfg.Path(cfg.Recording.Dir)}, Signer: key}, nil
}

// recorderKey is the recorder key in data_dir, made on first use.
func recorderKey(cfg *policy.Config) (ed25519.PrivateKey, error) {
	key, _, err := recorder.LoadOrGenerateKey(recorderKeyPath(cfg))
	if err != nil {
		return nil, fmt.Errorf("recorder key: %w", err)
	}
	return key, nil
}

// openServerRecorder is the recording side of `gatehouse serve`, from the
// configuration (stack.Open does the assembly), saying in the log what
// the operator chose that weakens the recordings.
// Each of observe may set the stack's hooks (serve's metrics).
func openServerRecorder(cfg *policy.Config, log *slog.Logger, observe ...func(*stack.Config)) (*stack.Stack, error) {
	key, err := recorderKey(cfg)
	if err != nil {
		return nil, err
	}
	r := cfg.Recording
	sc := stack.Config{Dir: cfg.Path(r.Dir), Signer: key, Logger: log, FailOpen: !*r.FailClosed, SpoolMaxBytes: r.SpoolMaxBytes,
		KeepUploaded: r.KeepUploaded(), CAMaxTTL: cfg.CA.MaxTTL.D()}
	for _, o := range observe {
		o(&sc)
	}
	switch r.Store {
	case "discard":
		// Validation let it through only with the acknowledgement; say so
		// on every start, where whoever reads the log cannot miss it.
		log.Error("RECORDINGS ARE DISCARDED: recording.store is discard, accepted because " + policy.DiscardRecordingsEnv +
			"=1; no session is recorded. This is for benchmarks only: never run a server like this")
		sc.Discard = true
		return stack.Open(sc)
	case "s3":
		s3cfg, err := s3Config(cfg)
		if err != nil {
			return nil, err
		}
		sc.S3, sc.ChunkInterval = &s3cfg, r.S3.ChunkInterval.D()
	}
	if sc.FailOpen {
		log.Warn("recording.fail_closed is false: sessions and statements go ahead even while the recording spool is full or cannot be written")
	}
	if w := r.DecisionSyncWindow.D(); w > 0 {
		log.Warn("recording.decision_sync_window is set: statements reach the database before their decision is fsynced, within "+w.String()+"; a crash of the machine can lose the decisions of the last window", "window", w)
	}
	return stack.Open(sc)
}

// s3Config is the S3 store's settings, with the keys read from the
// environment variables the configuration names.
func s3Config(cfg *policy.Config) (s3store.Config, error) {
	s := cfg.Recording.S3
	c := s3store.Config{Endpoint: s.Endpoint, Bucket: s.Bucket, Region: s.Region, Mode: s.Mode,
		Retention: s.Retention.D(), CreateBucket: s.CreateBucket}
	for _, k := range []struct {
		field, env string
		dst        *string
	}{{"access_key_env", s.AccessKeyEnv, &c.AccessKey}, {"secret_key_env", s.SecretKeyEnv, &c.SecretKey}} {
		if *k.dst = os.Getenv(k.env); *k.dst == "" {
			return c, fmt.Errorf("recording.s3.%s: the environment variable %s is not set", k.field, k.env)
		}
	}
	return c, nil
}

// auditFlags are how the auditor's commands find recordings and the keys
// to check them with: the server's configuration, or a directory and
// public keys alone.
type auditFlags struct {
	config  *string
	dir     *string
	pubkeys stringList
}

func addAuditFlags(fs *flag.FlagSet) *auditFlags {
	a := &auditFlags{config: configFlag(fs)}
	a.dir = fs.String("dir", "", "the recordings directory (default: recording.dir of --config)")
	fs.Var(&a.pubkeys, "pubkey", "a trusted recorder public key: an authorized_keys line, base64, or a file holding them or the JSON of GET /v1/recorder-keys (repeatable; default: the key in data_dir of --config)")
	return a
}

// openSource resolves where the recordings are read and, unless
// keysOptional, the trusted keys. With --config naming store s3 (and no
// --dir) that is the bucket, with read access only; otherwise the
// directory (--dir, or recording.dir of --config).
func (a *auditFlags) openSource(cmd string, keysOptional bool) (auditSource, []ed25519.PublicKey, error) {
	var cfg *policy.Config
	if *a.config != "" {
		var err error
		if cfg, err = policy.Load(*a.config); err != nil {
			return nil, nil, err
		}
	}
	dir := *a.dir
	switch {
	case dir == "" && cfg == nil:
		return nil, nil, usageError("%s: --config (or GATEHOUSE_CONFIG) or --dir is required", cmd)
	case dir == "" && cfg.Recording.Store == "s3":
		client, err := bucketSource(cfg)
		if err != nil {
			return nil, nil, err
		}
		keys, err := a.keys(cfg)
		return client, keys, err
	case dir == "":
		dir = cfg.Path(cfg.Recording.Dir)
	}
	keys, err := a.keys(cfg)
	if err != nil || len(keys) > 0 || keysOptional {
		return recorder.FileStore{Dir: dir}, keys, err
	}
	return nil, nil, usageError("%s: --pubkey is required without --config", cmd)
}

func (a *auditFlags) keys(cfg *policy.Config) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, k := range a.pubkeys {
		data := []byte(k)
		file, ferr := os.ReadFile(k)
		if ferr == nil {
			data = file
		}
		parsed, err := recorder.ParsePublicKeys(data)
		if err != nil && ferr != nil && !inlineKey(k) {
			// A path that cannot be read: say so, not that the path
			// is a malformed key.
			return nil, fmt.Errorf("--pubkey: %w", ferr)
		}
		if err != nil {
			return nil, fmt.Errorf("--pubkey %.40q: %w", k, err)
		}
		keys = append(keys, parsed...)
	}
	if len(keys) > 0 || cfg == nil {
		return keys, nil
	}
	key, err := recorder.LoadKey(recorderKeyPath(cfg))
	if err != nil {
		return nil, fmt.Errorf("the recorder key of %s (or pass --pubkey): %w", *a.config, err)
	}
	pub, err := recorder.SignerPublicKey(key)
	if err != nil {
		return nil, err
	}
	return []ed25519.PublicKey{pub}, nil
}

// inlineKey says whether a --pubkey value is meant as a key rather than
// a file: an authorized_keys line, or the JSON of GET /v1/recorder-keys.
// (Bare base64 cannot be told from a file name; a missing file is
// reported as such.)
func inlineKey(v string) bool {
	v = strings.TrimSpace(v)
	return strings.HasPrefix(v, "ssh-") || strings.HasPrefix(v, "{")
}

// auditSource is where verify, replay and sessions read recordings: the
// file store, or the S3 bucket.
type auditSource interface {
	recorder.VerifySource
	List(kind string) ([]string, error)
}

// retentionChecker is an auditSource that also checks Object Lock
// retention (the S3 store).
type retentionChecker interface {
	CheckRetention(kind, id string) error
}

// recordingSource is where cfg's recordings are kept: the bucket for store
// s3 (the spool in recording.dir holds only what this server recorded,
// until it is pruned), else recording.dir.
func recordingSource(cfg *policy.Config) (auditSource, error) {
	if cfg.Recording.Store == "s3" {
		return bucketSource(cfg)
	}
	return recorder.FileStore{Dir: cfg.Path(cfg.Recording.Dir)}, nil
}

// bucketSource reads recordings from cfg's S3 bucket.
func bucketSource(cfg *policy.Config) (*s3store.Client, error) {
	s3cfg, err := s3Config(cfg)
	if err != nil {
		return nil, err
	}
	client, err := s3store.Dial(s3cfg)
	if err != nil {
		return nil, fmt.Errorf("recording.s3: %w", err)
	}
	return client, nil
}

// parseTime reads a --since or --until value: an RFC 3339 time, or a
// duration before now such as 24h or 7d.
func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := policy.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-26T09:00:00Z) nor a duration (24h, 7d)", s)
	}
	return now.Add(-d), nil
}

// parseWithArgs parses flags that may come before or after the
// positional arguments ("verify SESSION --config F"), which the flag
// package alone stops at.
func parseWithArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}
