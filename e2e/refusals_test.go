//go:build servers

package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// craftedProfile writes a key and a certificate shaped by edit (signed by
// signer; nil signer means a plain key with no certificate) and returns an
// ssh_config like the real profile's but using them.
func (w *world) craftedProfile(t *testing.T, real profile, signer ssh.Signer, edit func(*ssh.Certificate)) string {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pemBlock, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "id_ed25519"), pemEncode(pemBlock))
	sshPub, _ := ssh.NewPublicKey(pub)
	if signer != nil {
		now := time.Now()
		var serial [8]byte
		rand.Read(serial[:])
		id := policy.Identity{Subject: "mallory", Email: "alice@example.com", Issuer: w.idp.Issuer, Serial: binary.BigEndian.Uint64(serial[:])}
		cert := &ssh.Certificate{
			Key: sshPub, Serial: id.Serial, CertType: ssh.UserCert, KeyId: "alice@example.com",
			ValidPrincipals: []string{"orders:readonly"},
			ValidAfter:      uint64(now.Add(-time.Minute).Unix()), ValidBefore: uint64(now.Add(time.Hour).Unix()),
			Permissions: ssh.Permissions{Extensions: map[string]string{
				"permit-port-forwarding": "", policy.IdentityExtension: id.Encode()}},
		}
		edit(cert)
		if err := cert.SignCert(rand.Reader, signer); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "id_ed25519-cert.pub"), ssh.MarshalAuthorizedKey(cert))
	}
	block := w.gatehouseAs(real, "ssh-config", "--profile", real.name)
	block = strings.ReplaceAll(block, filepath.Join(real.dir(), "id_ed25519"), filepath.Join(dir, "id_ed25519"))
	if signer == nil {
		block = dropLine(block, "CertificateFile")
	}
	path := filepath.Join(dir, "ssh_config")
	writeFile(t, path, []byte(block+"  BatchMode yes\n  ConnectTimeout 10\n"))
	return path
}

func dropLine(text, prefix string) string {
	var keep []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), prefix) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

type refusal struct {
	name       string
	config     func(t *testing.T) string // ssh_config to use
	args       []string                  // ssh arguments after -F CONFIG
	env        []string
	wantClient []string   // what the client must show
	eventType  event.Type // the recorded refusal
	eventText  []string
}

