package ca

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// HostKeyID is the KeyId of the bastion's host certificate.
const HostKeyID = "gatehouse host"

// SignHostKey certifies the bastion's host key for the given principals
// (host names and addresses clients dial, e.g. "gatehouse", "127.0.0.1",
// "localhost") for ttl. Host certificates are not recorded: they grant no
// access, and the bastion signs its own at start before any recording
// stream need exist.
func (a *Authority) SignHostKey(pub gossh.PublicKey, principals []string, ttl time.Duration) (*gossh.Certificate, error) {
	switch {
	case a.hostCA() == nil:
		return nil, errors.New("ca: sign host key: authority has no HostSigner or HostCA")
	case pub == nil:
		return nil, errors.New("ca: sign host key: no public key")
	case len(principals) == 0:
		// A certificate without principals is valid for every host name
		// (PROTOCOL.certkeys), which would let this key impersonate any
		// host that trusts the host CA.
		return nil, errors.New("ca: sign host key: at least one principal is required")
	case ttl <= 0:
		return nil, fmt.Errorf("ca: sign host key: lifetime %s must be positive", ttl)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := a.now()
	cert := &gossh.Certificate{
		Key:             pub,
		Serial:          serial,
		CertType:        gossh.HostCert,
		KeyId:           HostKeyID,
		ValidPrincipals: append([]string(nil), principals...),
		ValidAfter:      unixSeconds(now.Add(-clockSkew)),
		ValidBefore:     unixSeconds(now.Add(ttl)),
	}
	// The host certificate is signed once, at start, before anything
	// could cancel it; the signer's own timeouts bound the wait.
	signed, err := a.hostCA().SignCertificate(context.Background(), cert)
	if err != nil {
		return nil, fmt.Errorf("ca: sign host key: %w", err)
	}
	return signed, nil
}

// HostKnownHostsLine is the known_hosts line that makes OpenSSH trust
// host certificates signed by hostCA for the given host patterns, e.g.
// "@cert-authority gatehouse,127.0.0.1 ssh-ed25519 AAAA…". Patterns are
// written as given: a host on a port other than 22 is "[host]:port"
// (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT).
func HostKnownHostsLine(hostCA gossh.PublicKey, patterns []string) string {
	key := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(hostCA)))
	return "@cert-authority " + strings.Join(patterns, ",") + " " + key
}
