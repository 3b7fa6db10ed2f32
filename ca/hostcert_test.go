package ca

import (
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

func TestSignHostKey(t *testing.T) {
	a, rec := newTestAuthority(t)
	hostKey := ed25519Pub(t)
	principals := []string{"gatehouse", "127.0.0.1", "localhost"}
	cert, err := a.SignHostKey(hostKey, principals, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cert.CertType != gossh.HostCert || cert.KeyId != "gatehouse host" || cert.Serial == 0 {
		t.Errorf("type %d key id %q serial %d", cert.CertType, cert.KeyId, cert.Serial)
	}
	if cert.ValidAfter != uint64(testNow.Add(-time.Minute).Unix()) || cert.ValidBefore != uint64(testNow.Add(24*time.Hour).Unix()) {
		t.Errorf("validity %d..%d", cert.ValidAfter, cert.ValidBefore)
	}
	if len(cert.Extensions) != 0 || len(cert.CriticalOptions) != 0 {
		t.Errorf("host certificate carries options %v %v", cert.Extensions, cert.CriticalOptions)
	}
	checker := gossh.CertChecker{
		IsHostAuthority: func(k gossh.PublicKey, _ string) bool {
			return string(k.Marshal()) == string(a.HostSigner.PublicKey().Marshal())
		},
		Clock: func() time.Time { return testNow },
	}
	for _, p := range principals {
		if err := checker.CheckHostKey(p+":22", nil, cert); err != nil {
			t.Errorf("CheckHostKey(%s): %v", p, err)
		}
	}
	if err := checker.CheckHostKey("evil.example.com:22", nil, cert); err == nil {
		t.Error("host certificate valid for a name it does not carry")
	}
	if len(rec.all()) != 0 {
		t.Error("host certificates are not recorded")
	}
}

func TestSignHostKeyRefusals(t *testing.T) {
	a, _ := newTestAuthority(t)
	if _, err := a.SignHostKey(ed25519Pub(t), nil, time.Hour); err == nil {
		t.Error("signed a host certificate without principals (valid for any host)")
	}
	if _, err := a.SignHostKey(ed25519Pub(t), []string{"gatehouse"}, 0); err == nil {
		t.Error("signed with a zero lifetime")
	}
	if _, err := a.SignHostKey(nil, []string{"gatehouse"}, time.Hour); err == nil {
		t.Error("signed a nil key")
	}
	a.HostSigner = nil
	if _, err := a.SignHostKey(ed25519Pub(t), []string{"gatehouse"}, time.Hour); err == nil {
		t.Error("signed without a host signer")
	}
}

func TestHostKnownHostsLine(t *testing.T) {
	ca := ed25519Pub(t)
	line := HostKnownHostsLine(ca, []string{"gatehouse", "[127.0.0.1]:2222"})
	if !strings.HasPrefix(line, "@cert-authority gatehouse,[127.0.0.1]:2222 ssh-ed25519 AAAA") || strings.Contains(line, "\n") {
		t.Errorf("line = %q", line)
	}
	marker, hosts, key, _, _, err := gossh.ParseKnownHosts([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if marker != "cert-authority" || len(hosts) != 2 || string(key.Marshal()) != string(ca.Marshal()) {
		t.Errorf("parsed %q %v %s", marker, hosts, key.Type())
	}
}
