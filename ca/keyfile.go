package ca

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	gossh "golang.org/x/crypto/ssh"
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
	if err := writeNewFile(path, pem.EncodeToMemory(block)); err != nil {
		return nil, err
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("ca: key %s: %w", path, err)
	}
	return signer, nil
}

// writeNewFile writes data to a file that must not exist yet (O_EXCL),
// removing it again if the write does not complete.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("ca: %s already exists; refusing to overwrite a key (move it away first if you really mean to replace it)", path)
	}
	if err != nil {
		return fmt.Errorf("ca: create key file: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("ca: write key file %s: %w", path, err)
	}
	return nil
}

// LoadKeyFile reads an OpenSSH private key written by GenerateKeyFile (or
// ssh-keygen without a passphrase). Like OpenSSH, it refuses a key file
// that anyone but its owner can access.
func LoadKeyFile(path string) (gossh.Signer, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("ca: key file %s does not exist; create it with `gatehouse ca init`: %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("ca: open key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("ca: key file %s: %w", path, err)
	}
	// Windows has no group/other permission bits to check.
	if perm := info.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("ca: key file %s is accessible by group or others (mode %04o); run `chmod 600 %s`", path, perm, path)
	}
	data, err := readLimited(f, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("ca: read key file %s: %w", path, err)
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

// readLimited reads all of f, refusing files larger than limit: a key is
// a few hundred bytes, and a wrong path should not read a disk image.
func readLimited(f *os.File, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes, so not a key", limit)
	}
	return data, nil
}
