package main

import (
	"archive/zip"
	"encoding/csv"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/evidence"
)

// rotatedWorld is an auditWorld whose two sessions were signed by key A;
// A was then rotated out (its private key moved away, its public half
// kept in old.pub) and a third session was signed by the new key B.
type rotatedWorld struct {
	auditWorld
	pubA     string // A's authorized_keys line
	fpA, fpB string
	afterA   string // a session signed by B
}

func newRotatedWorld(t *testing.T) rotatedWorld {
	t.Helper()
	return rotate(t, newAuditWorld(t))
}

// rotate rotates aw's recorder key from A to B and records a session
// with B.
func rotate(t *testing.T, aw auditWorld) rotatedWorld {
	t.Helper()
	w := rotatedWorld{auditWorld: aw}
	pubA, code, err := runAudit(t, "recorder", "pubkey", "--config", w.config)
	if code != 0 {
		t.Fatalf("recorder pubkey: %v", err)
	}
	if err := os.WriteFile(filepath.Join(w.dir, "old.pub"), []byte(pubA), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(w.dir, recorder.KeyFile), filepath.Join(w.dir, "retired_ed25519")); err != nil {
		t.Fatal(err)
	}
	cfg, err := policy.Load(w.config)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := openRecorder(cfg) // makes key B
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	rec.Clock = func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }
	w.afterA = recordSession(t, rec, "carol@example.com", "orders", nil)
	keys, err := recorder.ParsePublicKeys([]byte(pubA))
	if err != nil {
		t.Fatal(err)
	}
	pubB, err := recorder.SignerPublicKey(rec.Signer)
	if err != nil {
		t.Fatal(err)
	}
	w.pubA, w.fpA, w.fpB = strings.TrimSpace(pubA), recorder.Fingerprint(keys[0]), recorder.Fingerprint(pubB)
	return w
}

