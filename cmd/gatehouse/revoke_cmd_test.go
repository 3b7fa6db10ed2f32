package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func TestRevocationFromFlags(t *testing.T) {
	fp := "SHA256:" + strings.Repeat("A", 43)
	tests := []struct {
		name                  string
		serial, identity, key string
		wantErr               string
		wantSerial            uint64
	}{
		{name: "serial", serial: "42", wantSerial: 42},
		{name: "identity", identity: "alice@example.com"},
		{name: "key", key: fp},
		{name: "nothing", wantErr: "exactly one"},
		{name: "two at once", serial: "42", identity: "alice@example.com", wantErr: "exactly one"},
		{name: "serial 0", serial: "0", wantErr: "positive integer"},
		{name: "serial not a number", serial: "0x2a", wantErr: "positive integer"},
		{name: "key not a fingerprint", key: "ssh-ed25519 AAAA", wantErr: "SHA256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := revocationFromFlags(tt.serial, tt.identity, tt.key, "why")
			if tt.wantErr != "" {
				var ee exitError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ee) || ee.code != 2 {
					t.Fatalf("err = %v, want a usage error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Serial != tt.wantSerial || r.Reason != "why" || r.RevokedAt.IsZero() {
				t.Errorf("revocation %+v", r)
			}
		})
	}
}

// TestRunRevoke: `gatehouse revoke` appends to the list, names the
// certificates of the CA's record it covers, and records cert.revoked.
func TestRunRevoke(t *testing.T) {
	dir, config, key, run := caWithKey(t)
	run("ca", "sign", "--config", config, "--key", key, "--identity", "ci@example.com", "--agent", "nightly", "--grant", "orders:readonly")

	out := run("revoke", "--config", config, "--identity", "ci@example.com", "--reason", "rotated")
	for _, want := range []string{`revoked identity "ci@example.com" (rotated)`, `"ci@example.com via agent:nightly"`, "within 5 seconds"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	l, err := ca.OpenRevocationList(filepath.Join(dir, ca.RevocationFile))
	if err != nil || len(l.Entries()) != 1 || l.Entries()[0].Identity != "ci@example.com" {
		t.Fatalf("list %v, %v", l.Entries(), err)
	}
	if !caRecordHas(t, filepath.Join(dir, "recordings"), event.TypeCertRevoked, `"reason":"rotated"`, `"key_id":"ci@example.com via agent:nightly"`) {
		t.Error("no cert.revoked event naming the matched certificate in the CA's record")
	}
}

// TestRunRevokeAgentSerial: revoking an agent certificate by serial
// revokes its key too, so no other certificate of that key gets in.
func TestRunRevokeAgentSerial(t *testing.T) {
	dir, config, key, run := caWithKey(t)
	run("ca", "sign", "--config", config, "--key", key, "--identity", "ci@example.com", "--agent", "nightly", "--grant", "orders:readonly")
	cert := readTestCert(t, strings.TrimSuffix(key, ".pub")+"-cert.pub")

	out := run("revoke", "--config", config, "--serial", strconv.FormatUint(cert.Serial, 10), "--reason", "misbehaved")
	fp := gossh.FingerprintSHA256(cert.Key)
	for _, want := range []string{fmt.Sprintf("revoked serial %d", cert.Serial), "revoked key " + fp} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	l, err := ca.OpenRevocationList(filepath.Join(dir, ca.RevocationFile))
	if err != nil || len(l.Entries()) != 2 || l.Entries()[1].Key != fp {
		t.Fatalf("list %+v, %v; want the serial and the agent's key", l.Entries(), err)
	}
	if !caRecordHas(t, filepath.Join(dir, "recordings"), event.TypeCertRevoked, `"key":"`+fp+`"`) {
		t.Error("no cert.revoked event for the agent's key")
	}
}

func readTestCert(t *testing.T, path string) *gossh.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, _, _, _, err := gossh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*gossh.Certificate)
}

// caWithKey makes a configuration with a CA (ca init) in a temporary
// data_dir and a public key to sign; run runs gatehouse commands.
func caWithKey(t *testing.T) (dir, config, key string, run func(args ...string) string) {
	t.Helper()
	dir = t.TempDir()
	config = filepath.Join(dir, "gatehouse.yaml")
	yaml := "data_dir: " + dir + "\ntargets:\n  orders:\n    protocol: tcp\n    address: 127.0.0.1:5432\n    roles:\n      readonly: {}\n"
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	run = func(args ...string) string {
		t.Helper()
		var out strings.Builder
		if err := runCommand(context.Background(), args, &out); err != nil {
			t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	run("ca", "init", "--config", config)
	key = filepath.Join(dir, "id.pub")
	if err := os.WriteFile(key, gossh.MarshalAuthorizedKey(newTestKey(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, config, key, run
}

// TestIssuedIndex: the CA streams in the recording directory, as GET
// /v1/krl's index of issued certificates reads them: closed streams say
// so, and new ones are seen.
func TestIssuedIndex(t *testing.T) {
	dir, config, key, run := caWithKey(t)
	run("ca", "sign", "--config", config, "--key", key, "--identity", "a@example.com", "--grant", "orders:readonly")
	streams := caStreams{store: recorder.FileStore{Dir: filepath.Join(dir, "recordings")}}
	index := &ca.IssuedIndex{Streams: streams}
	first, err := index.All()
	if err != nil || len(first) != 1 || first[0].KeyID != "a@example.com" {
		t.Fatalf("issued %v, %v", first, err)
	}
	ids, err := streams.List()
	if err != nil || len(ids) == 0 {
		t.Fatalf("CA streams %v, %v", ids, err)
	}
	for _, id := range ids {
		if !streams.Closed(id) {
			t.Errorf("stream %s of a finished `ca sign` is not closed", id)
		}
	}
	run("ca", "sign", "--config", config, "--key", key, "--identity", "b@example.com", "--grant", "orders:readonly")
	again, err := index.All()
	if err != nil || len(again) != 2 {
		t.Fatalf("after a second issuance: %v, %v", again, err)
	}
}

func newTestKey(t *testing.T) gossh.PublicKey {
	t.Helper()
	s, err := ca.GenerateKeyFile(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	return s.PublicKey()
}

func caRecordHas(t *testing.T, dir string, typ event.Type, texts ...string) bool {
	t.Helper()
	store := recorder.FileStore{Dir: dir}
	ids, err := store.List(recorder.KindCA)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		lines, err := store.Lines(recorder.KindCA, id)
		if err != nil {
			t.Fatal(err)
		}
	next:
		for _, l := range lines {
			ev, err := recorder.Decode(l)
			if err != nil || ev.Type != typ {
				continue
			}
			for _, s := range texts {
				if !strings.Contains(string(l), s) {
					continue next
				}
			}
			return true
		}
	}
	return false
}

// runCommand is the package's run, for closures that shadow the name.
var runCommand = run
