package recorder

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FileStore keeps each stream as DIR/KIND/ID.jsonl, written with fsync
// after every line, and its manifest as DIR/KIND/ID.manifest.json.
type FileStore struct {
	Dir string
}

type fileAppender struct {
	f        *os.File
	manifest string // the manifest's path
}

func (a fileAppender) Append(line []byte) error {
	if _, err := a.f.Write(append(line, '\n')); err != nil {
		return err
	}
	return a.f.Sync()
}

// Finish implements Appender. The manifest appears whole or not at all,
// and never replaces one that exists.
func (a fileAppender) Finish(manifest []byte) error {
	err := a.f.Close()
	if manifest == nil || err != nil {
		return err
	}
	if err := writeExclusive(a.manifest, manifest, 0o600); err != nil {
		return fmt.Errorf("recorder: write manifest: %w", err)
	}
	return nil
}

// Create implements Store. It refuses to reuse an existing stream file.
func (s FileStore) Create(kind, id string) (Appender, error) {
	if err := checkName(kind); err != nil {
		return nil, err
	}
	if err := checkName(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(s.Dir, kind)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recorder: create %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, id+".jsonl"), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recorder: create stream: %w", err)
	}
	return fileAppender{f: f, manifest: s.manifestPath(kind, id)}, nil
}

func (s FileStore) manifestPath(kind, id string) string {
	return filepath.Join(s.Dir, kind, id+".manifest.json")
}

// Manifest returns a stream's manifest file. The error wraps
// fs.ErrNotExist when the stream has none: it was never closed.
func (s FileStore) Manifest(kind, id string) ([]byte, error) {
	if err := checkName(kind); err != nil {
		return nil, err
	}
	if err := checkName(id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(s.manifestPath(kind, id))
	if err != nil {
		return nil, fmt.Errorf("recorder: read manifest: %w", err)
	}
	return data, nil
}

// Lines returns the lines of one stream.
// The error wraps fs.ErrNotExist when there is no such stream.
func (s FileStore) Lines(kind, id string) ([][]byte, error) {
	if err := checkName(kind); err != nil {
		return nil, err
	}
	if err := checkName(id); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(s.Dir, kind, id+".jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("recorder: no %s stream %q in %s: %w", kind, id, s.Dir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("recorder: read stream: %w", err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("recorder: read stream %s: %w", id, err)
	}
	return lines, nil
}

// List returns the ids of the streams of a kind, oldest first.
func (s FileStore) List(kind string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, kind))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recorder: list %s: %w", kind, err)
	}
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".jsonl"); ok && !e.IsDir() {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// checkName keeps ids and kinds from escaping the store's directory.
func checkName(s string) error {
	if s == "" || strings.ContainsAny(s, `/\`) || strings.HasPrefix(s, ".") {
		return fmt.Errorf("recorder: invalid stream name %q", s)
	}
	return nil
}
