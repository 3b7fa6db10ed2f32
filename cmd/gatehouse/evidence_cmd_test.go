package main

import (
	"archive/zip"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/evidence"
)

// TestEvidenceCommand: the bundle of the audit world's day verifies with
// the key `recorder pubkey` prints, and fails (exit 1, naming
// manifest.sig) with another key. (Edited files: the evidence package's
// tests and e2e's TestEvidence.)
func TestEvidenceCommand(t *testing.T) {
	w := newAuditWorld(t)
	bundle := filepath.Join(t.TempDir(), "evidence.zip")
	out, code, err := runAudit(t, "evidence", "--config", w.config, "--from", "2026-11-26", "--to", "2026-11-26", "--out", bundle)
	if code != 0 || !strings.Contains(out, "sessions.csv") {
		t.Fatalf("evidence: exit %d, %v\n%s", code, err, out)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(bundle), ".evidence-*")); len(left) != 0 {
		t.Errorf("spools left next to the bundle: %v", left)
	}
	pub, _, _ := runAudit(t, "recorder", "pubkey", "--config", w.config)
	keyFile := filepath.Join(t.TempDir(), "recorder.pub")
	os.WriteFile(keyFile, []byte(pub), 0o644)
	if out, code, err := runAudit(t, "verify", "--bundle", bundle, "--pubkey", keyFile); code != 0 || !strings.HasPrefix(out, "OK") {
		t.Fatalf("verify --bundle: exit %d, %v\n%s", code, err, out)
	}
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	out, code, err = runAudit(t, "verify", "--bundle", bundle, "--pubkey", recorder.FormatPublicKey(other))
	if code != 1 || !strings.Contains(out, "FAILED  manifest.sig") {
		t.Fatalf("verify --bundle with another key: exit %d, %v\n%s", code, err, out)
	}
}

func TestEvidencePeriod(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name            string
		from, to, since string
		wantFrom        time.Time
		wantTo          time.Time
		wantErr         bool
	}{
		{"dates: --to's whole day", "2026-11-26", "2026-11-26", "", day, day.AddDate(0, 0, 1), false},
		{"RFC 3339 in another zone", "2026-11-26T01:00:00+01:00", "2026-11-27T00:00:00Z", "", day, day.AddDate(0, 0, 1), false},
		{"since", "", "", "90d", now.AddDate(0, 0, -90), now, false},
		{"since and from", "2026-11-26", "", "90d", time.Time{}, time.Time{}, true},
		{"from without to", "2026-11-26", "", "", time.Time{}, time.Time{}, true},
		{"nothing", "", "", "", time.Time{}, time.Time{}, true},
		{"to before from", "2026-11-27", "2026-11-25", "", time.Time{}, time.Time{}, true},
		{"not a time", "yesterday", "2026-11-26", "", time.Time{}, time.Time{}, true},
		{"negative since", "", "", "-1d", time.Time{}, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := evidencePeriod(tt.from, tt.to, tt.since, now)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error: %v", err, tt.wantErr)
			}
			if !tt.wantErr && (!sc.From.Equal(tt.wantFrom) || !sc.To.Equal(tt.wantTo) || sc.From.Location() != time.UTC) {
				t.Errorf("period %s to %s, want %s to %s", sc.From, sc.To, tt.wantFrom, tt.wantTo)
			}
		})
	}
}

// TestEvidenceFailsALaunderedTruncation: a closed session cut back to its
// first checkpoint and its manifest deleted is failed in the bundle's
// verification population, as `gatehouse verify` fails it (the ledger
// saw it closed), not passed as incomplete or recovered.
func TestEvidenceFailsALaunderedTruncation(t *testing.T) {
	w := newAuditWorld(t)
	id := w.launderedTruncation(t)
	bundle := filepath.Join(t.TempDir(), "evidence.zip")
	day := time.Now().UTC().Format(time.DateOnly)
	if out, code, err := runAudit(t, "evidence", "--config", w.config, "--from", "2026-11-26", "--to", day, "--out", bundle); code != 0 {
		t.Fatalf("evidence: exit %d, %v\n%s", code, err, out)
	}
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	rc, err := zr.Open("verification.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rows, err := csv.NewReader(rc).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row[0] == id {
			if row[1] != "failed" || !strings.Contains(row[5], "records the stream closed with") {
				t.Errorf("the cut session's verification row is %q, want failed by the ledger", row)
			}
			return
		}
	}
	t.Fatalf("session %s is not in verification.csv: %q", id, rows)
}

// TestVerifyBundleSignedByTheConsole: a bundle the console signed (as
// /evidence does) verifies with the console key given as --pubkey or
// --console-pubkey and says so; not with the recorder key alone; and one
// signed by the console key whose manifest claims the recorder key fails,
// naming manifest.json.
func TestVerifyBundleSignedByTheConsole(t *testing.T) {
	w := newAuditWorld(t)
	cfg, err := policy.Load(w.config)
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	opts, src, err := evidenceOptions(context.Background(), cfg, evidence.Scope{From: day, To: day.AddDate(0, 0, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, consoleKey, _ := ed25519.GenerateKey(rand.Reader)
	dir := t.TempDir()
	consolePub := filepath.Join(dir, "console.pub")
	os.WriteFile(consolePub, []byte(recorder.FormatPublicKey(consoleKey.Public().(ed25519.PublicKey))), 0o644)
	bundle := func(name, signingKey string) string {
		opts.Signer, opts.SigningKey = consoleKey, signingKey
		path := filepath.Join(dir, name)
		if _, err := writeBundle(path, src, opts); err != nil {
			t.Fatal(err)
		}
		return path
	}
	honest, lying := bundle("console.zip", evidence.SigningKeyConsole), bundle("lying.zip", "")
	for _, flag := range []string{"--pubkey", "--console-pubkey"} {
		if out, code, err := runAudit(t, "verify", "--bundle", honest, flag, consolePub); code != 0 || !strings.Contains(out, "(console key)") {
			t.Errorf("verify --bundle %s console.pub: exit %d, %v\n%s", flag, code, err, out)
		}
	}
	if out, code, _ := runAudit(t, "verify", "--bundle", honest, "--config", w.config); code != 1 || !strings.Contains(out, "FAILED  manifest.sig") {
		t.Errorf("verify --bundle with the recorder key of --config only: exit %d\n%s", code, out)
	}
	if out, code, _ := runAudit(t, "verify", "--bundle", lying, "--console-pubkey", consolePub); code != 1 || !strings.Contains(out, `FAILED  manifest.json: signed by the console key`) {
		t.Errorf("a console-signed bundle claiming the recorder key: exit %d\n%s", code, out)
	}
}
