//go:build servers

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCASign: an operator mints a certificate without the IdP; it works
// like any other and is recorded, and the CA's refusals are clear.
func testCASign(t *testing.T, w *world, alice profile) {
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	sign := func(args ...string) (string, error) {
		base := []string{"ca", "sign", "--config", w.cfgPath, "--key", key + ".pub", "--identity", "ci@example.com"}
		out, err := exec.Command(w.bin, append(base, args...)...).CombinedOutput()
		return string(out), err
	}

	out, err := sign("--grant", "billing:readonly", "--ttl", "5m")
	if err != nil {
		t.Fatalf("ca sign: %v\n%s", err, out)
	}
	checkCertificate(t, key+"-cert.pub", "ci@example.com", "billing:readonly", 5*time.Minute)
	w.findCAEvent(t, "cert.issued", `"source":"operator"`)

	// The certificate opens a tunnel to billing (which no IdP user is granted here).
	config := w.craftedConfigFor(t, alice, key)
	port, stop := w.startTunnel(t, config, "billing")
	defer stop()
	got, err := psql(t, port, "SELECT count(*) FROM customers")
	if err != nil || got != "2" {
		t.Fatalf("psql through a ca-sign certificate: %q, %v", got, err)
	}

	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"--grant", "billing:readonly", "--ttl", "2h"}, "over the cap of 1h0m0s"},
		{[]string{"--grant", "nosuch:readonly"}, "nosuch:readonly"},
		{[]string{"--grant", "orders"}, "TARGET:ROLE"},
	}
	for _, r := range refusals {
		out, err := sign(r.args...)
		if err == nil {
			t.Errorf("ca sign %v succeeded:\n%s", r.args, out)
			continue
		}
		mustContain(t, "ca sign output", out, r.want)
	}
	w.findCAEvent(t, "cert.refused", "ttl_exceeded")
}

// craftedConfigFor is alice's ssh_config pointed at another key (whose
// certificate sits beside it as KEY-cert.pub).
func (w *world) craftedConfigFor(t *testing.T, real profile, key string) string {
	t.Helper()
	block := w.gatehouseAs(real, "ssh-config", "--profile", real.name)
	block = strings.ReplaceAll(block, real.key(), key)
	path := filepath.Join(filepath.Dir(key), "ssh_config")
	if err := os.WriteFile(path, []byte(block+"  BatchMode yes\n  ConnectTimeout 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testPolicyCheck: the operator's validator explains a good file and names
// the line of a bad one.
func testPolicyCheck(t *testing.T, w *world) {
	out := w.gatehouse("policy", "check", w.cfgPath)
	mustContain(t, "policy check", out, "valid", "members of engineering may receive orders:readonly, rawpg:direct, orders:support for up to 1h0m0s",
		"members of finance may receive billing:readonly for up to 30m0s")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("data_dir: /tmp/x\nssh:\n  listen: 127.0.0.1:2222\n  colour: blue\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := exec.Command(w.bin, "policy", "check", bad).CombinedOutput()
	if err == nil {
		t.Fatalf("policy check accepted an unknown field:\n%s", res)
	}
	mustContain(t, "policy check of a bad file", string(res), "line 4", "colour")
}
