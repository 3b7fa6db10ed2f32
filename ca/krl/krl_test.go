package krl

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// cert signs a user certificate for a fresh key.
func cert(t *testing.T, ca ssh.Signer, serial uint64, keyID string) *ssh.Certificate {
	t.Helper()
	c := &ssh.Certificate{
		Key: newSigner(t).PublicKey(), Serial: serial, CertType: ssh.UserCert, KeyId: keyID,
		ValidPrincipals: []string{"orders:readonly"},
		ValidAfter:      uint64(time.Now().Add(-time.Minute).Unix()),
		ValidBefore:     uint64(time.Now().Add(time.Hour).Unix()),
	}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return c
}

// keygenQ asks `ssh-keygen -Q` whether the KRL revokes key: OpenSSH's own
// reading of the file is the test of the writer.
func keygenQ(t *testing.T, krlBytes []byte, key ssh.PublicKey) bool {
	t.Helper()
	dir := t.TempDir()
	krlFile, keyFile := filepath.Join(dir, "krl"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(krlFile, krlBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, ssh.MarshalAuthorizedKey(key), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh-keygen", "-Q", "-f", krlFile, keyFile).CombinedOutput()
	text := string(out)
	switch {
	case strings.Contains(text, "REVOKED"):
		if err == nil {
			t.Fatalf("ssh-keygen -Q said REVOKED but exited 0:\n%s", text)
		}
		return true
	case err == nil && strings.Contains(text, ": ok"):
		return false
	}
	t.Fatalf("ssh-keygen -Q could not read the KRL: %v\n%s", err, text)
	return false
}

func TestKRLAgainstSSHKeygen(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is not installed: run `make test-deps` (apt-get install -y openssh-client)")
	}
	ca, otherCA := newSigner(t), newSigner(t)
	bySerial := cert(t, ca, 1001, "alice@example.com")
	bySerial2 := cert(t, ca, 1<<63+7, "bob@example.com")
	notListed := cert(t, ca, 1002, "alice@example.com")
	byKeyID := cert(t, ca, 2001, "carol@example.com via agent:claude")
	otherCAsSerial := cert(t, otherCA, 1001, "alice@example.com")
	anyCAKeyID := cert(t, otherCA, 3001, "mallory@example.com")
	byKeyCert := cert(t, ca, 4001, "dave@example.com")
	plainKey := newSigner(t).PublicKey()

	k := &KRL{
		Version:       3,
		GeneratedDate: time.Now(),
		Comment:       "gatehouse test",
		Certificates: []CertificateSection{
			{CA: ca.PublicKey(), Serials: []uint64{1<<63 + 7, 1001, 1001, 42}, KeyIDs: []string{"carol@example.com via agent:claude"}},
			{CA: nil, KeyIDs: []string{"mallory@example.com"}},
			{CA: otherCA.PublicKey()}, // empty: left out
		},
		SHA256: [][sha256.Size]byte{KeyHash(plainKey), KeyHash(byKeyCert), KeyHash(plainKey)},
	}
	data, err := k.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     ssh.PublicKey
		revoked bool
	}{
		{"serial listed", bySerial, true},
		{"high serial listed", bySerial2, true},
		{"serial not listed, same key id", notListed, false},
		{"key id listed", byKeyID, true},
		{"listed serial of another CA", otherCAsSerial, false},
		{"key id listed for any CA", anyCAKeyID, true},
		{"certificate of a revoked key", byKeyCert, true},
		{"plain key revoked by hash", plainKey, true},
		{"plain key not listed", newSigner(t).PublicKey(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keygenQ(t, data, tt.key); got != tt.revoked {
				t.Errorf("ssh-keygen -Q: revoked = %v, want %v", got, tt.revoked)
			}
		})
	}
}

func TestEmptyKRL(t *testing.T) {
	data, err := (&KRL{}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// magic, format version, krl_version, generated_date, flags, two empty strings.
	if len(data) != 8+4+8+8+8+4+4 || binary.BigEndian.Uint64(data) != magic {
		t.Fatalf("empty KRL is %d bytes: %x", len(data), data)
	}
	if _, err := exec.LookPath("ssh-keygen"); err == nil && keygenQ(t, data, newSigner(t).PublicKey()) {
		t.Fatal("the empty KRL revokes a key")
	}
}

func TestSerialZeroRefused(t *testing.T) {
	k := &KRL{Certificates: []CertificateSection{{CA: newSigner(t).PublicKey(), Serials: []uint64{5, 0}}}}
	if _, err := k.MarshalBinary(); err == nil {
		t.Fatal("a KRL revoking serial 0 was written")
	}
}
