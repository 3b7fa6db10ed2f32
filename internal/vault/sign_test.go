package vault

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

const capturedIdentity = `{"sub":"08a8","email":"alice@example.com"}`

// capturedTemplate is the certificate the ssh-sign-ok capture asked for.
func capturedTemplate(t *testing.T) *gossh.Certificate {
	b, err := os.ReadFile("testdata/vault-1.21.4/ssh-sign-userkey.pub")
	if err != nil {
		t.Fatal(err)
	}
	key, _, _, _, err := gossh.ParseAuthorizedKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return &gossh.Certificate{
		Key: key, CertType: gossh.UserCert, KeyId: "alice@example.com",
		ValidPrincipals: []string{"orders:readonly", "analytics:readonly"},
		ValidBefore:     uint64(time.Now().Add(2 * time.Minute).Unix()),
		Permissions: gossh.Permissions{Extensions: map[string]string{
			"permit-port-forwarding": "", "identity@gatehouse": capturedIdentity,
		}},
	}
}

func newSigner(t *testing.T, f *fakeVault, role string) *SSHSigner {
	t.Helper()
	f.on("GET /v1/ssh/public_key", "ssh-public-key")
	s, err := NewSSHSigner(context.Background(), f.client(t), "ssh", role)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSignUserCertificate(t *testing.T) {
	f := newFakeVault(t).on("POST /v1/ssh/sign/gatehouse", "ssh-sign-ok")
	s := newSigner(t, f, "gatehouse")
	cert, err := s.SignCertificate(context.Background(), capturedTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	if cert.Serial != 0x88e6a07e6f942cf8 {
		t.Errorf("serial %x, want Vault's 88e6a07e6f942cf8", cert.Serial)
	}
	if got := cert.Extensions["identity@gatehouse"]; got != capturedIdentity {
		t.Errorf("identity extension %q", got)
	}
	// What gatehouse sent is what the real Vault accepted in the capture
	// (the TTL spelled in seconds rather than "2m").
	reqs := f.requests()
	sent := reqs[len(reqs)-1].Body
	want := capturedRequest(t, "ssh-sign-ok")
	for k, v := range want {
		got := sent[k]
		if k == "public_key" {
			v = strings.TrimSuffix(v.(string), " root@vm") // the capture's key comment
		}
		if k == "ttl" {
			d1, _ := time.ParseDuration(v.(string))
			d2, _ := time.ParseDuration(got.(string))
			if d1.Round(time.Minute) != d2.Round(time.Minute) {
				t.Errorf("ttl %v, captured %v", got, v)
			}
			continue
		}
		if !jsonEqual(got, v) {
			t.Errorf("%s: sent %#v, captured %#v", k, got, v)
		}
	}
	if reqs[len(reqs)-1].Token != "root" {
		t.Errorf("token %q not sent", reqs[len(reqs)-1].Token)
	}
}

func TestSignRefusesWhatWasNotAsked(t *testing.T) {
	f := newFakeVault(t).on("POST /v1/ssh/sign/gatehouse", "ssh-sign-ok")
	s := newSigner(t, f, "gatehouse")
	tmpl := capturedTemplate(t)
	delete(tmpl.Extensions, "permit-port-forwarding") // Vault's answer has it: as if the role added it
	_, err := s.SignCertificate(context.Background(), tmpl)
	if err == nil || !strings.Contains(err.Error(), "default_extensions") {
		t.Fatalf("err = %v, want a refusal naming default_extensions", err)
	}
}

// TestSignRefusals: each of Vault's refusals tells the operator what to
// change in Vault.
func TestSignRefusals(t *testing.T) {
	for _, tc := range []struct {
		exchange string
		certType uint32
		wantFix  string
	}{
		{"ssh-sign-ttl-over-max", gossh.UserCert, "max_ttl is 28800s: raise it with `vault write ssh/roles/gatehouse max_ttl=...`"},
		{"ssh-sign-bad-ext", gossh.UserCert, "add identity@gatehouse to allowed_extensions of the Vault role: `vault write ssh/roles/gatehouse"},
		{"ssh-sign-bad-role", gossh.UserCert, `Vault has no role "nosuchrole"`},
		{"ssh-sign-bad-token", gossh.UserCert, "token is expired or revoked"},
		{"ssh-sign-keyid-not-allowed", gossh.UserCert, "`vault write ssh/roles/gatehouse allow_user_key_ids=true"},
		{"ssh-sign-host-not-allowed", gossh.HostCert, "allow_host_certificates=true"},
	} {
		t.Run(tc.exchange, func(t *testing.T) {
			f := newFakeVault(t).on("POST /v1/ssh/sign/gatehouse", tc.exchange)
			s := newSigner(t, f, "gatehouse")
			tmpl := capturedTemplate(t)
			tmpl.CertType = tc.certType
			_, err := s.SignCertificate(context.Background(), tmpl)
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *vault.Error", err)
			}
			if !strings.Contains(ve.Fix, tc.wantFix) {
				t.Errorf("fix %q\nwant it to contain %q", ve.Fix, tc.wantFix)
			}
			if ve.Status < 400 || len(ve.Reasons) == 0 {
				t.Errorf("status %d reasons %v: Vault's own words are lost", ve.Status, ve.Reasons)
			}
		})
	}
}

func TestPermissionDenied(t *testing.T) {
	err := explain("sign a user certificate with ssh/sign/gatehouse", "x", &apiError403)
	if !strings.Contains(err.Error(), "lacks a policy") {
		t.Errorf("%v", err)
	}
}

func TestCAPublicKey(t *testing.T) {
	f := newFakeVault(t)
	s := newSigner(t, f, "gatehouse")
	want := "SHA256:" // any fingerprint: the capture's key parsed
	if got := gossh.FingerprintSHA256(s.PublicKey()); !strings.HasPrefix(got, want) {
		t.Errorf("fingerprint %q", got)
	}
	if _, err := NewSSHSigner(context.Background(), f.client(t), "nosuch", "r"); err == nil || !strings.Contains(err.Error(), "nosuch/public_key") {
		t.Errorf("a mount Vault does not have: err = %v", err)
	}
}

func TestVaultUnreachable(t *testing.T) {
	f := newFakeVault(t)
	c := f.client(t)
	f.srv.Close()
	_, err := NewSSHSigner(context.Background(), c, "ssh", "gatehouse")
	var ve *Error
	if !errors.As(err, &ve) || !ve.Unreachable() || !strings.Contains(ve.Fix, "did not answer") {
		t.Fatalf("err = %v, want an unreachable *vault.Error", err)
	}
}
