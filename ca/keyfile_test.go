package ca

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

func TestGenerateAndLoadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca_ed25519")
	gen, err := GenerateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if gen.PublicKey().Type() != gossh.KeyAlgoED25519 {
		t.Errorf("key type %s", gen.PublicKey().Type())
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && info.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", info.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	if block, _ := pem.Decode(data); block == nil || block.Type != "OPENSSH PRIVATE KEY" {
		t.Errorf("not an OpenSSH private key PEM:\n%s", data)
	}
	loaded, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(loaded.PublicKey().Marshal()) != string(gen.PublicKey().Marshal()) {
		t.Error("loaded key differs from the generated one")
	}
}

func TestGenerateKeyFileRefusesToOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ca_ed25519")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := GenerateKeyFile(path)
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one saying %s already exists", err, path)
	}
	if data, _ := os.ReadFile(path); string(data) != "precious" {
		t.Error("existing file was changed")
	}
}

func TestGenerateKeyFileMissingDir(t *testing.T) {
	if _, err := GenerateKeyFile(filepath.Join(t.TempDir(), "no", "such", "dir", "key")); err == nil {
		t.Fatal("no error for a missing directory")
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	good := pem.EncodeToMemory(block)
	encBlock, err := gossh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"missing", filepath.Join(dir, "absent"), []string{"absent", "does not exist", "gatehouse ca init"}},
		{"world readable", write("open", good, 0o644), []string{"open", "group or others", "chmod 600"}},
		{"group readable", write("group", good, 0o640), []string{"group", "chmod 600"}},
		{"not a key", write("garbage", []byte("hello"), 0o600), []string{"garbage", "not an OpenSSH private key"}},
		{"encrypted", write("encrypted", pem.EncodeToMemory(encBlock), 0o600), []string{"encrypted", "passphrase"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if runtime.GOOS == "windows" && strings.Contains(tt.name, "readable") {
				t.Skip("no permission bits on windows")
			}
			s, err := LoadKeyFile(tt.path)
			if err == nil {
				t.Fatalf("loaded %v", s.PublicKey().Type())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file error %v is not fs.ErrNotExist", err)
	}
}
