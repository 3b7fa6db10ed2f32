// Package krl writes OpenSSH key revocation lists (KRLs), the binary format
// of PROTOCOL.krl that sshd's RevokedKeys and `ssh-keygen -Q` read.
// golang.org/x/crypto/ssh has no KRL writer. Only what gatehouse needs is
// written: certificate sections (serial lists and key ids) and the SHA256
// fingerprint section for plain keys. KRL signatures are not written:
// OpenSSH 9.4 and later refuse KRLs that carry them (PROTOCOL.krl §6).
package krl

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"golang.org/x/crypto/ssh"
)

// Header and section constants (PROTOCOL.krl §1, §2).
const (
	magic         = 0x5353484b524c0a00 // "SSHKRL\n\0"
	formatVersion = 1

	sectionCertificates      = 1
	sectionFingerprintSHA256 = 5

	certSectionSerialList = 0x20
	certSectionKeyID      = 0x23
)

// KRL is a key revocation list. The zero value is an empty, valid KRL.
type KRL struct {
	// Version is krl_version: it should increase each time the list
	// changes.
	Version uint64
	// GeneratedDate is when the KRL was made; zero writes 0.
	GeneratedDate time.Time
	Comment       string
	// Certificates revoke certificates by the CA that signed them.
	Certificates []CertificateSection
	// SHA256 revokes keys by the SHA-256 of their wire encoding (a
	// certificate is revoked when its certified key is: ssh-keygen -Q and
	// sshd check the certificate's plain key against this section too).
	SHA256 [][sha256.Size]byte
}

// CertificateSection revokes certificates signed by one CA.
type CertificateSection struct {
	// CA is the signing key; nil makes the section apply to every CA.
	CA ssh.PublicKey
	// Serials lists revoked serial numbers. Zero is not a serial that
	// can be revoked: OpenSSH rejects a KRL that lists it.
	Serials []uint64
	// KeyIDs lists revoked key ids: any certificate of CA with one of
	// these exact KeyIds is revoked.
	KeyIDs []string
}

// KeyHash is the value to list in KRL.SHA256 to revoke key: the SHA-256
// of its wire encoding, as in the "SHA256:" fingerprint. A certificate
// is hashed as its plain key.
func KeyHash(key ssh.PublicKey) [sha256.Size]byte {
	if c, ok := key.(*ssh.Certificate); ok {
		key = c.Key
	}
	return sha256.Sum256(key.Marshal())
}

// MarshalBinary renders the KRL. Serials, key ids and hashes are written
// sorted and without duplicates; empty sections are left out.
func (k *KRL) MarshalBinary() ([]byte, error) {
	b := binary.BigEndian.AppendUint64(nil, magic)
	b = binary.BigEndian.AppendUint32(b, formatVersion)
	b = binary.BigEndian.AppendUint64(b, k.Version)
	b = binary.BigEndian.AppendUint64(b, unixSeconds(k.GeneratedDate))
	b = binary.BigEndian.AppendUint64(b, 0) // flags: none are defined
	b = appendString(b, nil)                // reserved
	b = appendString(b, []byte(k.Comment))
	for i, cs := range k.Certificates {
		data, err := cs.marshal()
		if err != nil {
			return nil, fmt.Errorf("krl: certificate section %d: %w", i, err)
		}
		if data != nil {
			b = appendSection(b, sectionCertificates, data)
		}
	}
	if len(k.SHA256) > 0 {
		b = appendSection(b, sectionFingerprintSHA256, hashSection(k.SHA256))
	}
	return b, nil
}

// marshal renders a certificate section's data (PROTOCOL.krl §2): the CA
// key (or an empty string for any CA), the reserved string, then the
// subsections. It returns nil for a section that revokes nothing.
func (cs CertificateSection) marshal() ([]byte, error) {
	serials := slices.Compact(slices.Sorted(slices.Values(cs.Serials)))
	keyIDs := slices.Compact(slices.Sorted(slices.Values(cs.KeyIDs)))
	if len(serials) > 0 && serials[0] == 0 {
		return nil, errors.New("serial 0 cannot be revoked (OpenSSH refuses a KRL listing it)")
	}
	if len(serials) == 0 && len(keyIDs) == 0 {
		return nil, nil
	}
	var ca []byte
	if cs.CA != nil {
		if _, isCert := cs.CA.(*ssh.Certificate); isCert {
			return nil, errors.New("the CA key is a certificate")
		}
		ca = cs.CA.Marshal()
	}
	b := appendString(nil, ca)
	b = appendString(b, nil) // reserved
	if len(serials) > 0 {
		// §2.1: a list of uint64 serials.
		var list []byte
		for _, s := range serials {
			list = binary.BigEndian.AppendUint64(list, s)
		}
		b = appendSection(b, certSectionSerialList, list)
	}
	if len(keyIDs) > 0 {
		// §2.4: a list of strings.
		var ids []byte
		for _, id := range keyIDs {
			ids = appendString(ids, []byte(id))
		}
		b = appendSection(b, certSectionKeyID, ids)
	}
	return b, nil
}

// hashSection renders a fingerprint section (PROTOCOL.krl §4): hashes
// as strings, "in numeric order, treating each hash as a big-endian
// integer", which for equal-length hashes is byte order.
func hashSection(hashes [][sha256.Size]byte) []byte {
	sorted := slices.Clone(hashes)
	slices.SortFunc(sorted, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	sorted = slices.Compact(sorted)
	var b []byte
	for _, h := range sorted {
		b = appendString(b, h[:])
	}
	return b
}

// appendSection appends "byte type, string data", the shape of every KRL
// section and certificate subsection.
func appendSection(b []byte, typ byte, data []byte) []byte {
	return appendString(append(b, typ), data)
}

// appendString appends an SSH string (RFC 4251 §5).
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func unixSeconds(t time.Time) uint64 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return uint64(t.Unix())
}
