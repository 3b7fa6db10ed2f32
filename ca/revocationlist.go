package ca

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
)

// revocationFormat is the version of the revocation list file.
const revocationFormat = 1

// revocationDoc is the revocation list file: JSON, entries in the order
// they were added. It only grows.
type revocationDoc struct {
	Version     int          `json:"version"`
	Revocations []Revocation `json:"revocations"`
}

// RevocationList is the revocation list of a running gatehouse: the file
// in data_dir, read again whenever it changes (Watch), or, with shared
// state, the entries its watcher passes to Set. It is safe for concurrent
// use.
type RevocationList struct {
	path string

	mu      sync.RWMutex
	entries []Revocation
	serials map[uint64]int // serial → index of its first entry
	keys    map[string]int // fingerprint → index of its first entry
	names   []int          // indexes of identity entries
	seen    fs.FileInfo    // the file as last read; nil if absent
}

// OpenRevocationList reads the list at path; a missing file is an empty
// list (nothing has been revoked yet).
func OpenRevocationList(path string) (*RevocationList, error) {
	l := &RevocationList{path: path}
	if _, err := l.Reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// NewRevocationList is an empty list that is fed by Set (shared state),
// not read from a file.
func NewRevocationList() *RevocationList {
	l := &RevocationList{}
	l.index(nil)
	return l
}

// Path is the list's file; "" for a list fed by Set.
func (l *RevocationList) Path() string { return l.path }

// Set replaces the entries with entries, the whole list as its store now
// holds it, and reports whether it grew. A list only grows: entries that
// are not more than those held are ignored, so that a store read that
// raced a slower one cannot take a revocation back.
func (l *RevocationList) Set(entries []Revocation) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(entries) <= len(l.entries) {
		return false
	}
	l.index(slices.Clone(entries))
	return true
}

// Reload reads the file again if it changed since it was last read, and
// reports whether it did. On error the list keeps what it had: entries
// are never dropped because a file could not be read.
func (l *RevocationList) Reload() (bool, error) {
	if l.path == "" {
		return false, nil // fed by Set
	}
	info, err := os.Stat(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // nothing revoked yet, or never: a list only grows
	}
	if err != nil {
		return false, fmt.Errorf("ca: revocation list: %w", err)
	}
	l.mu.RLock()
	unchanged := sameFile(l.seen, info)
	l.mu.RUnlock()
	if unchanged {
		return false, nil
	}
	doc, err := readRevocations(l.path)
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.index(doc.Revocations)
	l.seen = info
	return true, nil
}

// sameFile: every write replaces the file (rename), so a new inode, size
// or modification time means new contents.
func sameFile(a, b fs.FileInfo) bool {
	return a != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

func readRevocations(path string) (revocationDoc, error) {
	var doc revocationDoc
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return revocationDoc{Version: revocationFormat}, nil
	}
	if err != nil {
		return doc, fmt.Errorf("ca: read revocation list: %w", err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return doc, fmt.Errorf("ca: revocation list %s: %w", path, err)
	}
	if doc.Version != revocationFormat {
		return doc, fmt.Errorf("ca: revocation list %s: version %d, want %d", path, doc.Version, revocationFormat)
	}
	for i, r := range doc.Revocations {
		if err := r.Validate(); err != nil {
			return doc, fmt.Errorf("ca: revocation list %s: entry %d: %w", path, i+1, err)
		}
	}
	return doc, nil
}

// index replaces the entries and their lookup tables; l.mu is held.
func (l *RevocationList) index(entries []Revocation) {
	l.entries = entries
	l.serials, l.keys, l.names = map[uint64]int{}, map[string]int{}, nil
	for i, r := range entries {
		switch {
		case r.Serial != 0:
			if _, dup := l.serials[r.Serial]; !dup {
				l.serials[r.Serial] = i
			}
		case r.Key != "":
			if _, dup := l.keys[r.Key]; !dup {
				l.keys[r.Key] = i
			}
		default:
			l.names = append(l.names, i)
		}
	}
}

// Entries returns a copy of the list.
func (l *RevocationList) Entries() []Revocation {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.entries)
}

// Match returns the first entry that revokes a certificate with facts f.
func (l *RevocationList) Match(f CertFacts) (Revocation, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, s := range []uint64{f.Serial, f.DelegatedBySerial} {
		if i, ok := l.serials[s]; ok && s != 0 {
			return l.entries[i], true
		}
	}
	if i, ok := l.keys[f.KeyFingerprint]; ok {
		return l.entries[i], true
	}
	for _, i := range l.names {
		if l.entries[i].Matches(f) {
			return l.entries[i], true
		}
	}
	return Revocation{}, false
}

// IsRevoked reports whether cert is revoked; it has the shape of
// bastion.Config.IsRevoked and Authority.IsRevoked.
func (l *RevocationList) IsRevoked(cert *gossh.Certificate) bool {
	_, revoked := l.Match(FactsOf(cert))
	return revoked
}

// Watch reloads the list every interval until ctx ends, calling onChange
// after each change. A file that cannot be read is logged (once until it
// can be again) and the list keeps what it had.
func (l *RevocationList) Watch(ctx context.Context, interval time.Duration, log *slog.Logger, onChange func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := l.Reload()
		switch {
		case err != nil && err.Error() != lastErr:
			lastErr = err.Error()
			log.Error("revocation list unreadable; keeping the entries read before", "path", l.path, "error", err)
		case err == nil:
			lastErr = ""
		}
		if changed {
			onChange()
		}
	}
}

// RevocationListFile is the RevocationWriter of state.store: file, the list
// in data_dir that the server reads within a second.
type RevocationListFile struct{ Path string }

// Append adds rs to the file in order.
func (f RevocationListFile) Append(rs ...Revocation) error {
	for _, r := range rs {
		if err := AppendRevocation(f.Path, r); err != nil {
			return err
		}
	}
	return nil
}

// Where is the file's path.
func (f RevocationListFile) Where() string { return f.Path }

// AppendRevocation adds r to the list file at path, creating it if needed.
// The file is locked against concurrent appends, and replaced atomically
// (write a temporary file, sync, rename, sync the directory), so a
// reader sees the old list or the new one, never a part.
func AppendRevocation(path string, r Revocation) error {
	if err := r.Validate(); err != nil {
		return fmt.Errorf("ca: revocation: %w", err)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("ca: lock revocation list: %w", err)
	}
	defer unlock()
	doc, err := readRevocations(path)
	if err != nil {
		return err
	}
	doc.Version = revocationFormat
	doc.Revocations = append(doc.Revocations, r)
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("ca: encode revocation list: %w", err)
	}
	return replaceFile(path, append(data, '\n'))
}

// replaceFile writes data to path atomically with mode 0600, owned like
// the file it replaces (or its directory): `gatehouse revoke` run as root
// must leave a file the server's own account can still read.
func replaceFile(path string, data []byte) error {
	like := path
	if _, err := os.Stat(path); err != nil {
		like = filepath.Dir(path)
	}
	err := privatefile.Replace(path, data, func(f *os.File) error { return matchOwner(f, like) })
	if err != nil {
		return fmt.Errorf("ca: write %s: %w", path, err)
	}
	return nil
}
