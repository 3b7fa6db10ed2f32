package stack

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/s3store"
)

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	key, err := recorder.GenerateKey(filepath.Join(t.TempDir(), "recorder_key"))
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// crashImage is the spool a killed server leaves: a copy, taken while
// they are written, of a ledger and a session stream with no manifest.
func crashImage(t *testing.T, key ed25519.PrivateKey) (dir, session string) {
	t.Helper()
	live := t.TempDir()
	rec := &recorder.Recorder{Store: recorder.FileStore{Dir: live}, Signer: key}
	if err := rec.OpenLedger(); err != nil {
		t.Fatal(err)
	}
	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := s.Emit("test.event", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	dir = t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(live)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	rec.CloseLedger()
	return dir, s.ID
}

// TestOpenRecoversAndSpools: with the file store, Open closes what a
// crash left open, puts the spool in front of the store, and opens a
// ledger of its own.
func TestOpenRecoversAndSpools(t *testing.T) {
	key := newKey(t)
	dir, crashed := crashImage(t, key)
	var logged bytes.Buffer
	s, err := Open(Config{Dir: dir, Signer: key, Logger: slog.New(slog.NewTextHandler(&logged, nil)), SpoolMaxBytes: 1 << 20, FailOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer s.CloseLedger()
	files := recorder.FileStore{Dir: dir}
	raw, err := files.Manifest(recorder.KindSession, crashed)
	if err != nil {
		t.Fatalf("the crashed stream has no manifest after Open: %v\nlog:\n%s", err, logged.String())
	}
	var m struct{ Manifest recorder.Manifest }
	if err := json.Unmarshal(raw, &m); err != nil || m.Manifest.EndReason != recorder.EndRecovered {
		t.Errorf("manifest %s (%v), want end reason %s", raw, err, recorder.EndRecovered)
	}
	if !strings.Contains(logged.String(), "recording recovered") {
		t.Errorf("the recovery is not logged:\n%s", logged.String())
	}
	spool, ok := s.Store.(*recorder.Spool)
	if !ok || spool.Dir != dir || spool.MaxBytes != 1<<20 || spool.Waiting != nil {
		t.Fatalf("store %T %+v, want a spool of %s without an uploader", s.Store, s.Store, dir)
	}
	if fs, ok := spool.Store.(recorder.FileStore); !ok || fs.Journal == nil || !s.FailOpen || s.Logger == nil {
		t.Errorf("spool over %T, fail open %v, logger %v", spool.Store, s.FailOpen, s.Logger)
	}
	ledgers, err := files.List(recorder.KindLedger)
	if err != nil || len(ledgers) != 2 {
		t.Errorf("ledgers %v, %v; want the crashed run's and this one's", ledgers, err)
	}
	session, err := s.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := session.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Run(ctx) // returns at once without S3
}

// TestOpenDiscard: the discard store records nothing and touches no
// directory.
func TestOpenDiscard(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "recordings")
	s, err := Open(Config{Dir: dir, Signer: newKey(t), Discard: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Store.(recorder.Discard); !ok {
		t.Errorf("store %T, want recorder.Discard", s.Store)
	}
	stream, err := s.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	stream.Emit("test.event", nil)
	stream.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("recordings directory: %v, want none", err)
	}
}

// TestOpenS3Unreachable: a bucket that cannot be reached fails the start,
// naming recording.s3, and no ledger is opened.
func TestOpenS3Unreachable(t *testing.T) {
	dir := t.TempDir()
	start := time.Now()
	_, err := Open(Config{Dir: dir, Signer: newKey(t), S3: &s3store.Config{Endpoint: "http://127.0.0.1:1", Bucket: "b",
		AccessKey: "a", SecretKey: "s", Mode: "GOVERNANCE", Retention: time.Hour}})
	if err == nil || !strings.HasPrefix(err.Error(), "recording.s3: ") {
		t.Fatalf("Open = %v, want a recording.s3 error", err)
	}
	if time.Since(start) > connectTimeout {
		t.Errorf("took %v", time.Since(start))
	}
	if ids, _ := (recorder.FileStore{Dir: dir}).List(recorder.KindLedger); len(ids) != 0 {
		t.Errorf("ledgers %v; want none", ids)
	}
}
