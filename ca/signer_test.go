package ca

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// serialChoosingSigner signs like Vault: it picks the serial and validity
// itself, whatever the template says.
type serialChoosingSigner struct {
	key    gossh.Signer
	serial uint64
	err    error
}

func (s *serialChoosingSigner) PublicKey() gossh.PublicKey { return s.key.PublicKey() }
func (s *serialChoosingSigner) ChoosesSerial() bool        { return true }

func (s *serialChoosingSigner) SignCertificate(ctx context.Context, tmpl *gossh.Certificate) (*gossh.Certificate, error) {
	if s.err != nil {
		return nil, s.err
	}
	c := *tmpl
	c.Serial = s.serial
	c.ValidAfter = tmpl.ValidAfter + 30 // Vault backdates by its role's not_before_duration instead
	return KeySigner{s.key}.SignCertificate(ctx, &c)
}

// TestSignerChoosesSerial: with a signer that picks the serial, the
// certificate, the recorded issuance and revocation all use its serial,
// and the identity extension (signed before the serial was known) says 0.
func TestSignerChoosesSerial(t *testing.T) {
	rec := &fakeRecorder{}
	vault := &serialChoosingSigner{key: newSigner(t), serial: 0x88e6a07e6f942cf8}
	a := &Authority{UserCA: vault, Policy: loadTestPolicy(t), Record: rec, Clock: func() time.Time { return testNow }}
	cert, err := a.IssueOperator(context.Background(), Request{
		Identity: alice(), PublicKey: newSigner(t).PublicKey(),
		Grants: []string{"orders:readonly"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if cert.Serial != vault.serial {
		t.Fatalf("serial %x, want the signer's %x", cert.Serial, vault.serial)
	}
	ext, err := policy.DecodeIdentity(cert.Extensions[policy.IdentityExtension])
	if err != nil || ext.Serial != 0 {
		t.Errorf("identity extension serial %d (%v), want 0", ext.Serial, err)
	}
	ev := rec.last(t)
	if ev.Type != event.TypeCertIssued || strings.Count(string(ev.Raw), fmt.Sprintf(`"serial":%d`, vault.serial)) != 2 {
		t.Errorf("recorded %s %s, want the signer's serial", ev.Type, ev.Raw)
	}
	if !(Revocation{Serial: vault.serial}).Matches(FactsOf(cert)) {
		t.Error("a revocation of the signer's serial does not match the certificate")
	}
}

// TestSignerFailureRecorded: a signer's refusal refuses the issuance, is
// recorded, and keeps the signer's explanation for the operator.
func TestSignerFailureRecorded(t *testing.T) {
	rec := &fakeRecorder{}
	why := errors.New("vault: sign: ttl is larger than maximum allowed 28800 (raise max_ttl)")
	a := &Authority{UserCA: &serialChoosingSigner{key: newSigner(t), err: why}, Policy: loadTestPolicy(t), Record: rec}
	_, err := a.IssueOperator(context.Background(), Request{
		Identity: alice(), PublicKey: newSigner(t).PublicKey(), Grants: []string{"orders:readonly"},
	})
	var e *Error
	if !errors.As(err, &e) || e.Code != caapi.CodeInternal || !errors.Is(err, why) {
		t.Fatalf("err = %v, want an internal error wrapping the signer's", err)
	}
	if ev := rec.last(t); ev.Type != event.TypeCertRefused || !strings.Contains(string(ev.Raw), "raise max_ttl") {
		t.Errorf("recorded %s %s", ev.Type, ev.Raw)
	}
}

func TestHostCertificateThroughSigner(t *testing.T) {
	vault := &serialChoosingSigner{key: newSigner(t), serial: 7}
	a := &Authority{HostCA: vault, Clock: func() time.Time { return testNow }}
	cert, err := a.SignHostKey(newSigner(t).PublicKey(), []string{"gatehouse"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Serial != 7 || cert.CertType != gossh.HostCert {
		t.Errorf("serial %d type %d", cert.Serial, cert.CertType)
	}
}
