package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestServerRecorderDiscard: with the acknowledgement, serve's recorder
// discards, says so at ERROR level, and writes no recording.
func TestServerRecorderDiscard(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(config, []byte("data_dir: "+dir+"\nrecording:\n  store: discard\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Load(config); err == nil || !strings.Contains(err.Error(), policy.DiscardRecordingsEnv) {
		t.Fatalf("without %s: %v, want a refusal naming it", policy.DiscardRecordingsEnv, err)
	}
	t.Setenv(policy.DiscardRecordingsEnv, "1")
	cfg, err := policy.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	rec, err := openServerRecorder(cfg, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "level=ERROR") || !strings.Contains(logged.String(), "RECORDINGS ARE DISCARDED") {
		t.Errorf("log does not say at ERROR level that recordings are discarded:\n%s", logged.String())
	}
	recordSession(t, rec.Recorder, "bob@example.com", "orders", nil)
	if _, ok := rec.Store.(recorder.Discard); !ok {
		t.Errorf("store = %T, want recorder.Discard", rec.Store)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings")); !os.IsNotExist(err) {
		t.Errorf("recordings directory: %v, want none", err)
	}
}
