package masking

import (
	"errors"
	"fmt"
	"sync"
)

// Func names a mask function, as written in a masking policy's columns.
type Func string

// The mask functions; the package documentation describes each.
const (
	FuncRedact Func = "redact"
	FuncEmail  Func = "email"
	FuncLast4  Func = "last4"
	FuncHash   Func = "hash"
	FuncNull   Func = "null"
)

// Funcs returns every mask function, in documentation order.
func Funcs() []Func {
	return []Func{FuncRedact, FuncEmail, FuncLast4, FuncHash, FuncNull}
}

// ParseFunc returns the mask function named s, or an error wrapping
// ErrUnknownFunc.
func ParseFunc(s string) (Func, error) {
	f := Func(s)
	if !f.valid() {
		return "", fmt.Errorf("masking: %w %q", ErrUnknownFunc, s)
	}
	return f, nil
}

func (f Func) valid() bool {
	switch f {
	case FuncRedact, FuncEmail, FuncLast4, FuncHash, FuncNull:
		return true
	}
	return false
}

// MinHashKeySize is the shortest key NewMasker accepts: RFC 2104 §3
// discourages HMAC keys shorter than the hash's output (32 bytes for SHA-256).
const MinHashKeySize = 32

var (
	// ErrUnknownFunc is returned for a mask function name this package does not know.
	ErrUnknownFunc = errors.New("unknown mask function")
	// ErrNoHashKey is returned by hash on a Masker without a key (the zero Masker).
	ErrNoHashKey = errors.New("hash mask needs a key; build the Masker with NewMasker")
)

// redacted is what redact produces, and what Redact puts in place of most
// detected values.
const redacted = "****"

// Masker applies mask functions to field values. It holds the key of the hash
// mask. The zero Masker applies every function except hash, which fails with
// ErrNoHashKey. A Masker is safe for concurrent use and must not be copied
// after first use.
type Masker struct {
	key  []byte
	macs sync.Pool // of *mac, each keyed with key
}

// NewMasker returns a Masker whose hash mask is keyed with hashKey (for
// example from LoadOrCreateHashKey). It refuses a key shorter than
// MinHashKeySize. The key is copied.
func NewMasker(hashKey []byte) (*Masker, error) {
	if len(hashKey) < MinHashKeySize {
		return nil, fmt.Errorf("masking: hash key has %d bytes, want at least %d", len(hashKey), MinHashKeySize)
	}
	return &Masker{key: append([]byte(nil), hashKey...)}, nil
}

// Text masks a text-format field value with fn. value is the field's bytes as
// sent on the wire (never a SQL NULL: a NULL stays NULL and needs no mask).
// isNull reports that the field must be sent as NULL (fn is null); masked is
// then nil. The result is text that need not parse as the column's type
// ("****" for an integer column): see the package documentation.
func (m *Masker) Text(fn Func, value []byte) (masked []byte, isNull bool, err error) {
	return m.AppendText(nil, fn, value)
}

// AppendText is Text appending the masked value to dst, so that a caller
// reusing dst masks without allocating. On isNull or error it returns dst
// unchanged.
func (m *Masker) AppendText(dst []byte, fn Func, value []byte) (masked []byte, isNull bool, err error) {
	switch fn {
	case FuncRedact:
		return append(dst, redacted...), false, nil
	case FuncEmail:
		return appendEmailMask(dst, value), false, nil
	case FuncLast4:
		return appendLast4(dst, value), false, nil
	case FuncHash:
		out, err := m.appendHash(dst, value)
		return out, false, err
	case FuncNull:
		return dst, true, nil
	}
	return dst, false, fmt.Errorf("masking: %w %q", ErrUnknownFunc, string(fn))
}

// Binary masks a binary-format field value of the type typeOID with fn. Where
// the type's binary form is its text (BinaryIsText), the result is Text's,
// which is a correct binary value of that type. Every other type has no masked
// form of the same type, and the field becomes NULL (isNull), as it does for
// the null function. Errors are as Text's, whatever the type.
func (m *Masker) Binary(fn Func, typeOID uint32, value []byte) (masked []byte, isNull bool, err error) {
	return m.AppendBinary(nil, fn, typeOID, value)
}

// AppendBinary is Binary appending the masked value to dst.
func (m *Masker) AppendBinary(dst []byte, fn Func, typeOID uint32, value []byte) (masked []byte, isNull bool, err error) {
	if !fn.valid() {
		return dst, false, fmt.Errorf("masking: %w %q", ErrUnknownFunc, string(fn))
	}
	if fn == FuncHash && len(m.key) == 0 {
		return dst, false, fmt.Errorf("masking: %w", ErrNoHashKey)
	}
	if fn == FuncNull || !BinaryIsText(typeOID) {
		return dst, true, nil
	}
	return m.AppendText(dst, fn, value)
}

// PostgreSQL type OIDs (src/include/catalog/pg_type.dat) whose binary send
// function writes the text bytes unchanged (textsend, varcharsend, bpcharsend,
// namesend, unknownsend).
const (
	oidName    = 19
	oidText    = 25
	oidUnknown = 705
	oidBpchar  = 1042
	oidVarchar = 1043
)

// BinaryIsText reports whether the binary format of the type typeOID is its
// text bytes (text, varchar, bpchar, name, unknown), so that Binary masks it
// as Text does instead of answering NULL.
func BinaryIsText(typeOID uint32) bool {
	switch typeOID {
	case oidText, oidVarchar, oidBpchar, oidName, oidUnknown:
		return true
	}
	return false
}
