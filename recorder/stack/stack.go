// Package stack assembles the recording side of a gatehouse server: the
// file store in the spool directory, the spool that watches it so that
// sessions are refused before events are lost, and, with S3, the
// uploader that moves closed and growing streams into the bucket and the
// rule for how long uploaded streams stay in the spool. The file store's
// streams are made durable by one group-committed journal in the spool
// (recorder/journal). Open completes the streams from the journal a
// crashed run left, recovers what it left open and opens the server's
// ledger; Run does the uploads.
package stack

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/journal"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

// Config is the recording side of `gatehouse serve`. Dir and Signer are
// required; the zero value of every other field is documented.
type Config struct {
	Dir    string        // the spool: recording.dir, where streams are written first
	Signer crypto.Signer // the recorder key
	Logger *slog.Logger  // nil: slog.Default()
	// Discard records nothing (recording.store: discard, for benchmarks):
	// no recovery, spool, ledger or uploads. The caller says so loudly.
	Discard bool
	// FailOpen is recording.fail_closed: false (recorder.Recorder.FailOpen).
	FailOpen bool
	// SpoolMaxBytes bounds what waits for the bucket; 0 means
	// recorder.DefaultSpoolMaxBytes.
	SpoolMaxBytes int64
	// S3 is the bucket; nil keeps recordings in Dir only.
	S3 *s3store.Config
	// ChunkInterval is how often a growing stream's new lines are
	// uploaded; 0 means s3store.DefaultChunkInterval.
	ChunkInterval time.Duration
	// KeepUploaded and CAMaxTTL decide how long uploaded streams stay in
	// the spool (see KeepUploaded).
	KeepUploaded time.Duration
	CAMaxTTL     time.Duration
	// OnCommit and OnUpload, if set, observe the journal's group commits
	// and the uploader's passes (journal.Config.OnCommit,
	// s3store.Uploader.OnUpload): metrics. Neither may block.
	OnCommit func(records int, took time.Duration)
	OnUpload func(err error)
}

// connectTimeout bounds connecting to the bucket at start.
const connectTimeout = 30 * time.Second

// drainTimeout bounds the last upload, once Run's context has ended.
const drainTimeout = 10 * time.Second

// Stack is the server's recorder with the uploader it owns, if any.
type Stack struct {
	*recorder.Recorder
	up      *s3store.Uploader // nil without S3
	journal *recorder.Journal // nil with Discard
}

// Open opens the spool's journal, completes from the earlier run's
// journal the streams whose files lost lines it had made durable,
// recovers the streams that run left open (it died), wraps the file store
// in a spool and, with S3, connects the uploader (not yet running: see
// Run), then opens the ledger in the final store so that it is uploaded
// like the streams it marks.
func Open(cfg Config) (*Stack, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if cfg.Discard {
		return &Stack{Recorder: &recorder.Recorder{Store: recorder.Discard{}, Signer: cfg.Signer, Logger: log}}, nil
	}
	files, jl, err := recorder.OpenJournal(recorder.FileStore{Dir: cfg.Dir}, journal.Config{OnCommit: cfg.OnCommit})
	if err != nil {
		return nil, err
	}
	recoverJournal(files, log)
	rec := &recorder.Recorder{Store: files, Signer: cfg.Signer}
	recoverStreams(rec, files, log)
	rec.Logger, rec.FailOpen = log, cfg.FailOpen
	spool := &recorder.Spool{Store: files, Dir: files.Dir, MaxBytes: cfg.SpoolMaxBytes, Journal: jl}
	rec.Store = spool
	s := &Stack{Recorder: rec, journal: jl}
	if cfg.S3 != nil {
		up, err := connect(cfg, files, log)
		if err != nil {
			return nil, errors.Join(err, jl.Close())
		}
		spool.Store, spool.Waiting, s.up = up.Store(), up, up
	}
	if err := rec.OpenLedger(); err != nil {
		return nil, errors.Join(err, jl.Close())
	}
	return s, nil
}

