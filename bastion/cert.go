package bastion

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/policy"
)

// sourceAddress is the one critical option gatehouse understands
// (OpenSSH PROTOCOL.certkeys, "Critical options").
const sourceAddress = "source-address"

// permitPortForwarding is the extension without which sshd refuses a
// certificate's direct-tcpip channels (PROTOCOL.certkeys, "Extensions";
// sshd's auth_options: an absent permit-* extension denies).
const permitPortForwarding = "permit-port-forwarding"

// maxBackdate is how far before its issuance a certificate's ValidAfter
// may lie: gatehouse's CA backdates by a minute, Vault's SSH engine by its
// not_before_duration (30s by default). A certificate's whole lifetime may
// exceed ca.max_ttl by this much and no more.
const maxBackdate = 5 * time.Minute

// Hints appended to refusals shown to the client.
const (
	hintLogin   = "gatehouse accepts only user certificates from its CA: run `gatehouse login`"
	hintRenew   = "run `gatehouse login` for a new certificate"
	hintClock   = "check the clocks of this machine and of gatehouse"
	hintContact = "ask the gatehouse operator"
)

// credential is what a connection proved at authentication.
type credential struct {
	cert     *gossh.Certificate
	identity policy.Identity
}

// certChecker decides which keys may authenticate.
type certChecker struct {
	authorities []gossh.PublicKey
	// skew is allowed before ValidAfter only: the CA backdates ValidAfter
	// for clocks that lag, and nothing is allowed after ValidBefore.
	skew      time.Duration
	maxTTL    time.Duration // ca.max_ttl: the longest lifetime any certificate may have
	isRevoked func(*gossh.Certificate) bool
}

// check accepts key if it is a user certificate signed by one of the
// authorities, no longer-lived than ca.max_ttl allows, valid at now (with
// the skew allowed before its start only), not revoked, usable from
// remote, and carrying a gatehouse identity. A refusal is a *refusal.
func (c certChecker) check(key gossh.PublicKey, remote net.Addr, now time.Time) (*credential, error) {
	cert, ok := key.(*gossh.Certificate)
	switch {
	case !ok:
		return nil, refuseKey(key, "not a certificate", hintLogin)
	case cert.CertType != gossh.UserCert:
		return nil, refuseKey(key, "host certificate, not a user certificate", hintLogin)
	case !c.isAuthority(cert.SignatureKey):
		return nil, refuseKey(key, "certificate signed by an unknown authority "+gossh.FingerprintSHA256(cert.SignatureKey), hintLogin)
	}
	checks := []func() *refusal{
		func() *refusal { return checkShape(cert) },
		func() *refusal { return checkSignature(cert) },
		func() *refusal { return c.checkCurrent(cert, now) },
		func() *refusal { return c.checkLifetime(cert) },
		func() *refusal { return checkCriticalOptions(cert, remote) },
	}
	for _, check := range checks {
		if r := check(); r != nil {
			return nil, r
		}
	}
	ext, ok := cert.Extensions[policy.IdentityExtension]
	if !ok {
		return nil, refuseKey(cert, "certificate has no "+policy.IdentityExtension+" extension", hintLogin)
	}
	id, err := policy.DecodeIdentity(ext)
	if err != nil {
		return nil, refuseKey(cert, err.Error(), hintLogin)
	}
	return &credential{cert: cert, identity: id}, nil
}

func (c certChecker) isAuthority(k gossh.PublicKey) bool {
	b := k.Marshal()
	return slices.ContainsFunc(c.authorities, func(a gossh.PublicKey) bool { return bytes.Equal(a.Marshal(), b) })
}

// checkShape refuses certificates whose fields cannot describe a usable
// grant: no principals, a validity period that never ends (gatehouse's
// grants are short-lived by definition), or one that is empty or beyond
// what a signed 64-bit Unix time holds.
func checkShape(cert *gossh.Certificate) *refusal {
	switch {
	case principalOf(cert) == "":
		return refuseKey(cert, "certificate has no principals, so it grants no targets", hintLogin)
	case cert.ValidBefore == gossh.CertTimeInfinity:
		return refuseKey(cert, "certificate never expires; gatehouse accepts only short-lived certificates", hintLogin)
	case cert.ValidAfter > math.MaxInt64 || cert.ValidBefore > math.MaxInt64 || cert.ValidBefore <= cert.ValidAfter:
		return refuseKey(cert, "certificate has an invalid validity period", hintLogin)
	}
	return nil
}

// checkLifetime refuses a certificate valid for longer than any this
// gatehouse issues (ca.max_ttl, plus the CA's backdating): a key signed
// for a year by mistake or by a stolen CA key is not a short-lived grant.
// checkShape has bounded both ends.
func (c certChecker) checkLifetime(cert *gossh.Certificate) *refusal {
	lifetime := time.Duration(cert.ValidBefore-cert.ValidAfter) * time.Second
	if c.maxTTL > 0 && lifetime > c.maxTTL+maxBackdate {
		return refuseKey(cert, fmt.Sprintf("certificate is valid for %s, longer than ca.max_ttl (%s) allows", lifetime, c.maxTTL), hintLogin)
	}
	return nil
}

