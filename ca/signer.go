package ca

import (
	"context"
	"crypto/rand"
	"fmt"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
)

// CertSigner signs the certificates the CA builds: a key it holds
// (KeySigner, ca.signer.file) or a service that holds it, such as Vault's
// SSH secrets engine (ca.signer.vault, wired in by cmd/gatehouse).
type CertSigner interface {
	// PublicKey is the CA key that verifies the certificates.
	PublicKey() gossh.PublicKey
	// SignCertificate signs tmpl: its key, cert type, key id, principals,
	// extensions, and a lifetime ending at ValidBefore. It returns the
	// certificate as issued, which is what the CA records.
	SignCertificate(ctx context.Context, tmpl *gossh.Certificate) (*gossh.Certificate, error)
}

// serialChooser is the optional ability of a signer that picks the serial
// itself (Vault does), so the template's serial is not the certificate's.
type serialChooser interface{ ChoosesSerial() bool }

func choosesSerial(s CertSigner) bool {
	c, ok := s.(serialChooser)
	return ok && c.ChoosesSerial()
}

// KeySigner signs with a CA key held in memory: the template is signed
// exactly as built, serial and validity included.
type KeySigner struct{ Signer gossh.Signer }

func (k KeySigner) PublicKey() gossh.PublicKey { return k.Signer.PublicKey() }

func (k KeySigner) SignCertificate(_ context.Context, tmpl *gossh.Certificate) (*gossh.Certificate, error) {
	cert := *tmpl
	if err := cert.SignCert(rand.Reader, k.Signer); err != nil {
		return nil, fmt.Errorf("sign with %s: %w", gossh.FingerprintSHA256(k.Signer.PublicKey()), err)
	}
	return &cert, nil
}

// userCA is the signer of user certificates: UserCA, else UserSigner's key.
func (a *Authority) userCA() CertSigner {
	if a.UserCA != nil {
		return a.UserCA
	}
	if a.UserSigner != nil {
		return KeySigner{a.UserSigner}
	}
	return nil
}

// hostCA is the signer of host certificates: HostCA, else HostSigner's key.
func (a *Authority) hostCA() CertSigner {
	if a.HostCA != nil {
		return a.HostCA
	}
	if a.HostSigner != nil {
		return KeySigner{a.HostSigner}
	}
	return nil
}

// signerError is a signer's failure as the CA reports it: the caller hears
// that nothing was issued; the cause, which for Vault says what to change
// in Vault, goes to the server log and the cert.refused record.
func signerError(who string, err error) *Error {
	return &Error{
		Code:    caapi.CodeInternal,
		Message: "the certificate authority could not sign (nothing was issued); tell the gatehouse operator, whose log says why",
		Status:  statusFor(caapi.CodeInternal),
		Err:     fmt.Errorf("ca: sign for %s: %w", who, err),
	}
}
