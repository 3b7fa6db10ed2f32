package privatefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := Create(path, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	data, err := Read(path, 100)
	if err != nil || string(data) != "secret" {
		t.Fatalf("Read = %q, %v", data, err)
	}
	if err := Create(path, []byte("other")); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing file: %v, want fs.ErrExist", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "secret" {
		t.Fatal("an existing file was replaced")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestReadRefusals(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("x"), 0o644)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 101), 0o600)
	tests := []struct{ path, want string }{
		{open, "chmod 600"},
		{big, "larger than 100 bytes"},
	}
	for _, tt := range tests {
		if _, err := Read(tt.path, 100); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Read(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
	if _, err := Read(filepath.Join(dir, "absent"), 100); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want fs.ErrNotExist", err)
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	for _, content := range []string{"first", "second"} {
		if err := Replace(path, []byte(content), nil); err != nil {
			t.Fatal(err)
		}
		if data, err := Read(path, 100); err != nil || string(data) != content {
			t.Fatalf("after Replace(%q): %q, %v", content, data, err)
		}
	}
	prepared := errors.New("refused by prepare")
	if err := Replace(path, []byte("third"), func(*os.File) error { return prepared }); !errors.Is(err, prepared) {
		t.Fatalf("Replace with a failing prepare: %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "second" {
		t.Fatalf("a failed Replace changed the file: %q", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}