// withTrusted rewrites the configuration with recording.trusted_keys
// given as YAML list entries.
func (w rotatedWorld) withTrusted(t *testing.T, entries ...string) {
	t.Helper()
	yaml := "data_dir: " + w.dir + "\nrecording:\n  store: file\n  dir: recordings\n"
	if len(entries) > 0 {
		yaml += "  trusted_keys:\n"
		for _, e := range entries {
			yaml += "    - " + e + "\n"
		}
	}
	if err := os.WriteFile(w.config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyAcrossRotation: `gatehouse verify --config` passes sessions
// signed by a key rotated out while it is in trusted_keys, fails them
// naming its fingerprint when it is not, and fails them naming the key
// and the time when they were signed after its not_after.
func TestVerifyAcrossRotation(t *testing.T) {
	w := newRotatedWorld(t)
	since := []string{"verify", "--config", w.config, "--since", "2026-11-26T00:00:00Z"}
	tests := []struct {
		name    string
		trusted []string
		code    int
		want    []string
	}{
		{"A in trusted_keys", []string{"old.pub"}, 0, []string{"3 verified, 0 incomplete, 0 failed", "signed by " + w.fpA, "signed by " + w.fpB}},
		{"A given inline, with a not_after after its sessions", []string{"{key: '" + w.pubA + "', not_after: 2026-11-27T00:00:00Z}"}, 0,
			[]string{"3 verified, 0 incomplete, 0 failed"}},
		{"A not trusted", nil, 1, []string{"1 verified, 0 incomplete, 2 failed", "signed by key " + w.fpA + ", which is not a trusted recorder key"}},
		{"A's not_after before its sessions ended", []string{"{key: old.pub, not_after: 2026-11-26T03:00:01Z}"}, 1,
			[]string{"1 verified, 0 incomplete, 2 failed", "signed by retired key " + w.fpA + " (recording.trusted_keys[0]), whose not_after is 2026-11-26T03:00:01Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.withTrusted(t, tt.trusted...)
			out, code, err := runAudit(t, since...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %v\n%s", code, tt.code, err, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestEvidenceAcrossRotation: a bundle over a period with a rotation
// verifies every session, says in verification.csv which key signed
// each, and lists both keys in the manifest's source with their counts,
// the old one marked retired.
func TestEvidenceAcrossRotation(t *testing.T) {
	w := newRotatedWorld(t)
	w.withTrusted(t, "{key: old.pub, not_after: 2026-11-27T00:00:00Z}")
	bundle := filepath.Join(t.TempDir(), "evidence.zip")
	if out, code, err := runAudit(t, "evidence", "--config", w.config, "--from", "2026-11-26", "--to", "2026-11-28", "--out", bundle); code != 0 {
		t.Fatalf("evidence: exit %d, %v\n%s", code, err, out)
	}
	zr, err := zip.OpenReader(bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var m evidence.Manifest
	if err := json.Unmarshal(readZipped(t, zr, "manifest.json"), &m); err != nil {
		t.Fatal(err)
	}
	keys := m.Source.RecorderKeys
	if len(keys) != 2 || keys[0].Fingerprint != w.fpB || keys[0].Retired || keys[0].Sessions != 1 ||
		keys[1].Fingerprint != w.fpA || !keys[1].Retired || keys[1].NotAfter != "2026-11-27T00:00:00Z" || keys[1].Sessions != 2 {
		t.Fatalf("manifest source keys: %+v", keys)
	}
	rows, err := csv.NewReader(strings.NewReader(string(readZipped(t, zr, "verification.csv")))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{w.clean: w.fpA, w.refused: w.fpA, w.afterA: w.fpB}
	if len(rows) != 4 || rows[0][len(rows[0])-1] != "keys" {
		t.Fatalf("verification.csv: %q", rows)
	}
	for _, row := range rows[1:] {
		if row[1] != "ok" || row[len(row)-1] != want[row[0]] {
			t.Errorf("verification row %q, want ok signed by %s", row, want[row[0]])
		}
	}
}

// TestBundleOfARetiredKey: a bundle the old key signed before its
// rotation verifies with the configuration that trusts it; once the
// bundle's production time is after that key's not_after, verify
// --bundle fails it naming the key: a key rotated out signs nothing.
func TestBundleOfARetiredKey(t *testing.T) {
	aw := newAuditWorld(t)
	bundle := filepath.Join(t.TempDir(), "evidence.zip")
	if out, code, err := runAudit(t, "evidence", "--config", aw.config, "--from", "2026-11-26", "--to", "2026-11-28", "--out", bundle); code != 0 {
		t.Fatalf("evidence: exit %d, %v\n%s", code, err, out)
	}
	w := rotate(t, aw)
	w.withTrusted(t, "old.pub")
	if out, code, err := runAudit(t, "verify", "--bundle", bundle, "--config", w.config); code != 0 || !strings.Contains(out, "signed by "+w.fpA) {
		t.Fatalf("verify --bundle of A's bundle with A in trusted_keys: exit %d, %v\n%s", code, err, out)
	}
	w.withTrusted(t, "{key: old.pub, not_after: 2026-11-27T00:00:00Z}") // before the bundle was made (now)
	out, code, _ := runAudit(t, "verify", "--bundle", bundle, "--config", w.config)
	if code != 1 || !strings.Contains(out, "FAILED  manifest.json: signed by retired key "+w.fpA+" (recording.trusted_keys[0]), whose not_after is 2026-11-27T00:00:00Z") {
		t.Fatalf("verify --bundle of A's bundle made after A's not_after: exit %d\n%s", code, out)
	}
}

func readZipped(t *testing.T, zr *zip.ReadCloser, name string) []byte {
	t.Helper()
	rc, err := zr.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestTrustedKeysRefusedAtStart: a trusted_keys entry that cannot be
// read or is not an Ed25519 public key stops serve, console, evidence,
// verify and policy check, naming the entry.
func TestTrustedKeysRefusedAtStart(t *testing.T) {
	w := newRotatedWorld(t)
	rsa := "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7 old"
	for _, entry := range []string{"missing.pub", "'ssh-ed25519 not-base64'", "'" + rsa + "'", "{key: old.pub, not_after: 2026-11-27}"} {
		w.withTrusted(t, "old.pub", entry) // the last: the same key twice, with two windows
		for _, args := range [][]string{
			{"serve", "--config", w.config},
			{"console", "--config", w.config},
			{"evidence", "--config", w.config, "--since", "7d", "--out", filepath.Join(t.TempDir(), "e.zip")},
			{"verify", "--config", w.config, "--since", "7d"},
			{"policy", "check", w.config},
		} {
			out, code, err := runAudit(t, args...)
			if code == 0 || err == nil || !strings.Contains(err.Error(), "recording.trusted_keys[1]") {
				t.Errorf("%s with trusted_keys [old.pub, %s]: exit %d, %v\n%s", args[0], entry, code, err, out)
			}
		}
	}
}
