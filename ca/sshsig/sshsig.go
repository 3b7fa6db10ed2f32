// Package sshsig signs and verifies messages in OpenSSH's SSHSIG format
// (PROTOCOL.sshsig), the format of `ssh-keygen -Y sign`. A signature is
// made over a namespace and a hash of the message, never over the message
// itself, so a signature made for one purpose cannot be passed off for
// another, nor for an SSH login (whose signed data starts differently).
package sshsig

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/ssh"
)

// The constants of PROTOCOL.sshsig §2 and §3.
const (
	magicPreamble = "SSHSIG"
	sigVersion    = 1

	HashSHA256 = "sha256"
	HashSHA512 = "sha512"
)

// Signature is a decoded SSHSIG blob (PROTOCOL.sshsig §2).
type Signature struct {
	PublicKey     ssh.PublicKey
	Namespace     string
	HashAlgorithm string
	Signature     *ssh.Signature
}

// Sign signs message for namespace with signer and returns the SSHSIG blob
// (the binary form, without the ASCII armour). The message is hashed with
// SHA-512; RSA keys sign with rsa-sha2-512, as §3 requires.
func Sign(rand io.Reader, signer ssh.Signer, namespace string, message []byte) ([]byte, error) {
	if namespace == "" {
		return nil, errors.New("sshsig: empty namespace")
	}
	data := signedData(namespace, HashSHA512, digest(HashSHA512, message))
	var sig *ssh.Signature
	var err error
	if as, ok := signer.(ssh.AlgorithmSigner); ok && signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		sig, err = as.SignWithAlgorithm(rand, data, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = signer.Sign(rand, data)
	}
	if err != nil {
		return nil, fmt.Errorf("sshsig: sign: %w", err)
	}
	var b []byte
	b = append(b, magicPreamble...)
	b = binary.BigEndian.AppendUint32(b, sigVersion)
	b = appendString(b, signer.PublicKey().Marshal())
	b = appendString(b, []byte(namespace))
	b = appendString(b, nil) // reserved
	b = appendString(b, []byte(HashSHA512))
	b = appendString(b, ssh.Marshal(sig))
	return b, nil
}

// Verify checks that blob is a signature of message for namespace by pub.
func Verify(pub ssh.PublicKey, namespace string, message, blob []byte) error {
	s, err := Parse(blob)
	if err != nil {
		return err
	}
	if !bytes.Equal(s.PublicKey.Marshal(), pub.Marshal()) {
		return errors.New("sshsig: signed by another key")
	}
	if s.Namespace != namespace {
		return fmt.Errorf("sshsig: signature is for namespace %q, not %q", s.Namespace, namespace)
	}
	if pub.Type() == ssh.KeyAlgoRSA && s.Signature.Format == ssh.KeyAlgoRSA {
		return errors.New("sshsig: RSA signatures must use rsa-sha2-256 or rsa-sha2-512, not SHA-1")
	}
	data := signedData(namespace, s.HashAlgorithm, digest(s.HashAlgorithm, message))
	if err := pub.Verify(data, s.Signature); err != nil {
		return fmt.Errorf("sshsig: signature does not verify: %w", err)
	}
	return nil
}

// Parse decodes an SSHSIG blob. It checks the layout, not the signature.
func Parse(blob []byte) (*Signature, error) {
	rest, ok := bytes.CutPrefix(blob, []byte(magicPreamble))
	if !ok {
		return nil, errors.New("sshsig: not an SSHSIG blob (no SSHSIG preamble)")
	}
	if len(rest) < 4 {
		return nil, errors.New("sshsig: truncated")
	}
	if v := binary.BigEndian.Uint32(rest); v != sigVersion {
		return nil, fmt.Errorf("sshsig: version %d, want %d", v, sigVersion)
	}
	rest = rest[4:]
	var fields [5][]byte // publickey, namespace, reserved, hash_algorithm, signature
	for i := range fields {
		var err error
		if fields[i], rest, err = readString(rest); err != nil {
			return nil, err
		}
	}
	if len(rest) != 0 {
		return nil, errors.New("sshsig: trailing data")
	}
	return decodeFields(fields)
}

func decodeFields(f [5][]byte) (*Signature, error) {
	pub, err := ssh.ParsePublicKey(f[0])
	if err != nil {
		return nil, fmt.Errorf("sshsig: public key: %w", err)
	}
	if _, isCert := pub.(*ssh.Certificate); isCert {
		return nil, errors.New("sshsig: signed by a certificate, not a plain key")
	}
	hash := string(f[3])
	if hash != HashSHA256 && hash != HashSHA512 {
		return nil, fmt.Errorf("sshsig: unsupported hash algorithm %q", hash)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(f[4], &sig); err != nil {
		return nil, fmt.Errorf("sshsig: signature: %w", err)
	}
	return &Signature{PublicKey: pub, Namespace: string(f[1]), HashAlgorithm: hash, Signature: &sig}, nil
}

// signedData is what the key signs (PROTOCOL.sshsig §3): the preamble, the
// namespace, the reserved field, the hash algorithm and H(message).
func signedData(namespace, hash string, h []byte) []byte {
	var b []byte
	b = append(b, magicPreamble...)
	b = appendString(b, []byte(namespace))
	b = appendString(b, nil)
	b = appendString(b, []byte(hash))
	return appendString(b, h)
}

// digest hashes message with alg, which Parse has limited to the two
// algorithms §2 allows.
func digest(alg string, message []byte) []byte {
	if alg == HashSHA256 {
		h := sha256.Sum256(message)
		return h[:]
	}
	h := sha512.Sum512(message)
	return h[:]
}

// appendString appends an SSH string (RFC 4251 §5): a uint32 length, then
// the bytes.
func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func readString(b []byte) (s, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, errors.New("sshsig: truncated")
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, errors.New("sshsig: truncated")
	}
	return b[4 : 4+n], b[4+n:], nil
}
