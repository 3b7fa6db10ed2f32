package ca

import (
	"crypto/sha256"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/krl"
)

// KRL renders the list as an OpenSSH key revocation list for certificates
// signed by userCA, so that plain sshd servers (RevokedKeys) and
// `ssh-keygen -Q` honour it too.
//
// Serial entries are written as serials and key entries as SHA256 key
// hashes. An identity entry cannot be a KRL key-id entry, which would
// also revoke certificates issued after it, and a KRL cannot say
// "delegated by serial N"; so identity entries, and the agent
// certificates a revoked serial authorised, are written as the serials
// of the certificates they match in issued (the CA's record of its
// issuances) that are still valid at now.
func (l *RevocationList) KRL(userCA gossh.PublicKey, issued []IssuedEvent, now time.Time) ([]byte, error) {
	entries := l.Entries()
	section := krl.CertificateSection{CA: userCA}
	var hashes [][sha256.Size]byte
	for _, r := range entries {
		switch {
		case r.Serial != 0:
			section.Serials = append(section.Serials, r.Serial)
		case r.Key != "":
			h, err := fingerprintHash(r.Key) // checked when the list was read
			if err != nil {
				return nil, err
			}
			hashes = append(hashes, h)
			continue
		}
		for _, c := range MatchIssued(r, issued, now) {
			section.Serials = append(section.Serials, c.Serial)
		}
	}
	k := &krl.KRL{
		Version:       uint64(len(entries)), // the list only grows
		GeneratedDate: now,
		Comment:       "gatehouse revocation list",
		Certificates:  []krl.CertificateSection{section},
		SHA256:        hashes,
	}
	return k.MarshalBinary()
}
