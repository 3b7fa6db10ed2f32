package recorder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// KeyFile is the recorder key's file name in data_dir.
const KeyFile = "recorder_ed25519"

// keyComment names the key in its file and in FormatPublicKey's output.
const keyComment = "gatehouse-recorder"

// GenerateKey writes a new Ed25519 recorder key to path (mode 0600, the
// OpenSSH private key format, so `ssh-keygen -y -f` prints its public
// key). It refuses to replace an existing file: a lost recorder key makes
// every recording signed with it unverifiable by a new one.
func GenerateKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("recorder: generate key: %w", err)
	}
	block, err := gossh.MarshalPrivateKey(priv, keyComment)
	if err != nil {
		return nil, fmt.Errorf("recorder: encode key: %w", err)
	}
	if err := privatefile.Create(path, pem.EncodeToMemory(block)); err != nil {
		return nil, fmt.Errorf("recorder: write key: %w", err)
	}
	return priv, nil
}

// LoadKey reads a recorder key written by GenerateKey (or by ssh-keygen -t
// ed25519 without a passphrase). Like OpenSSH, it refuses a key file that
// anyone but its owner can read.
func LoadKey(path string) (ed25519.PrivateKey, error) {
	data, err := privatefile.Read(path, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("recorder: key file: %w", err)
	}
	raw, err := gossh.ParseRawPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("recorder: key file %s is not an unencrypted OpenSSH private key: %w", path, err)
	}
	switch k := raw.(type) {
	case ed25519.PrivateKey:
		return k, nil
	case *ed25519.PrivateKey:
		return *k, nil
	}
	return nil, fmt.Errorf("recorder: key file %s holds a %T; the recorder signs with Ed25519 only", path, raw)
}

// LoadOrGenerateKey loads the key at path, generating it first if there is
// none; created says which happened.
func LoadOrGenerateKey(path string) (key ed25519.PrivateKey, created bool, err error) {
	key, err = LoadKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key, err = GenerateKey(path)
	if errors.Is(err, fs.ErrExist) { // another process made it first
		key, err = LoadKey(path)
		return key, false, err
	}
	return key, err == nil, err
}

// FormatPublicKey is the form in which gatehouse shows and accepts a
// recorder public key: an OpenSSH authorized_keys line,
// "ssh-ed25519 AAAAC3Nza… gatehouse-recorder".
func FormatPublicKey(pub ed25519.PublicKey) string {
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		panic("recorder: malformed Ed25519 public key: " + err.Error())
	}
	return string(bytes.TrimSpace(gossh.MarshalAuthorizedKey(k))) + " " + keyComment
}

// Fingerprint names a recorder key in checkpoints and manifests the way
// `ssh-keygen -l` does: "SHA256:" and the unpadded base64 of the SHA-256
// of the key's SSH wire encoding.
func Fingerprint(pub ed25519.PublicKey) string {
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		return "invalid-key"
	}
	return gossh.FingerprintSHA256(k)
}

// PublishedKey is one recorder key as `GET /v1/recorder-keys` serves it.
type PublishedKey struct {
	PublicKey   string `json:"public_key"`  // FormatPublicKey
	Fingerprint string `json:"fingerprint"` // Fingerprint
	// Retired marks a key rotated out (recording.trusted_keys): it
	// verifies recordings made before its rotation and signs nothing.
	Retired bool `json:"retired,omitempty"`
	// NotAfter (RFC 3339), when set, is the last time a retired key may
	// vouch for (TrustedKey.NotAfter).
	NotAfter string `json:"not_after,omitempty"`
}

// PublishedKeys is the body of `GET /v1/recorder-keys`; ParsePublicKeys
// reads it back.
type PublishedKeys struct {
	Keys []PublishedKey `json:"keys"`
	// Console are the console's keys (console.signing_key): they sign
	// console streams only, and ParsePublicKeys leaves them out.
	Console []PublishedKey `json:"console_keys,omitempty"`
}

// Publish describes public keys for `GET /v1/recorder-keys`.
func Publish(keys ...ed25519.PublicKey) PublishedKeys {
	return PublishedKeys{Keys: published(keys)}
}

// WithConsole adds the console's keys to p.
func (p PublishedKeys) WithConsole(keys ...ed25519.PublicKey) PublishedKeys {
	if len(keys) > 0 {
		p.Console = published(keys)
	}
	return p
}