// checkSignature verifies the authority's signature on cert.
//
// x/crypto offers this check only inside CertChecker.CheckCert, which
// also wants a principal that the certificate lists and judges validity
// against its Clock. Our principals are grants (TARGET:ROLE), not SSH user
// names, and validity is judged by checkCurrent with the configured skew,
// so CheckCert is given values that pass those parts (a principal taken
// from the certificate, a clock at the start of its validity, every
// critical option present) and judges only the signature. This keeps the
// signed-bytes layout (PROTOCOL.certkeys) inside x/crypto rather than
// reproduced here.
func checkSignature(cert *gossh.Certificate) *refusal {
	validFrom := time.Unix(int64(cert.ValidAfter), 0) // checkShape: fits in int64
	checker := gossh.CertChecker{
		Clock:                    func() time.Time { return validFrom },
		SupportedCriticalOptions: slices.Collect(maps.Keys(cert.CriticalOptions)),
	}
	if err := checker.CheckCert(principalOf(cert), cert); err != nil {
		return refuseKey(cert, "certificate signature does not verify", hintLogin)
	}
	return nil
}

// checkCurrent refuses certificates outside their validity period or
// revoked. The skew is allowed before ValidAfter only: a certificate is
// never accepted at or after its ValidBefore, as OpenSSH's sshd does not
// (PROTOCOL.certkeys: valid "before" that time), since the grant it
// carries ends then.
func (c certChecker) checkCurrent(cert *gossh.Certificate, now time.Time) *refusal {
	validFrom := time.Unix(int64(cert.ValidAfter), 0).UTC()
	if now.Add(c.skew).Before(validFrom) {
		return refuseKey(cert, "certificate is not yet valid (valid from "+validFrom.Format(time.RFC3339)+")", hintClock)
	}
	switch until, ok := validBefore(cert); {
	case !ok:
		return refuseKey(cert, "certificate never expires; gatehouse accepts only short-lived certificates", hintLogin)
	case !now.Before(until):
		return refuseKey(cert, "certificate expired at "+until.Format(time.RFC3339), hintRenew)
	}
	if c.isRevoked(cert) {
		return refuseKey(cert, fmt.Sprintf("certificate serial %d is revoked", cert.Serial), hintContact)
	}
	return nil
}

// validBefore is the end of the certificate's validity; false if it has none.
func validBefore(cert *gossh.Certificate) (time.Time, bool) {
	if cert.ValidBefore == gossh.CertTimeInfinity || cert.ValidBefore > math.MaxInt64 {
		return time.Time{}, false
	}
	return time.Unix(int64(cert.ValidBefore), 0).UTC(), true
}

// checkCriticalOptions honours source-address and refuses any other
// critical option: by definition (PROTOCOL.certkeys) a server must refuse
// a certificate whose critical options it does not understand.
// force-command and verify-required are among those: gatehouse runs no
// commands and cannot check FIDO user verification.
func checkCriticalOptions(cert *gossh.Certificate, remote net.Addr) *refusal {
	for _, name := range slices.Sorted(maps.Keys(cert.CriticalOptions)) {
		if name != sourceAddress {
			return refuseKey(cert, fmt.Sprintf("certificate has unsupported critical option %q", name), hintContact)
		}
	}
	list, ok := cert.CriticalOptions[sourceAddress]
	if !ok {
		return nil
	}
	if err := checkSourceAddress(remote, list); err != nil {
		return refuseKey(cert, err.Error(), "")
	}
	return nil
}

// checkSourceAddress reports whether the client's address is in list, a
// comma-separated list of addresses and CIDR prefixes. The whole list is
// parsed before any entry is matched: like sshd (match_addr_list returns
// -1 on a bad entry, and authentication fails), one invalid entry makes
// the certificate unusable, wherever it sits in the list.
func checkSourceAddress(remote net.Addr, list string) error {
	prefixes, err := parseSourceAddress(list)
	if err != nil {
		return err
	}
	if remote == nil {
		return fmt.Errorf("source-address %q cannot be checked: client address unknown", list)
	}
	ap, err := netip.ParseAddrPort(remote.String())
	if err != nil {
		return fmt.Errorf("source-address %q cannot be checked against client address %s", list, remote)
	}
	client := ap.Addr().Unmap()
	if slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(client) }) {
		return nil
	}
	return fmt.Errorf("client address %s is not allowed by the certificate's source-address %q", client, list)
}

// parseSourceAddress parses every entry of a source-address list, with
// IPv4-mapped IPv6 prefixes turned into IPv4 ones.
func parseSourceAddress(list string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for entry := range strings.SplitSeq(list, ",") {
		entry = strings.TrimSpace(entry)
		var prefix netip.Prefix
		var err error
		if strings.Contains(entry, "/") {
			prefix, err = netip.ParsePrefix(entry)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(entry)
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			return nil, fmt.Errorf("certificate has an invalid source-address entry %q", entry)
		}
		if prefix.Addr().Is4In6() && prefix.Bits() >= 96 {
			prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
		}
		prefixes = append(prefixes, prefix)
	}
	return prefixes, nil
}

// principalOf returns a non-empty principal of cert, or "".
func principalOf(cert *gossh.Certificate) string {
	for _, p := range cert.ValidPrincipals {
		if p != "" {
			return p
		}
	}
	return ""
}

// refuseKey describes a refused key for the record and for the client.
func refuseKey(key gossh.PublicKey, reason, hint string) *refusal {
	msg := fmt.Sprintf("gatehouse: refused %s: %s", describeKey(key), reason)
	if hint != "" {
		msg += "; " + hint
	}
	return &refusal{reason: reason, message: msg}
}

func describeKey(key gossh.PublicKey) string {
	cert, ok := key.(*gossh.Certificate)
	if !ok {
		return "key " + gossh.FingerprintSHA256(key)
	}
	return fmt.Sprintf("certificate %q (key %s)", cert.KeyId, gossh.FingerprintSHA256(cert.Key))
}
