package krl

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/ssh"
)

// Parse reads a KRL of the sections MarshalBinary writes: certificate
// sections with serial lists and key ids, and SHA256 fingerprints. A KRL
// with any other section (serial ranges, bitmaps, explicit keys, SHA1
// fingerprints) is an error rather than read in part, so that a caller
// asking "is this revoked?" never hears "no" for a section it skipped.
func Parse(data []byte) (*KRL, error) {
	r := reader{b: data}
	if r.uint64() != magic {
		return nil, errors.New("krl: not an OpenSSH KRL (bad magic)")
	}
	if v := r.uint32(); v != formatVersion {
		return nil, fmt.Errorf("krl: format version %d, want %d", v, formatVersion)
	}
	k := &KRL{Version: r.uint64()}
	r.uint64() // generated date
	r.uint64() // flags
	r.string() // reserved
	k.Comment = string(r.string())
	for r.err == nil && len(r.b) > 0 {
		typ, data := r.byte(), r.string()
		if r.err != nil {
			break
		}
		if err := k.addSection(typ, data); err != nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return k, nil
}

func (k *KRL) addSection(typ byte, data []byte) error {
	switch typ {
	case sectionCertificates:
		cs, err := parseCertificateSection(data)
		if err != nil {
			return err
		}
		k.Certificates = append(k.Certificates, cs)
	case sectionFingerprintSHA256:
		r := reader{b: data}
		for r.err == nil && len(r.b) > 0 {
			h := r.string()
			if r.err != nil {
				break
			}
			if len(h) != sha256.Size {
				return fmt.Errorf("krl: SHA256 fingerprint of %d bytes", len(h))
			}
			k.SHA256 = append(k.SHA256, [sha256.Size]byte(h))
		}
		return r.err
	default:
		return fmt.Errorf("krl: section type %d is not supported", typ)
	}
	return nil
}

// parseCertificateSection reads PROTOCOL.krl §2: the CA key (empty: any
// CA), a reserved string, then subsections.
func parseCertificateSection(data []byte) (CertificateSection, error) {
	var cs CertificateSection
	r := reader{b: data}
	ca := r.string()
	r.string() // reserved
	if r.err != nil {
		return cs, r.err
	}
	if len(ca) > 0 {
		key, err := ssh.ParsePublicKey(ca)
		if err != nil {
			return cs, fmt.Errorf("krl: certificate section CA key: %w", err)
		}
		cs.CA = key
	}
	for r.err == nil && len(r.b) > 0 {
		typ, sub := r.byte(), r.string()
		if r.err != nil {
			break
		}
		sr := reader{b: sub}
		switch typ {
		case certSectionSerialList:
			for sr.err == nil && len(sr.b) > 0 {
				cs.Serials = append(cs.Serials, sr.uint64())
			}
		case certSectionKeyID:
			for sr.err == nil && len(sr.b) > 0 {
				cs.KeyIDs = append(cs.KeyIDs, string(sr.string()))
			}
		default:
			return cs, fmt.Errorf("krl: certificate subsection type %#x is not supported", typ)
		}
		if sr.err != nil {
			return cs, sr.err
		}
	}
	return cs, r.err
}

// Revokes reports whether the KRL revokes cert: by its serial or KeyId in
// a section for the CA that signed it (or for any CA), or by the hash of
// the key it certifies. The signature is not checked: that is the job
// of whoever trusts the CA.
func (k *KRL) Revokes(cert *ssh.Certificate) bool {
	if slices.Contains(k.SHA256, KeyHash(cert)) {
		return true
	}
	for _, cs := range k.Certificates {
		if cs.CA != nil && !bytes.Equal(cs.CA.Marshal(), cert.SignatureKey.Marshal()) {
			continue
		}
		if slices.Contains(cs.Serials, cert.Serial) || slices.Contains(cs.KeyIDs, cert.KeyId) {
			return true
		}
	}
	return false
}

// reader reads SSH wire types (RFC 4251 §5); the first error sticks and
// every later read returns zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("krl: truncated")

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) byte() byte {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) uint32() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *reader) uint64() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) string() []byte {
	n := r.uint32()
	if uint64(n) > uint64(len(r.b)) {
		if r.err == nil {
			r.err = errShort
		}
		return nil
	}
	return r.take(int(n))
}
