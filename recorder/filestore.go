package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// FileStore keeps each stream as DIR/KIND/ID.jsonl, every line made
// durable before Emit returns, and its manifest as
// DIR/KIND/ID.manifest.json. Without a Journal each stream fsyncs its own
// file; with one (OpenJournal), the journal's group commit makes the
// lines of every stream durable at once, and each file is synced when it
// is closed.
type FileStore struct {
	Dir     string
	Journal *Journal // nil: every stream syncs its own file

	readStream func(path string) ([]byte, error) // nil: os.ReadFile; a test's hook
}

// fileAppender group-commits: lines written while an fsync is running are
// made durable together by the next one.
type fileAppender struct {
	f        *os.File
	manifest string // the manifest's path

	mu      sync.Mutex // guards written
	written int64
	syncMu  sync.Mutex // one fsync at a time; guards synced
	synced  int64
}

// Append implements Appender: the line is durable on return.
func (a *fileAppender) Append(line []byte) error { return appendDurably(a, line) }

// Write appends a line, not yet durable, and returns the file's end.
func (a *fileAppender) Write(line []byte) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, err := a.f.Write(append(line, '\n'))
	a.written += int64(n)
	return a.written, err
}

// SyncThrough returns once everything through end is durable; one fsync
// covers every line written before it started.
func (a *fileAppender) SyncThrough(end int64) error {
	a.syncMu.Lock()
	defer a.syncMu.Unlock()
	if a.synced >= end {
		return nil
	}
	a.mu.Lock()
	target := a.written
	a.mu.Unlock()
	if err := a.f.Sync(); err != nil {
		return err
	}
	a.synced = target
	return nil
}

// Finish implements Appender. Everything written is made durable first.
// The manifest appears whole or not at all, and never replaces one that
// exists.
func (a *fileAppender) Finish(manifest []byte) error {
	a.mu.Lock()
	end := a.written
	a.mu.Unlock()
	return finishFile(a.f, a.SyncThrough(end), a.manifest, manifest)
}

// finishFile closes a stream's file once syncErr, the sync that made it
// durable, is known; then, if the sync succeeded, writes its manifest
// whole, never replacing one.
func finishFile(f *os.File, syncErr error, path string, manifest []byte) error {
	err := syncErr
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if manifest == nil || err != nil {
		return err
	}
	if err := privatefile.Create(path, manifest); err != nil {
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
	// The lock tells Recover that this stream is alive; the kernel drops
	// it when the file is closed or the process dies.
	if held, err := lockStream(f); err != nil || held {
		f.Close()
		return nil, fmt.Errorf("recorder: create stream %s: lock: %w", id, errors.Join(err, errors.New("held by another process")))
	}
	if s.Journal != nil {
		return s.Journal.create(kind, id, f, s.manifestPath(kind, id)), nil
	}
	return &fileAppender{f: f, manifest: s.manifestPath(kind, id)}, nil
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

// Lines returns the lines of one stream. The file of a stream still open
// gets its lines one write at a time, and a write may be half done when
// it is read: a stream without a manifest leaves out a last line without
// its newline, as if read a moment earlier. The manifest is looked for
// before the file is read, and is written once the file is whole, so a
// stream found closed is read whole: a last line without its newline
// there is damage or tampering, kept for Verify to report.
// The error wraps fs.ErrNotExist when there is no such stream.
func (s FileStore) Lines(kind, id string) ([][]byte, error) {
	if err := checkName(kind); err != nil {
		return nil, err
	}
	if err := checkName(id); err != nil {
		return nil, err
	}
	_, err := os.Stat(s.manifestPath(kind, id))
	open := errors.Is(err, fs.ErrNotExist) // any other error: read it as it is
	read := s.readStream
	if read == nil {
		read = os.ReadFile
	}
	data, err := read(filepath.Join(s.Dir, kind, id+".jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("recorder: no %s stream %q in %s: %w", kind, id, s.Dir, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("recorder: read stream: %w", err)
	}
	if open {
		data = data[:bytes.LastIndexByte(data, '\n')+1]
	}
	return SplitLines(data), nil
}

// SplitLines splits a stream into its lines, without their newlines (a
// last line without one is a line too). A line may be as long as the
// stream: there is no limit for a recording to exceed, so that whatever
// the recorder wrote, however large, reads back.
func SplitLines(data []byte) [][]byte {
	if len(data) == 0 {
		return nil
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
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

// Versions returns, for each stream of a kind, a version that changes
// whenever the stream does: its file's and its manifest's size and
// change time (ctime, which no one can set back as they can the
// modification time: an edited recording is always read again). The
// console's index re-reads a stream only when its version changed.
func (s FileStore) Versions(kind string) (map[string]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.Dir, kind))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recorder: list %s: %w", kind, err)
	}
	manifests := map[string]string{}
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".manifest.json"); ok && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				manifests[id] = fileVersion(info)
			}
		}
	}
	out := map[string]string{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			out[id] = "unreadable" // read again; Lines says why
			continue
		}
		out[id] = fileVersion(info) + "+" + manifests[id]
	}
	return out, nil
}

// ListStamp is a stamp of the listing of a kind's streams: the size,
// inode and change time of their directory, which creating, removing or
// renaming a stream or a manifest in it changes (appending to one does
// not). Taken before List, an unchanged stamp means an unchanged List.
// A directory changed less than a second ago has no stamp (""): the
// kernel's change time moves in clock ticks, so a second change within
// the tick of the first would leave it as it was.
func (s FileStore) ListStamp(kind string) (string, error) {
	if err := checkName(kind); err != nil {
		return "", err
	}
	info, err := os.Stat(filepath.Join(s.Dir, kind))
	if errors.Is(err, os.ErrNotExist) {
		return "none", nil
	}
	if err != nil {
		return "", fmt.Errorf("recorder: stamp %s: %w", kind, err)
	}
	if time.Since(changeTime(info)) < time.Second {
		return "", nil
	}
	return fileVersion(info), nil
}

// Version is one stream's entry of Versions.
func (s FileStore) Version(kind, id string) (string, error) {
	if err := errors.Join(checkName(kind), checkName(id)); err != nil {
		return "", err
	}
	info, err := os.Stat(filepath.Join(s.Dir, kind, id+".jsonl"))
	if err != nil {
		return "", fmt.Errorf("recorder: version of %s: %w", id, err)
	}
	manifest := ""
	if m, err := os.Stat(s.manifestPath(kind, id)); err == nil {
		manifest = fileVersion(m)
	}
	return fileVersion(info) + "+" + manifest, nil
}
