package masking

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateHashKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hash_key")
	key, err := LoadOrCreateHashKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != HashKeySize || bytes.Equal(key, make([]byte, HashKeySize)) {
		t.Fatalf("key = %x, want %d random bytes", key, HashKeySize)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %04o, want 0600", perm)
	}
	// A restart reads the same key, so hashes match across sessions.
	again, err := LoadOrCreateHashKey(path)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("second load = %x, %v; want %x", again, err, key)
	}
	m1, _ := NewMasker(key)
	m2, _ := NewMasker(again)
	if hashOf(t, m1, "joinable") != hashOf(t, m2, "joinable") {
		t.Error("hash differs across restarts")
	}
	other, err := LoadOrCreateHashKey(filepath.Join(t.TempDir(), "hash_key"))
	if err != nil || bytes.Equal(other, key) {
		t.Errorf("a second data_dir got %x, %v; want a different key", other, err)
	}
}

func TestLoadHashKeyFormats(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, HashKeySize)
	for _, tc := range []struct {
		name    string
		content string
		perm    os.FileMode
		want    []byte
		wantErr string
	}{
		{"raw", string(raw), 0o600, raw, ""},
		{"hex", hex.EncodeToString(raw), 0o600, raw, ""},
		{"hex newline", hex.EncodeToString(raw) + "\n", 0o400, raw, ""},
		{"hex crlf", hex.EncodeToString(raw) + "\r\n", 0o600, raw, ""},
		{"group readable", string(raw), 0o640, nil, "mode 0640"},
		{"world readable", string(raw), 0o604, nil, "mode 0604"},
		{"short", string(raw[:16]), 0o600, nil, "want 32 raw bytes"},
		{"long", string(raw) + "x", 0o600, nil, "want 32 raw bytes"},
		{"empty", "", 0o600, nil, "want 32 raw bytes"},
		{"bad hex", strings.Repeat("zz", HashKeySize), 0o600, nil, "want 32 raw bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hash_key")
			if err := os.WriteFile(path, []byte(tc.content), tc.perm); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.perm); err != nil { // past the umask
				t.Fatal(err)
			}
			got, err := LoadOrCreateHashKey(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("key = %x, %v; want %x", got, err, tc.want)
			}
		})
	}
}

func TestLoadHashKeyNotAFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateHashKey(dir); err == nil {
		t.Error("a directory was accepted as the key")
	}
	if _, err := LoadOrCreateHashKey(filepath.Join(dir, "missing", "hash_key")); err == nil {
		t.Error("a key in a missing directory was created")
	}
}

func TestCreateHashKeyConcurrent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "hash_key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := LoadOrCreateHashKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		}()
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatalf("concurrent callers got different keys: %x and %x", keys[0], k)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v, %v; want only the key", entries, err)
	}
}