// Close ends the journal once every stream is closed: what was appended
// is made durable and its segments closed. A process may also just exit:
// every line an Emit acknowledged is durable already.
func (s *Stack) Close() error {
	if s.journal == nil {
		return nil
	}
	return s.journal.Close()
}

// Backlog is how many bytes of the spool wait for the bucket: 0 without
// S3, where the spool is the store.
func (s *Stack) Backlog() int64 {
	if s.up == nil {
		return 0
	}
	n, _ := s.up.Backlog()
	return n
}

// recoverJournal completes the streams whose files lost lines the
// journal had made durable (a crash of the machine); the streams left
// open are then recovered like any other.
func recoverJournal(files recorder.FileStore, log *slog.Logger) {
	done, err := recorder.RecoverJournal(files)
	for _, id := range done {
		log.Warn("recording completed from the journal: its file had lost lines the journal held", "stream", id)
	}
	if err != nil {
		log.Error("completing recordings from the journal failed; its segments are kept, and verify will report these streams", "error", err)
	}
}

// connect checks the bucket and makes the uploader of the spool.
func connect(cfg Config, files recorder.FileStore, log *slog.Logger) (*s3store.Uploader, error) {
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	client, err := s3store.Open(ctx, *cfg.S3)
	if err != nil {
		return nil, fmt.Errorf("recording.s3: %w", err)
	}
	return &s3store.Uploader{Client: client, Spool: files, Logger: log, ChunkInterval: cfg.ChunkInterval,
		KeepUploaded: KeepUploaded(cfg.KeepUploaded, cfg.CAMaxTTL), OnUpload: cfg.OnUpload}, nil
}

// recoverStreams closes, with manifests that say so, the streams a crash
// left open; the uploader then uploads them like any closed stream. The
// ledgers of the runs that died are closed last: the others are checked
// against them.
func recoverStreams(rec *recorder.Recorder, files recorder.FileStore, log *slog.Logger) {
	for _, kind := range []string{recorder.KindSession, recorder.KindCA, recorder.KindLedger} {
		done, err := rec.Recover(files, kind)
		for _, r := range done {
			log.Warn("recording recovered: the process that wrote it died before closing it", "kind", r.Kind, "stream", r.ID,
				"events", r.Manifest.Events, "torn_tail_bytes", r.Manifest.Recovered.TornTailBytes)
		}
		if err != nil {
			log.Error("recording recovery failed; verify will report these streams", "error", err)
		}
	}
}

// Run uploads until ctx ends, then tries once more, for at most
// drainTimeout, to upload what the spool holds: what the last sessions
// left, and the closed streams of other processes (`gatehouse ca sign`,
// `revoke`) that Run's periodic rescan has not found yet. Without S3 it
// returns at once.
func (s *Stack) Run(ctx context.Context) {
	if s.up == nil {
		return
	}
	s.up.Run(ctx)
	drain, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if _, err := s.up.Scan(); err != nil {
		s.Logger.Error("recording spool: scan failed", "dir", s.up.Spool.Dir, "error", err)
	}
	if err := s.up.UploadPending(drain); err != nil {
		s.Logger.Warn("recordings left in the spool at shutdown; they are uploaded at the next start", "error", err)
	}
}

// KeepUploaded is how long each kind of stream stays in the spool once
// uploaded: keep (recording.spool_keep_uploaded) for sessions, ledgers and
// console streams,
// and for a CA stream at least caMaxTTL (ca.max_ttl): `gatehouse revoke`
// and GET /v1/krl look up the certificates to revoke in the CA's streams
// in the spool, and by then every certificate a stream records has
// expired (none outlives ca.max_ttl, and the stream's marker is written
// after its last issuance).
func KeepUploaded(keep, caMaxTTL time.Duration) map[string]time.Duration {
	return map[string]time.Duration{
		recorder.KindSession: keep,
		recorder.KindCA:      max(keep, caMaxTTL),
		// A closed ledger marks only closed streams: none is left for a
		// recovery to check against it.
		recorder.KindLedger: keep,
		// The consoles' activity: /activity reads the bucket as well as
		// the spool, and a console's open stream has no marker.
		recorder.KindConsole: keep,
	}
}
