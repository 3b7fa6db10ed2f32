package recorder

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strconv"
)

// CheckpointMessage is what a checkpoint signs: one text line per field,
// so that it can be rebuilt with printf for an independent check.
// Stream ids never contain a newline (Verify refuses one that does).
func CheckpointMessage(stream string, seq uint64, chainHead string) []byte {
	return []byte("gatehouse-recorder checkpoint v1\n" + stream + "\n" + strconv.FormatUint(seq, 10) + "\n" + chainHead + "\n")
}

// ManifestMessage is what a manifest signs: a fixed prefix, then the
// manifest object's bytes exactly as they stand in the manifest file.
func ManifestMessage(manifest []byte) []byte {
	return append([]byte("gatehouse-recorder manifest v1\n"), manifest...)
}

// signer is a Recorder's Signer with its key's fingerprint.
type signer struct {
	key crypto.Signer
	pub ed25519.PublicKey
	fp  string
}

func newSigner(s crypto.Signer) (*signer, error) {
	if s == nil {
		return nil, nil
	}
	pub, err := SignerPublicKey(s)
	if err != nil {
		return nil, err
	}
	return &signer{key: s, pub: pub, fp: Fingerprint(pub)}, nil
}

// SignerPublicKey is the public key of a recorder signer, which must be
// Ed25519.
func SignerPublicKey(s crypto.Signer) (ed25519.PublicKey, error) {
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("recorder: Signer has a %T public key; it must be Ed25519", s.Public())
	}
	return pub, nil
}

// sign returns the base64 signature of msg. Ed25519 signs the message
// itself, so no hash is given (crypto.Hash(0)).
func (s *signer) sign(msg []byte) (string, error) {
	sig, err := s.key.Sign(rand.Reader, msg, crypto.Hash(0))
	if err != nil {
		return "", fmt.Errorf("recorder: sign: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}
