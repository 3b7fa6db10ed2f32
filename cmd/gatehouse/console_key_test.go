package main

import (
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestConsoleKeySignsConsoleStreamsOnly: the console signs its streams
// with console.signing_key, not the recorder key; verify trusts that key
// (from data_dir, or --console-pubkey) for console streams and for
// nothing else, so a session a broken-in console signs fails; `recorder
// pubkey --console` prints it; and the recorder key is refused as the
// console's.
func TestConsoleKeySignsConsoleStreamsOnly(t *testing.T) {
	config, dir := linkConfig(t, "")
	if out, code, err := runAudit(t, "console", "link", "--config", config, "--identity", "ext", "--ttl", "1h"); code != 0 {
		t.Fatalf("console link: exit %d: %v\n%s", code, err, out)
	}
	if _, err := recorderKey(&policy.Config{DataDir: dir}); err != nil { // serve makes it on its first start
		t.Fatal(err)
	}
	recorderPub, consolePub := mustPub(t, dir), keyPub(t, filepath.Join(dir, policy.DefaultConsoleSigningKey))
	if recorderPub.Equal(consolePub) {
		t.Fatal("the console key is the recorder key")
	}
	recordings := filepath.Join(dir, "recordings")
	forged := forgeSession(t, recordings, filepath.Join(dir, policy.DefaultConsoleSigningKey))

	consoleLine := recorder.FormatPublicKey(consolePub)
	for _, tc := range []struct {
		name string
		args []string
		code int
		has  string
	}{
		{"console streams, keys of --config", []string{"--config", config, "--kind", "console", "--since", "1h"}, 0, "1 verified, 0 incomplete, 0 failed"},
		{"console streams, the recorder key alone", []string{"--dir", recordings, "--pubkey", recorder.FormatPublicKey(recorderPub), "--kind", "console", "--since", "1h"}, 1, "FAILED"},
		{"console streams, --console-pubkey", []string{"--dir", recordings, "--pubkey", recorder.FormatPublicKey(recorderPub), "--console-pubkey", consoleLine, "--kind", "console", "--since", "1h"}, 0, "1 verified"},
		{"a session the console key signed, keys of --config", []string{"--config", config, forged}, 1, "FAILED      " + forged},
		{"a session the console key signed, --console-pubkey", []string{"--dir", recordings, "--pubkey", recorder.FormatPublicKey(recorderPub), "--console-pubkey", consoleLine, forged}, 1, "FAILED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code, err := runAudit(t, append([]string{"verify"}, tc.args...)...)
			if code != tc.code || !strings.Contains(out, tc.has) {
				t.Errorf("exit %d (%v), want %d with %q:\n%s", code, err, tc.code, tc.has, out)
			}
		})
	}

	out, code, err := runAudit(t, "recorder", "pubkey", "--config", config, "--console")
	if code != 0 || strings.TrimSpace(out) != consoleLine {
		t.Errorf("recorder pubkey --console: exit %d (%v): %q, want %q", code, err, out, consoleLine)
	}
	same, _ := linkConfig(t, "console:\n  signing_key: "+recorder.KeyFile+"\n")
	if out, code, err := runAudit(t, "console", "link", "--config", same, "--identity", "ext"); code == 0 || err == nil ||
		!strings.Contains(err.Error(), "console.signing_key: "+filepath.Join(filepath.Dir(same), recorder.KeyFile)+" is the recorder key") {
		t.Errorf("console link with the recorder key as console.signing_key: exit %d (%v)\n%s", code, err, out)
	}
}

func keyPub(t *testing.T, path string) ed25519.PublicKey {
	t.Helper()
	key, err := recorder.LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return key.Public().(ed25519.PublicKey)
}

// forgeSession writes a closed session stream signed with the key at
// keyPath, as a console that was broken into could, and returns its id.
func forgeSession(t *testing.T, dir, keyPath string) string {
	t.Helper()
	key, err := recorder.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := (&recorder.Recorder{Store: recorder.FileStore{Dir: dir}, Signer: key}).Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "10.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return st.ID
}
