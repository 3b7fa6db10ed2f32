package ca

import (
	"crypto/rsa"
	"fmt"
	"slices"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
)

// minRSABits is the smallest RSA key the CA signs (NIST SP 800-57 part 1
// puts 3072 bits at the 128-bit security level).
const minRSABits = 3072

// maxFieldLen bounds the free-text identity fields a client may set.
const maxFieldLen = 128

// validateRequest is the first stage: everything that can be judged from
// the request alone.
func validateRequest(req Request, sources []string) error {
	if !slices.Contains(sources, req.Source) {
		return asError(fmt.Errorf("ca: request source %q, want one of %s", req.Source, strings.Join(sources, ", ")))
	}
	if req.PublicKey == nil {
		return refusal(caapi.CodeInvalidRequest, "a public key is required")
	}
	if err := checkKeyType(req.PublicKey); err != nil {
		return err
	}
	id := req.Identity
	if id.Subject == "" || id.Issuer == "" {
		return refusal(caapi.CodeInvalidRequest, "the identity has no subject or issuer, so the certificate could not name who it is for")
	}
	// The identity becomes the KeyId and the identity extension, which
	// logs, the console and ssh show to people.
	if err := id.Validate(); err != nil {
		return refusal(caapi.CodeInvalidRequest, "the identity cannot go into a certificate: "+err.Error())
	}
	if req.TTL < 0 {
		return refusal(caapi.CodeInvalidRequest, fmt.Sprintf("the TTL %s is negative", req.TTL))
	}
	if id.Agent != "" && !validAgentName(id.Agent) {
		return refusal(caapi.CodeInvalidRequest, fmt.Sprintf("agent name %q: use up to 64 letters, digits, '.', '-' and '_'", id.Agent))
	}
	for _, f := range []struct{ name, value string }{
		{"request_id", id.RequestID}, {"ticket_id", id.TicketID}, {"run_id", id.RunID},
	} {
		if !printable(f.value, maxFieldLen) {
			return refusal(caapi.CodeInvalidRequest, fmt.Sprintf("%s: at most %d printable characters", f.name, maxFieldLen))
		}
	}
	return nil
}

// checkKeyType accepts Ed25519, ECDSA and RSA of at least minRSABits.
func checkKeyType(pub gossh.PublicKey) error {
	if _, ok := pub.(*gossh.Certificate); ok {
		return refusal(caapi.CodeKeyType, "the public key is a certificate; send the plain public key (the .pub file without -cert)")
	}
	switch pub.Type() {
	case gossh.KeyAlgoED25519, gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384, gossh.KeyAlgoECDSA521:
		return nil
	case gossh.KeyAlgoRSA:
		if bits := rsaBits(pub); bits < minRSABits {
			return refusal(caapi.CodeKeyType, fmt.Sprintf("RSA keys need at least %d bits, this one has %d; use ssh-keygen -t ed25519", minRSABits, bits))
		}
		return nil
	default:
		return refusal(caapi.CodeKeyType, fmt.Sprintf("keys of type %s are not signed; use ed25519 (ssh-keygen -t ed25519), ecdsa, or rsa of %d bits or more", pub.Type(), minRSABits))
	}
}

func rsaBits(pub gossh.PublicKey) int {
	cpk, ok := pub.(gossh.CryptoPublicKey)
	if !ok {
		return 0
	}
	rk, ok := cpk.CryptoPublicKey().(*rsa.PublicKey)
	if !ok || rk.N == nil {
		return 0
	}
	return rk.N.BitLen()
}

// validAgentName keeps agent names readable in KeyId ("… via agent:NAME")
// and in logs: no spaces, no control characters.
func validAgentName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

func printable(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}
