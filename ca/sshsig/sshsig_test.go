package sshsig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

const testNamespace = "agent-certificate@gatehouse"

func signers(t *testing.T) map[string]ssh.Signer {
	t.Helper()
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ssh.Signer{}
	for name, k := range map[string]any{"ed25519": edKey, "ecdsa": ecKey, "rsa": rsaKey} {
		s, err := ssh.NewSignerFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = s
	}
	return out
}

func TestSignVerify(t *testing.T) {
	msg := []byte(`{"agent":"claude"}`)
	others := signers(t)
	for name, s := range signers(t) {
		t.Run(name, func(t *testing.T) {
			blob, err := Sign(rand.Reader, s, testNamespace, msg)
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(s.PublicKey(), testNamespace, msg, blob); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			other := others[name]
			tests := []struct {
				name      string
				pub       ssh.PublicKey
				namespace string
				msg       []byte
				blob      []byte
			}{
				{"other message", s.PublicKey(), testNamespace, []byte(`{"agent":"mallory"}`), blob},
				{"other namespace", s.PublicKey(), "file", msg, blob},
				{"other key", other.PublicKey(), testNamespace, msg, blob},
				{"flipped bit", s.PublicKey(), testNamespace, msg, flip(blob, len(blob)-3)},
				{"truncated", s.PublicKey(), testNamespace, msg, blob[:len(blob)-1]},
				{"trailing data", s.PublicKey(), testNamespace, msg, append(bytes.Clone(blob), 0)},
			}
			for _, tt := range tests {
				if err := Verify(tt.pub, tt.namespace, tt.msg, tt.blob); err == nil {
					t.Errorf("%s: verified", tt.name)
				}
			}
		})
	}
}

func TestRSAUsesSHA2(t *testing.T) {
	s := signers(t)["rsa"]
	blob, err := Sign(rand.Reader, s, testNamespace, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Signature.Format != ssh.KeyAlgoRSASHA512 {
		t.Fatalf("RSA signature format %s, want %s", sig.Signature.Format, ssh.KeyAlgoRSASHA512)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

// armor is the ASCII form ssh-keygen reads and writes (PROTOCOL.sshsig §1).
func armor(blob []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "SSH SIGNATURE", Bytes: blob})
}

func dearmor(t *testing.T, text []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(text)
	if b == nil || b.Type != "SSH SIGNATURE" {
		t.Fatalf("not an armoured SSH signature:\n%s", text)
	}
	return b.Bytes
}

// TestOpenSSHInterop checks our signatures with `ssh-keygen -Y
// check-novalidate` and checks ssh-keygen's own signatures with Verify.
func TestOpenSSHInterop(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Fatal("ssh-keygen is not installed: run `make test-deps` (apt-get install -y openssh-client)")
	}
	dir := t.TempDir()
	msgFile := filepath.Join(dir, "msg")
	msg := []byte("revoke nothing; mint an agent certificate\n")
	writeFile(t, msgFile, msg)
	for name, s := range signers(t) {
		t.Run("ours checked by ssh-keygen/"+name, func(t *testing.T) {
			blob, err := Sign(rand.Reader, s, testNamespace, msg)
			if err != nil {
				t.Fatal(err)
			}
			sigFile := filepath.Join(dir, name+".sig")
			writeFile(t, sigFile, armor(blob))
			cmd := exec.Command("ssh-keygen", "-Y", "check-novalidate", "-n", testNamespace, "-s", sigFile)
			cmd.Stdin = bytes.NewReader(msg)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("ssh-keygen -Y check-novalidate: %v\n%s", err, out)
			}
			cmd = exec.Command("ssh-keygen", "-Y", "check-novalidate", "-n", "file", "-s", sigFile)
			cmd.Stdin = bytes.NewReader(msg)
			if out, err := cmd.CombinedOutput(); err == nil {
				t.Fatalf("ssh-keygen accepted the signature for another namespace:\n%s", out)
			}
		})
	}
	t.Run("ssh-keygen's checked by Verify", func(t *testing.T) {
		key := filepath.Join(dir, "id_ed25519")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", testNamespace, "-f", key, msgFile).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen -Y sign: %v\n%s", err, out)
		}
		armored, err := os.ReadFile(msgFile + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		pubLine, err := os.ReadFile(key + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey(pubLine)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(pub, testNamespace, msg, dearmor(t, armored)); err != nil {
			t.Fatalf("Verify of ssh-keygen's signature: %v", err)
		}
		if err := Verify(pub, testNamespace, []byte(strings.ToUpper(string(msg))), dearmor(t, armored)); err == nil {
			t.Fatal("Verify accepted ssh-keygen's signature for another message")
		}
	})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := ssh.NewSignerFromKey(k)
	blob, _ := Sign(rand.Reader, s, testNamespace, []byte("seed"))
	f.Add(blob)
	f.Add([]byte("SSHSIG"))
	f.Add([]byte("SSHSIG\x00\x00\x00\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, err := Parse(b)
		if err != nil {
			return
		}
		if sig.PublicKey == nil || sig.Signature == nil {
			t.Fatal("Parse succeeded without a key or signature")
		}
		_ = Verify(sig.PublicKey, sig.Namespace, []byte("seed"), b)
	})
}
