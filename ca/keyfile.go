package ca

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// GenerateKeyFile creates a new Ed25519 key at path, in OpenSSH's private
// key format with mode 0600, and returns it as a signer. It never replaces
// an existing file: losing a CA key silently would orphan every trust
// anchor that names it.
func GenerateKeyFile(path string) (gossh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ca: generate key for %s: %w", path, err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "gatehouse "+filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("ca: encode key for %s: %w", path, err)
	}
	if err := privatefile.Create(path, pem.EncodeToMemory(block)); errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("ca: %s already exists; refusing to overwrite a key (move it away first if you really mean to replace it)", path)
	} else if err != nil {
		return nil, fmt.Errorf("ca: write key file %s: %w", path, err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("ca: key %s: %w", path, err)
	}
	return signer, nil
}

// maxKeyFileSize bounds what is read as a key: a key is a few hundred
// bytes, and a wrong path should not read a disk image.
const maxKeyFileSize = 64 << 10

// LoadKeyFile reads an OpenSSH private key written by GenerateKeyFile (or
// ssh-keygen without a passphrase). Like OpenSSH, it refuses a key file
// that anyone but its owner can access.
func LoadKeyFile(path string) (gossh.Signer, error) {
	data, err := privatefile.Read(path, maxKeyFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ca: key file %s does not exist; create it with `gatehouse ca init`: %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: key file: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(data)
	var missing *gossh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("ca: key file %s is encrypted with a passphrase, which gatehouse does not support", path)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: key file %s is not an OpenSSH private key: %w", path, err)
	}
	return signer, nil
}
