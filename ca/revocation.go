package ca

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/policy"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// RevocationFile is the revocation list's file name in data_dir.
const RevocationFile = "revocations.json"

// Revocation is one entry of the revocation list. Exactly one of Serial,
// Identity and Key is set; it decides what the entry revokes:
//
//   - Serial: the certificate with that serial, and every agent
//     certificate minted on its authority (`gatehouse agent-cert`
//     records the engineer's serial as delegated_by_serial), whenever
//     issued.
//   - Key: every certificate, past or future, for the key with that
//     SHA256 fingerprint ("SHA256:…", as ssh-keygen -l prints it).
//   - Identity: every certificate issued before RevokedAt (to the second)
//     whose KeyId is Identity, or whose KeyId is "Identity via agent:…",
//     compared without regard to case. So "alice@example.com" revokes
//     alice's certificates and those of the agents she delegated to, and
//     "alice@example.com via agent:claude" only that agent's. A
//     certificate issued after the revocation is not affected: the
//     person logs in again, and the identity provider decides.
type Revocation struct {
	Serial    uint64    `json:"serial,omitempty"`
	Identity  string    `json:"identity,omitempty"`
	Key       string    `json:"key,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	RevokedAt time.Time `json:"revoked_at"`
	By        string    `json:"by,omitempty"` // who ran `gatehouse revoke`
}

// maxReasonLen bounds a revocation's reason.
const maxReasonLen = 1024

// agentMarker separates the human from the agent in an agent
// certificate's KeyId (policy.Identity.Name).
const agentMarker = " via agent:"

// Validate checks that exactly one selector is set and well formed.
func (r Revocation) Validate() error {
	n := 0
	for _, set := range []bool{r.Serial != 0, r.Identity != "", r.Key != ""} {
		if set {
			n++
		}
	}
	switch {
	case n != 1:
		return errors.New("a revocation names exactly one of a serial, an identity or a key")
	case r.RevokedAt.IsZero():
		return errors.New("a revocation needs its time")
	case r.Key != "":
		if _, err := fingerprintHash(r.Key); err != nil {
			return err
		}
	case r.Identity != "" && !printable(r.Identity, 256):
		return errors.New("the identity must be at most 256 printable characters")
	}
	if !printable(r.Reason, maxReasonLen) {
		return fmt.Errorf("the reason must be at most %d printable characters", maxReasonLen)
	}
	return nil
}

// String names what the entry revokes.
func (r Revocation) String() string {
	switch {
	case r.Serial != 0:
		return fmt.Sprintf("serial %d", r.Serial)
	case r.Key != "":
		return "key " + r.Key
	default:
		return fmt.Sprintf("identity %q", r.Identity)
	}
}

// fingerprintHash decodes "SHA256:base64" (unpadded, as OpenSSH and
// gossh.FingerprintSHA256 print it) to the 32-byte hash.
func fingerprintHash(fp string) ([32]byte, error) {
	var h [32]byte
	b64, ok := strings.CutPrefix(fp, "SHA256:")
	raw, err := base64.RawStdEncoding.DecodeString(b64)
	if !ok || err != nil || len(raw) != len(h) {
		return h, fmt.Errorf("key fingerprint %q: want SHA256:… as `ssh-keygen -l -f KEY` prints it", fp)
	}
	copy(h[:], raw)
	return h, nil
}

// CertFacts are what revocation looks at in a certificate, or in the CA's
// record of one it issued.
type CertFacts struct {
	Serial            uint64
	KeyID             string
	KeyFingerprint    string // SHA256:… of the certified key
	DelegatedBySerial uint64
	// IssuedAt is when the CA signed it: ValidAfter plus the backdating
	// the CA applies (clockSkew).
	IssuedAt time.Time
}

// FactsOf reads a certificate's facts. A certificate without a readable
// identity extension has no DelegatedBySerial.
func FactsOf(cert *gossh.Certificate) CertFacts {
	f := CertFacts{
		Serial:         cert.Serial,
		KeyID:          cert.KeyId,
		KeyFingerprint: gossh.FingerprintSHA256(cert.Key),
		IssuedAt:       time.Unix(int64(min(cert.ValidAfter, 1<<62)), 0).Add(clockSkew),
	}
	if ext, ok := cert.Extensions[policy.IdentityExtension]; ok {
		if id, err := policy.DecodeIdentity(ext); err == nil {
			f.DelegatedBySerial = id.DelegatedBySerial
		}
	}
	return f
}

// Facts are the facts of the certificate the event records.
func (e IssuedEvent) Facts() CertFacts {
	return CertFacts{
		Serial:            e.Serial,
		KeyID:             e.KeyID,
		KeyFingerprint:    e.KeyFingerprint,
		DelegatedBySerial: e.Identity.DelegatedBySerial,
		IssuedAt:          e.ValidAfter.Add(clockSkew),
	}
}

// Matches reports whether the entry revokes a certificate with facts f
// (see Revocation for the rules).
func (r Revocation) Matches(f CertFacts) bool {
	switch {
	case r.Serial != 0:
		return f.Serial == r.Serial || f.DelegatedBySerial == r.Serial
	case r.Key != "":
		return f.KeyFingerprint == r.Key
	case r.Identity != "":
		return identityMatches(r.Identity, f.KeyID) && !f.IssuedAt.After(r.RevokedAt)
	}
	return false
}

// identityMatches reports whether name is the KeyId, or the human part of
// an agent certificate's KeyId.
func identityMatches(name, keyID string) bool {
	if strings.EqualFold(name, keyID) {
		return true
	}
	human, _, isAgent := strings.Cut(keyID, agentMarker)
	return isAgent && strings.EqualFold(name, human)
}

// Recorded is the cert.revoked event of r: the entry, and the
// certificates in the CA's record, still valid, that it revokes
// (MatchIssued; an entry may match none yet).
func (r Revocation) Recorded(matched []RevokedCertificate) event.CertRevoked {
	return event.CertRevoked{Revocation: event.Revocation(r), Matched: matched}
}

// RevokedCertificate names one certificate a revocation covers.
type RevokedCertificate = event.RevokedCertificate

// MatchIssued lists the certificates of issued, still valid at now, that r
// revokes.
func MatchIssued(r Revocation, issued []IssuedEvent, now time.Time) []RevokedCertificate {
	out := []RevokedCertificate{}
	for _, e := range issued {
		if e.ValidBefore.After(now) && r.Matches(e.Facts()) {
			out = append(out, RevokedCertificate{Serial: e.Serial, KeyID: e.KeyID, ValidBefore: e.ValidBefore})
		}
	}
	return out
}

// DecodeIssued reads the data of a recorded cert.issued event.
func DecodeIssued(data json.RawMessage) (IssuedEvent, error) {
	var e IssuedEvent
	err := json.Unmarshal(data, &e)
	return e, err
}

// AgentKeyRevocations are the entries that go with r: revoking an agent
// certificate by serial also revokes its key, so that the agent is
// stopped, not just one certificate of its key (another, minted from a
// replayed or repeated request for the same key, would otherwise work).
// An agent key is made for its certificate (`gatehouse agent-cert`
// generates one per run), so nothing else is lost. issued is the CA's
// record; entries other than serial ones give none.
func AgentKeyRevocations(r Revocation, issued []IssuedEvent) []Revocation {
	if r.Serial == 0 {
		return nil
	}
	reason := fmt.Sprintf("the key of agent certificate serial %d, revoked by serial", r.Serial)
	if withWhy := r.Reason + " (" + reason + ")"; r.Reason != "" && len(withWhy) <= maxReasonLen {
		reason = withWhy
	}
	var out []Revocation
	for _, e := range issued {
		if e.Serial != r.Serial || e.Identity.Agent == "" || e.KeyFingerprint == "" {
			continue
		}
		out = append(out, Revocation{
			Key:       e.KeyFingerprint,
			Reason:    reason,
			RevokedAt: r.RevokedAt,
			By:        r.By,
		})
	}
	return out
}
