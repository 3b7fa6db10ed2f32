package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestHelpNamesArguments: each command's --help starts with a usage line
// that names its positional arguments, and placeholders are the
// argument's name, not words picked out of the flag's description.
func TestHelpNamesArguments(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"replay", "--help"}, []string{"Usage: gatehouse replay [flags] SESSION"}},
		{[]string{"approve", "--help"}, []string{"Usage: gatehouse approve [flags] ID"}},
		{[]string{"deny", "--help"}, []string{"Usage: gatehouse deny [flags] ID --reason TEXT"}},
		{[]string{"policy", "check", "--help"}, []string{"Usage: gatehouse policy check [flags] [F]"}},
		{[]string{"verify", "--help"}, []string{"(SESSION... | --since T)", "--bundle FILE.zip"}},
		{[]string{"evidence", "--help"}, []string{"--from T --to T", "--out FILE.zip", "-identity", "-since"}},
		{[]string{"login", "--help"}, []string{"-dev TOKEN"}},
		{[]string{"status", "--help"}, []string{"-offline"}},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, code, err := runAudit(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %v", code, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "-dev gatehouse dev") {
				t.Errorf("help shows a description word as the argument:\n%s", out)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, code, err := runAudit(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "gatehouse ") || !strings.Contains(out, "go1.") {
		t.Fatalf("--version: exit %d, %v: %q", code, err, out)
	}
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-05T06:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	if got, want := formatVersion(info), "gatehouse v0.4.0 commit 0123abcd (2026-12-05T06:00:00Z) with uncommitted changes go1.26.8"; got != want {
		t.Errorf("formatVersion = %q, want %q", got, want)
	}
}

// TestStatusExitsNonZero: a certificate that cannot be used makes
// `gatehouse status` fail, saying what to run.
func TestStatusExitsNonZero(t *testing.T) {
	now := time.Now()
	cases := []struct {
		name          string
		after, before time.Time
		args          []string
		wantCode      int
		want          string
	}{
		{"expired", now.Add(-2 * time.Hour), now.Add(-time.Hour), []string{"--offline"}, 1, "run gatehouse login"},
		{"not yet valid", now.Add(time.Hour), now.Add(2 * time.Hour), []string{"--offline"}, 1, "not valid before"},
		{"valid, offline", now.Add(-time.Minute), now.Add(time.Hour), []string{"--offline"}, 0, ""},
		// The profile's server (a closed port) cannot be asked.
		{"valid, server unreachable", now.Add(-time.Minute), now.Add(time.Hour), nil, 1, "cannot reach the gatehouse CA"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			writeProfile(t, tc.after, tc.before)
			out, code, err := runAudit(t, append([]string{"status"}, tc.args...)...)
			if code != tc.wantCode || (tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want))) {
				t.Fatalf("status: exit %d, %v, want exit %d saying %q\n%s", code, err, tc.wantCode, tc.want, out)
			}
			if !strings.Contains(out, "validity:") {
				t.Errorf("status printed no certificate:\n%s", out)
			}
		})
	}
}

// writeProfile writes a default profile with a certificate valid from
// after to before under a fresh $HOME, naming a server nobody listens on.
func writeProfile(t *testing.T, after, before time.Time) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GATEHOUSE_PROFILE", "")
	dir := filepath.Join(home, ".gatehouse", "default")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	_, caKey, _ := ed25519.GenerateKey(rand.Reader)
	ca, _ := ssh.NewSignerFromKey(caKey)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, _ := ssh.NewPublicKey(pub)
	cert := &ssh.Certificate{Key: key, Serial: 9, CertType: ssh.UserCert, KeyId: "alice@example.com",
		ValidPrincipals: []string{"orders:readonly"}, ValidAfter: uint64(after.Unix()), ValidBefore: uint64(before.Unix())}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"id_ed25519-cert.pub": string(ssh.MarshalAuthorizedKey(cert)),
		"profile.json":        `{"server": "http://127.0.0.1:1", "ssh_address": "127.0.0.1:2222", "ssh_host_alias": "gatehouse"}`,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPubkeyMissingFile: a --pubkey path that does not exist is reported
// as a missing file, not as a malformed key.
func TestPubkeyMissingFile(t *testing.T) {
	w := newAuditWorld(t)
	missing := filepath.Join(t.TempDir(), "recorder.pub")
	_, code, err := runAudit(t, "verify", "--dir", w.dir, "--pubkey", missing, w.clean)
	if code == 0 || err == nil || !strings.Contains(err.Error(), "no such file") || strings.Contains(err.Error(), "not a recorder public key") {
		t.Fatalf("verify --pubkey MISSING: exit %d, %v; want a missing-file error", code, err)
	}
	_, _, err = runAudit(t, "verify", "--dir", w.dir, "--pubkey", "ssh-ed25519 AAAAnope", w.clean)
	if err == nil || !strings.Contains(err.Error(), "not a recorder public key") {
		t.Errorf("verify --pubkey 'ssh-ed25519 AAAAnope': %v; want a malformed-key error", err)
	}
}
