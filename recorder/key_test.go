package recorder

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), KeyFile)
	key, created, err := LoadOrGenerateKey(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrGenerateKey: created %v, %v", created, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v", info, err)
	}
	again, created, err := LoadOrGenerateKey(path)
	if err != nil || created || !again.Equal(key) {
		t.Fatalf("second LoadOrGenerateKey: created %v, %v", created, err)
	}
	if _, err := GenerateKey(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("GenerateKey over an existing key: %v", err)
	}
	// ssh-keygen -y would print the same public key.
	data, _ := os.ReadFile(path)
	signer, err := gossh.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	if line := string(gossh.MarshalAuthorizedKey(signer.PublicKey())); !strings.HasPrefix(FormatPublicKey(pub), strings.TrimSpace(line)) {
		t.Fatalf("OpenSSH sees %s, we print %s", line, FormatPublicKey(pub))
	}
	os.Chmod(path, 0o644)
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadKey of a 0644 key: %v", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(matches) != 0 {
		t.Fatalf("temporary files left: %v", matches)
	}
}

func TestParsePublicKeys(t *testing.T) {
	a := testPub()
	b, _, _ := ed25519.GenerateKey(rand.Reader)
	published, _ := json.Marshal(Publish(a, b))
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPub, _ := gossh.NewPublicKey(&ec.PublicKey)
	tests := []struct {
		name, in string
		want     []ed25519.PublicKey
	}{
		{"authorized_keys line", FormatPublicKey(a) + "\n", []ed25519.PublicKey{a}},
		{"two lines and a comment", "# recorder keys\n" + FormatPublicKey(a) + "\n" + FormatPublicKey(b), []ed25519.PublicKey{a, b}},
		{"raw base64", base64.StdEncoding.EncodeToString(a), []ed25519.PublicKey{a}},
		{"recorder-keys JSON", string(published), []ed25519.PublicKey{a, b}},
		{"an ECDSA key", string(gossh.MarshalAuthorizedKey(ecPub)), nil},
		{"garbage", "ssh-ed25519 !!!", nil},
		{"empty", "\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePublicKeys([]byte(tt.in))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("accepted: %v", got)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v", got, err)
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) {
					t.Errorf("key %d differs", i)
				}
			}
		})
	}
}

func TestFingerprintMatchesOpenSSH(t *testing.T) {
	k, _ := gossh.NewPublicKey(testPub())
	if got, want := Fingerprint(testPub()), gossh.FingerprintSHA256(k); got != want || !strings.HasPrefix(got, "SHA256:") {
		t.Fatalf("fingerprint %s, want %s", got, want)
	}
}
