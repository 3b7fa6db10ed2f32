package main

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEvidenceCommand: the bundle of the audit world's day verifies with
// the key `recorder pubkey` prints, and fails naming sessions.csv once a
// byte of it is changed.
func TestEvidenceCommand(t *testing.T) {
	w := newAuditWorld(t)
	bundle := filepath.Join(t.TempDir(), "evidence.zip")
	out, code, err := runAudit(t, "evidence", "--config", w.config, "--from", "2026-11-26", "--to", "2026-11-26", "--out", bundle)
	if code != 0 || !strings.Contains(out, "sessions.csv") {
		t.Fatalf("evidence: exit %d, %v\n%s", code, err, out)
	}
	pub, _, _ := runAudit(t, "recorder", "pubkey", "--config", w.config)
	keyFile := filepath.Join(t.TempDir(), "recorder.pub")
	os.WriteFile(keyFile, []byte(pub), 0o644)
	if out, code, err := runAudit(t, "verify", "--bundle", bundle, "--pubkey", keyFile); code != 0 || !strings.HasPrefix(out, "OK") {
		t.Fatalf("verify --bundle: exit %d, %v\n%s", code, err, out)
	}
	tampered := filepath.Join(t.TempDir(), "tampered.zip")
	flipInZip(t, bundle, tampered, "sessions.csv")
	out, code, err = runAudit(t, "verify", "--bundle", tampered, "--pubkey", keyFile)
	if code != 1 || !strings.Contains(out, "FAILED  sessions.csv") {
		t.Fatalf("verify --bundle of an edited sessions.csv: exit %d, %v\n%s", code, err, out)
	}
}

// flipInZip copies the zip in to out with one byte of file name changed.
func flipInZip(t *testing.T, in, out, name string) {
	t.Helper()
	zr, err := zip.OpenReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range zr.File {
		rc, _ := f.Open()
		var data bytes.Buffer
		data.ReadFrom(rc)
		rc.Close()
		content := data.Bytes()
		if f.Name == name {
			content[len(content)-2] ^= 0x01
		}
		fw, _ := zw.Create(f.Name)
		fw.Write(content)
	}
	zw.Close()
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
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