func published(keys []ed25519.PublicKey) []PublishedKey {
	out := make([]PublishedKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, PublishedKey{PublicKey: FormatPublicKey(k), Fingerprint: Fingerprint(k)})
	}
	return out
}

// ParseConsolePublicKeys reads console public keys: from the JSON of
// `GET /v1/recorder-keys`, its console_keys (never its recorder keys);
// otherwise as ParsePublicKeys.
func ParseConsolePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	data = bytes.TrimSpace(data)
	if !bytes.HasPrefix(data, []byte("{")) {
		return ParsePublicKeys(data)
	}
	var pub PublishedKeys
	if err := json.Unmarshal(data, &pub); err != nil {
		return nil, fmt.Errorf("recorder: parse recorder-keys JSON: %w", err)
	}
	if len(pub.Console) == 0 {
		return nil, errors.New("recorder: the recorder-keys JSON names no console key (console_keys)")
	}
	return parsePublished(pub.Console)
}

// ParseTrustedKeys reads recorder public keys as ParsePublicKeys does,
// and from the JSON of `GET /v1/recorder-keys` also which are retired
// and their not_after, so that a verifier fed that JSON holds each key
// to its window. name says where the keys came from, for errors.
func ParseTrustedKeys(data []byte, name string) ([]TrustedKey, error) {
	data = bytes.TrimSpace(data)
	if !bytes.HasPrefix(data, []byte("{")) {
		keys, err := ParsePublicKeys(data)
		var out []TrustedKey
		for _, k := range keys {
			out = append(out, TrustedKey{Key: k, Name: name})
		}
		return out, err
	}
	var pub PublishedKeys
	if err := json.Unmarshal(data, &pub); err != nil {
		return nil, fmt.Errorf("recorder: parse recorder-keys JSON: %w", err)
	}
	var out []TrustedKey
	for _, p := range pub.Keys {
		keys, err := ParsePublicKeys([]byte(p.PublicKey))
		if err != nil {
			return nil, err
		}
		tk := TrustedKey{Key: keys[0], Retired: p.Retired, Name: name + " " + p.Fingerprint}
		if p.NotAfter != "" {
			if tk.NotAfter, err = time.Parse(time.RFC3339Nano, p.NotAfter); err != nil {
				return nil, fmt.Errorf("recorder: key %s: not_after: %w", p.Fingerprint, err)
			}
		}
		out = append(out, tk)
	}
	return out, nil
}

func parsePublished(keys []PublishedKey) ([]ed25519.PublicKey, error) {
	var all []ed25519.PublicKey
	for _, k := range keys {
		parsed, err := ParsePublicKeys([]byte(k.PublicKey))
		if err != nil {
			return nil, err
		}
		all = append(all, parsed...)
	}
	return all, nil
}

// ParsePublicKeys reads recorder public keys in any form gatehouse gives
// them out: authorized_keys lines (one or more), the bare base64 of a raw
// 32-byte Ed25519 key, or the JSON of `GET /v1/recorder-keys`.
func ParsePublicKeys(data []byte) ([]ed25519.PublicKey, error) {
	data = bytes.TrimSpace(data)
	if bytes.HasPrefix(data, []byte("{")) {
		var pub PublishedKeys
		if err := json.Unmarshal(data, &pub); err != nil {
			return nil, fmt.Errorf("recorder: parse recorder-keys JSON: %w", err)
		}
		return parsePublished(pub.Keys)
	}
	if raw, err := base64.StdEncoding.DecodeString(string(data)); err == nil && len(raw) == ed25519.PublicKeySize {
		return []ed25519.PublicKey{ed25519.PublicKey(raw)}, nil
	}
	return parseAuthorizedKeys(data)
}

func parseAuthorizedKeys(data []byte) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for len(bytes.TrimSpace(data)) > 0 {
		k, _, _, rest, err := gossh.ParseAuthorizedKey(data)
		if err != nil {
			return nil, fmt.Errorf("recorder: not a recorder public key (want an ssh-ed25519 authorized_keys line or base64): %w", err)
		}
		ck, ok := k.(gossh.CryptoPublicKey)
		if !ok {
			return nil, fmt.Errorf("recorder: a %s key cannot be a recorder key", k.Type())
		}
		pub, ok := ck.CryptoPublicKey().(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("recorder: a %s key cannot be a recorder key; it must be ssh-ed25519", k.Type())
		}
		keys = append(keys, pub)
		data = rest
	}
	if len(keys) == 0 {
		return nil, errors.New("recorder: no public key given")
	}
	return keys, nil
}
