package recorder

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"time"
)

// TrustedKey is one recorder public key a verification trusts.
type TrustedKey struct {
	Key ed25519.PublicKey
	// Retired marks a key rotated out (recording.trusted_keys): it
	// verifies what it signed while it was the recorder key, and signs
	// nothing any more.
	Retired bool
	// NotAfter, when set, is the last time a signature by the key may
	// vouch for: a checkpoint or manifest it signed that covers an event
	// recorded after NotAfter (or a manifest closed after it) fails. The
	// zero time sets no limit.
	NotAfter time.Time
	// Name says where the key came from, for errors (a flag, a file,
	// "recording.trusted_keys[2]").
	Name string
}

// Keyring is the set of recorder keys a verification trusts: the
// current key, and keys rotated out, each perhaps with a NotAfter. Its
// methods verify as the package functions of the same names do (Verify
// is Trust(keys...).Verify); those also honour the windows.
type Keyring struct {
	keys  map[string]TrustedKey // by Fingerprint
	order []string              // fingerprints in the order given
}

// NewKeyring makes a ring of keys. A key given twice must be given the
// same way: one both current and retired, or with two windows, is a
// contradiction in the configuration, refused rather than resolved.
func NewKeyring(keys ...TrustedKey) (*Keyring, error) {
	r := &Keyring{keys: map[string]TrustedKey{}}
	for _, k := range keys {
		if len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("recorder: %s: not an Ed25519 public key", k.Name)
		}
		fp := Fingerprint(k.Key)
		if old, ok := r.keys[fp]; ok {
			if old.Retired != k.Retired || !old.NotAfter.Equal(k.NotAfter) {
				return nil, fmt.Errorf("recorder: %s: key %s is also %s, %s", k.Name, fp, old.Name, describeTrust(old))
			}
			continue
		}
		r.keys[fp] = k
		r.order = append(r.order, fp)
	}
	return r, nil
}

func describeTrust(k TrustedKey) string {
	switch {
	case !k.Retired:
		return "the current recorder key"
	case k.NotAfter.IsZero():
		return "retired without not_after"
	}
	return "retired with not_after " + k.NotAfter.UTC().Format(time.RFC3339)
}

// Trust is a ring of current keys, without windows. Keys that are not
// 32 bytes long are left out (an empty ring verifies nothing).
func Trust(keys ...ed25519.PublicKey) *Keyring {
	var tk []TrustedKey
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize {
			tk = append(tk, TrustedKey{Key: k, Name: "key " + Fingerprint(k)})
		}
	}
	r, _ := NewKeyring(tk...) // same trust for each: no contradiction
	return r
}

// Len is the number of keys in the ring.
func (r *Keyring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.order)
}

// Keys are the ring's keys, in the order given.
func (r *Keyring) Keys() []TrustedKey {
	if r == nil {
		return nil
	}
	out := make([]TrustedKey, 0, len(r.order))
	for _, fp := range r.order {
		out = append(out, r.keys[fp])
	}
	return out
}

// Public are the ring's public keys, in the order given.
func (r *Keyring) Public() []ed25519.PublicKey {
	var out []ed25519.PublicKey
	for _, k := range r.Keys() {
		out = append(out, k.Key)
	}
	return out
}

// Published describes the ring for `GET /v1/recorder-keys` and evidence
// manifests: retired keys say so, with their not_after.
func (r *Keyring) Published() []PublishedKey {
	out := []PublishedKey{}
	for _, k := range r.Keys() {
		p := PublishedKey{PublicKey: FormatPublicKey(k.Key), Fingerprint: Fingerprint(k.Key), Retired: k.Retired}
		if !k.NotAfter.IsZero() {
			p.NotAfter = k.NotAfter.UTC().Format(time.RFC3339Nano)
		}
		out = append(out, p)
	}
	return out
}

// check says why sig by key fp is not a valid signature of msg that
// vouches for events up to at, or "".
func (r *Keyring) check(fp, sig string, msg []byte, at time.Time) string {
	if fp == "" || sig == "" {
		return "not signed"
	}
	k, ok := r.keys[fp]
	if !ok {
		return fmt.Sprintf("signed by key %s, which is not a trusted recorder key (neither the current key nor one of recording.trusted_keys)", fp)
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || !ed25519.Verify(k.Key, msg, raw) {
		return fmt.Sprintf("signature by %s does not verify (the signed content was changed)", fp)
	}
	return r.window(fp, at)
}

// window says why key fp may not vouch for events up to at, or "".
func (r *Keyring) window(fp string, at time.Time) string {
	k := r.keys[fp]
	if k.NotAfter.IsZero() || !at.After(k.NotAfter) {
		return ""
	}
	return fmt.Sprintf("signed by retired key %s (%s), whose not_after is %s, but it vouches for %s: signed after the key was rotated out",
		fp, k.Name, k.NotAfter.UTC().Format(time.RFC3339), at.UTC().Format(time.RFC3339Nano))
}
