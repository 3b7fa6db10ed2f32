package masking

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// HashKeySize is the size of the keys LoadOrCreateHashKey makes.
const HashKeySize = 32

// LoadOrCreateHashKey returns the hash mask's key kept in the file at path
// (in data_dir), making one of HashKeySize random bytes there first if there
// is no such file, so that hashes stay the same across restarts. The file
// holds the key as 32 raw bytes (as made here) or as 64 hexadecimal digits
// with an optional trailing newline (`openssl rand -hex 32`); several bastion
// replicas hash alike only if each has the same file. The file must be
// readable by its owner only: a file that group or others can read is
// refused, as OpenSSH refuses such private keys. A new file is written whole
// under a temporary name and linked into place, so concurrent callers all get
// the one key that won.
func LoadOrCreateHashKey(path string) ([]byte, error) {
	key, err := readHashKey(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	if err := createHashKey(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	return readHashKey(path)
}

func readHashKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("masking: hash key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("masking: hash key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("masking: hash key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("masking: hash key %s has mode %04o, want it readable by its owner only (chmod 600)", path, perm)
	}
	b, err := io.ReadAll(io.LimitReader(f, 2*HashKeySize+3))
	if err != nil {
		return nil, fmt.Errorf("masking: hash key: read %s: %w", path, err)
	}
	return parseHashKey(path, b)
}

func parseHashKey(path string, b []byte) ([]byte, error) {
	if len(b) == HashKeySize {
		return b, nil
	}
	if h := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r")); len(h) == 2*HashKeySize {
		key := make([]byte, HashKeySize)
		if _, err := hex.Decode(key, h); err == nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("masking: hash key %s: want %d raw bytes or %d hexadecimal digits", path, HashKeySize, 2*HashKeySize)
}

// createHashKey writes a new random key to path unless a file is there, in
// which case the error wraps fs.ErrExist.
func createHashKey(path string) error {
	key := make([]byte, HashKeySize)
	rand.Read(key) // crypto/rand.Read never fails (Go 1.24)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".hash-key-*") // mode 0600
	if err != nil {
		return fmt.Errorf("masking: hash key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(key)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("masking: hash key: write %s: %w", tmp.Name(), err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("masking: hash key: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("masking: hash key: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("masking: hash key: sync %s: %w", dir, err)
	}
	return nil
}
