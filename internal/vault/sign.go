package vault

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// SSHSigner signs certificates with one role of an SSH secrets engine
// mount (POST MOUNT/sign/ROLE). Vault chooses the serial and the validity
// window (now minus the role's not_before_duration, to now plus the TTL).
type SSHSigner struct {
	client      *Client
	mount, role string
	key         gossh.PublicKey // the mount's CA key
}

// NewSSHSigner reads the mount's CA public key (GET MOUNT/public_key).
func NewSSHSigner(ctx context.Context, c *Client, mount, role string) (*SSHSigner, error) {
	key, err := c.caPublicKey(ctx, mount)
	if err != nil {
		return nil, err
	}
	return &SSHSigner{client: c, mount: mount, role: role, key: key}, nil
}

func (c *Client) caPublicKey(ctx context.Context, mount string) (gossh.PublicKey, error) {
	op := "read the SSH CA public key at " + mount + "/public_key"
	resp, err := c.api.Logical().ReadRawWithContext(ctx, mount+"/public_key")
	if err != nil {
		return nil, explain(op, c.cfg.Address, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", op, err)
	}
	key, _, _, _, err := gossh.ParseAuthorizedKey(body)
	if err != nil {
		return nil, &Error{Op: op, Status: resp.StatusCode, Err: err, Fix: fmt.Sprintf(
			"the mount has no CA key: `vault write %s/config/ca generate_signing_key=true key_type=ed25519`", mount)}
	}
	return key, nil
}

// PublicKey is the CA key that verifies this signer's certificates.
func (s *SSHSigner) PublicKey() gossh.PublicKey { return s.key }

// ChoosesSerial tells the CA that the serial of the certificate it asks
// for is Vault's choice, not the template's.
func (s *SSHSigner) ChoosesSerial() bool { return true }

// SignCertificate asks Vault to sign the template's key with its principals,
// key id, extensions, cert type and lifetime (ValidBefore - now). The
// certificate Vault returns is checked against the template, so a role
// that adds extensions (say permit-pty) cannot widen what was asked.
func (s *SSHSigner) SignCertificate(ctx context.Context, tmpl *gossh.Certificate) (*gossh.Certificate, error) {
	op := fmt.Sprintf("sign a %s certificate with %s/sign/%s", certTypeName(tmpl.CertType), s.mount, s.role)
	ttl := time.Until(time.Unix(int64(tmpl.ValidBefore), 0)).Round(time.Second)
	if ttl <= 0 {
		return nil, fmt.Errorf("vault: %s: the requested lifetime has already ended", op)
	}
	req := map[string]any{
		"public_key":       strings.TrimSpace(string(gossh.MarshalAuthorizedKey(tmpl.Key))),
		"valid_principals": strings.Join(tmpl.ValidPrincipals, ","),
		"cert_type":        certTypeName(tmpl.CertType),
		"key_id":           tmpl.KeyId,
		"ttl":              fmt.Sprintf("%ds", int64(ttl/time.Second)),
		// Empty (host certificates) means the role's default_extensions
		// to Vault; check refuses the result if that added any.
		"extensions": orEmpty(tmpl.Extensions),
	}
	if len(tmpl.CriticalOptions) > 0 {
		req["critical_options"] = tmpl.CriticalOptions
	}
	secret, err := s.client.api.Logical().WriteWithContext(ctx, s.mount+"/sign/"+s.role, req)
	if err != nil {
		return nil, explain(op, s.client.cfg.Address, err)
	}
	if secret == nil || secret.Data == nil {
		return nil, fmt.Errorf("vault: %s: empty response", op)
	}
	signed, _ := secret.Data["signed_key"].(string)
	cert, err := parseCert(signed)
	if err != nil {
		return nil, fmt.Errorf("vault: %s: %w", op, err)
	}
	if err := s.check(tmpl, cert); err != nil {
		return nil, &Error{Op: op, Err: err, Fix: fmt.Sprintf(
			"Vault's role %s/roles/%s changed what was asked; remove its default_extensions and default_critical_options (docs/vault.md)", s.mount, s.role)}
	}
	return cert, nil
}

func parseCert(signed string) (*gossh.Certificate, error) {
	pub, _, _, _, err := gossh.ParseAuthorizedKey([]byte(signed))
	if err != nil {
		return nil, fmt.Errorf("parse signed_key: %w", err)
	}
	cert, ok := pub.(*gossh.Certificate)
	if !ok {
		return nil, fmt.Errorf("signed_key is a %s, not a certificate", pub.Type())
	}
	return cert, nil
}

// check verifies that Vault signed exactly what the template asked, with
// this signer's CA key.
func (s *SSHSigner) check(tmpl, cert *gossh.Certificate) error {
	switch {
	case string(cert.Key.Marshal()) != string(tmpl.Key.Marshal()):
		return fmt.Errorf("the certificate certifies another key")
	case string(cert.SignatureKey.Marshal()) != string(s.key.Marshal()):
		return fmt.Errorf("the certificate is signed by %s, not the CA key read from %s/public_key", gossh.FingerprintSHA256(cert.SignatureKey), s.mount)
	case cert.CertType != tmpl.CertType || cert.KeyId != tmpl.KeyId:
		return fmt.Errorf("cert type %d key id %q, asked %d %q", cert.CertType, cert.KeyId, tmpl.CertType, tmpl.KeyId)
	case !slices.Equal(sorted(cert.ValidPrincipals), sorted(tmpl.ValidPrincipals)):
		return fmt.Errorf("principals %v, asked %v", cert.ValidPrincipals, tmpl.ValidPrincipals)
	case !maps.Equal(orEmpty(cert.Extensions), orEmpty(tmpl.Extensions)):
		return fmt.Errorf("extensions %v, asked %v", slices.Sorted(maps.Keys(cert.Extensions)), slices.Sorted(maps.Keys(tmpl.Extensions)))
	case !maps.Equal(orEmpty(cert.CriticalOptions), orEmpty(tmpl.CriticalOptions)):
		return fmt.Errorf("critical options %v, asked %v", cert.CriticalOptions, tmpl.CriticalOptions)
	}
	return nil
}

func certTypeName(t uint32) string {
	if t == gossh.HostCert {
		return "host"
	}
	return "user"
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func sorted(s []string) []string {
	return slices.Sorted(slices.Values(s))
}