func testRefusals(t *testing.T, w *world, alice profile) {
	userCA, err := ca.LoadKeyFile(filepath.Join(w.dataDir, "ca_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	_, foreignKey, _ := ed25519.GenerateKey(rand.Reader)
	foreign, _ := ssh.NewSignerFromKey(foreignKey)
	crafted := func(signer ssh.Signer, edit func(*ssh.Certificate)) func(*testing.T) string {
		return func(t *testing.T) string { return w.craftedProfile(t, alice, signer, edit) }
	}
	aliceCfg := func(*testing.T) string { return w.sshConfig(alice) }
	pg := w.pg.Port
	denied := "Permission denied (publickey)"
	prohibited := "administratively prohibited"
	agentSock := startAgent(t)

	cases := []refusal{
		{"expired certificate", crafted(userCA, func(c *ssh.Certificate) {
			c.ValidAfter, c.ValidBefore = uint64(time.Now().Add(-3*time.Hour).Unix()), uint64(time.Now().Add(-2*time.Hour).Unix())
		}), []string{"-N", "gatehouse"}, nil, []string{denied}, "auth.failure", []string{"expired"}},
		{"not yet valid certificate", crafted(userCA, func(c *ssh.Certificate) {
			c.ValidAfter, c.ValidBefore = uint64(time.Now().Add(2*time.Hour).Unix()), uint64(time.Now().Add(3*time.Hour).Unix())
		}), []string{"-N", "gatehouse"}, nil, []string{denied}, "auth.failure", []string{"not yet valid"}},
		{"foreign CA", crafted(foreign, func(*ssh.Certificate) {}),
			[]string{"-N", "gatehouse"}, nil, []string{denied}, "auth.failure", []string{"authority"}},
		{"source-address not matching", crafted(userCA, func(c *ssh.Certificate) {
			c.CriticalOptions = map[string]string{"source-address": "10.9.9.9/32"}
		}), []string{"-N", "gatehouse"}, nil, []string{denied}, "auth.failure", []string{"source-address"}},
		{"plain key without certificate", crafted(nil, nil),
			[]string{"-N", "gatehouse"}, nil, []string{denied}, "auth.failure", []string{"certificate"}},
		{"password", aliceCfg, []string{"-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "PubkeyAuthentication=no", "-N", "gatehouse"},
			nil, []string{denied}, "auth.failure", []string{"none"}},
		{"principal for another target", aliceCfg, []string{"-W", fmt.Sprintf("billing:%d", pg), "gatehouse"},
			nil, []string{prohibited, `no grant for target "billing"`}, "channel.refused", []string{"billing"}},
		{"unknown target name", aliceCfg, []string{"-W", fmt.Sprintf("nosuch:%d", pg), "gatehouse"},
			nil, []string{prohibited, "nosuch"}, "channel.refused", []string{"nosuch"}},
		{"IP address as destination", aliceCfg, []string{"-W", fmt.Sprintf("127.0.0.1:%d", pg), "gatehouse"},
			nil, []string{prohibited, "address"}, "channel.refused", []string{"127.0.0.1"}},
		{"other host name as destination", aliceCfg, []string{"-W", "db.internal:5432", "gatehouse"},
			nil, []string{prohibited, "db.internal"}, "channel.refused", []string{"db.internal"}},
		{"wrong port", aliceCfg, []string{"-W", "orders:22", "gatehouse"},
			nil, []string{prohibited, "port"}, "channel.refused", []string{"orders", "22"}},
		{"shell", aliceCfg, []string{"-T", "gatehouse"},
			nil, []string{"shell access is not allowed"}, "request.refused", []string{"shell"}},
		{"exec", aliceCfg, []string{"gatehouse", "id"},
			nil, []string{"not allowed"}, "request.refused", []string{"exec", "id"}},
		{"pty", aliceCfg, []string{"-tt", "gatehouse"},
			nil, []string{"PTY allocation request failed"}, "request.refused", []string{"pty-req"}},
		{"remote forward", aliceCfg, []string{"-o", "ExitOnForwardFailure=yes", "-N", "-R", "0:127.0.0.1:1", "gatehouse"},
			nil, []string{"remote port forwarding failed"}, "request.refused", []string{"tcpip-forward"}},
		{"agent forwarding", aliceCfg, []string{"-A", "gatehouse", "true"},
			[]string{"SSH_AUTH_SOCK=" + agentSock}, []string{"not allowed"}, "request.refused", []string{"auth-agent-req@openssh.com"}},
	}
	w.checkRefusals(t, cases)
}

// checkRefusals runs stock ssh for each case: it must fail, show the
// client what the case wants, and record the refusal.
func (w *world) checkRefusals(t *testing.T, cases []refusal) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			config := tc.config(t)
			before := w.sessionIDs(t)
			cmd := exec.Command("ssh", sshArgs(config, tc.args...)...)
			cmd.Env = append(append(os.Environ(), "SSH_AUTH_SOCK="), tc.env...)
			cmd.Stdin = nil
			out, err := runWithTimeout(cmd, 30*time.Second)
			if err == nil {
				t.Fatalf("ssh %v succeeded; output:\n%s", tc.args, out)
			}
			mustContain(t, "ssh output", out, tc.wantClient...)
			events := w.newSessionEvents(t, before)
			findEvent(t, events, tc.eventType, tc.eventText...)
			if tc.eventType == "auth.failure" {
				for _, ev := range events {
					if ev.Type == "auth.success" {
						t.Errorf("refused login recorded auth.success: %s", ev.Data)
					}
				}
			}
		})
	}
}

func runWithTimeout(cmd *exec.Cmd, d time.Duration) (string, error) {
	var b strings.Builder
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return b.String(), err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return b.String(), fmt.Errorf("timed out after %s", d)
	}
}

// startAgent serves an in-memory ssh-agent on a unix socket, so that `ssh
// -A` has an agent to (try to) forward.
func startAgent(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	keyring := agent.NewKeyring()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				agent.ServeAgent(keyring, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return sock
}
