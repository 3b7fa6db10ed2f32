package masking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
)

// hashPrefix marks a hashed value, so that a reader never takes it for data.
const hashPrefix = "h:"

// HashLen is the length of every value the hash mask produces: "h:" and the
// 32-byte HMAC-SHA256 in unpadded base64url (RFC 4648 §5).
const HashLen = len(hashPrefix) + 43

// mac is a keyed HMAC with room for its sum, reused through Masker.macs so
// that hashing a value does not allocate.
type mac struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func (m *Masker) appendHash(dst, value []byte) ([]byte, error) {
	if len(m.key) == 0 {
		return dst, fmt.Errorf("masking: %w", ErrNoHashKey)
	}
	x, _ := m.macs.Get().(*mac)
	if x == nil {
		x = &mac{h: hmac.New(sha256.New, m.key)}
	}
	x.h.Reset()
	x.h.Write(value)
	sum := x.h.Sum(x.sum[:0])
	dst = append(dst, hashPrefix...)
	dst = base64.RawURLEncoding.AppendEncode(dst, sum)
	m.macs.Put(x)
	return dst, nil
}
