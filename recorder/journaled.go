package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/recorder/journal"
)

// Journal is a FileStore's write-ahead journal (recorder/journal): with
// one, a stream's lines are written to its own file without an fsync of
// their own and appended to the journal, whose group commit makes the
// lines of every stream durable with one sync. Each stream file is made
// durable when it is closed, and also when the journal holds more than
// maxSegments segments, so that the segments can be recycled while
// streams stay open (the CA's stays open as long as the process).
type Journal struct {
	j           *journal.Journal
	maxSegments int

	mu   sync.Mutex
	open map[*journaledAppender]struct{}

	flushing  atomic.Bool
	flushedAt atomic.Uint64 // the segment being written at the last flush
}

// DefaultJournalSegments is how many segments the journal may hold before
// every open stream's file is made durable so that they can be recycled.
const DefaultJournalSegments = 4

// JournalDir is where a FileStore's journal lives: DIR/journal.
func JournalDir(fs FileStore) string { return filepath.Join(fs.Dir, "journal") }

// OpenJournal opens the journal of fs in JournalDir(fs) (cfg.Dir, if set)
// and returns it with fs using it. Recover the earlier run's journal
// (RecoverJournal) before anything else reads or recovers the streams.
func OpenJournal(fs FileStore, cfg journal.Config) (FileStore, *Journal, error) {
	if cfg.Dir == "" {
		cfg.Dir = JournalDir(fs)
	}
	j, err := journal.Open(cfg)
	if err != nil {
		return fs, nil, fmt.Errorf("recorder: open the journal: %w", err)
	}
	fs.Journal = &Journal{j: j, maxSegments: DefaultJournalSegments, open: map[*journaledAppender]struct{}{}}
	return fs, fs.Journal, nil
}

// Err is the failure that ended the journal for good (a failed write or
// sync), or nil while it works: until a restart, no event can be made
// durable.
func (jl *Journal) Err() error {
	if err := jl.j.Err(); err != nil {
		return fmt.Errorf("the journal failed, and takes nothing more until gatehouse restarts: %w", err)
	}
	return nil
}

// Close makes everything appended durable and ends the journal's
// committer; streams still open fail their next Emit.
func (jl *Journal) Close() error { return jl.j.Close() }

// create opens a journaled stream on its file f.
func (jl *Journal) create(kind, id string, f *os.File, manifest string) *journaledAppender {
	a := &journaledAppender{jl: jl, kind: kind, id: id, f: f, manifest: manifest}
	jl.mu.Lock()
	jl.open[a] = struct{}{}
	jl.mu.Unlock()
	return a
}

// journaledAppender is a FileStore stream whose lines are made durable by
// the journal.
type journaledAppender struct {
	jl       *Journal
	kind, id string
	f        *os.File
	manifest string

	mu      sync.Mutex // guards what follows
	written int64
	last    journal.Pos // the record of the last line written
	durable int64       // how far the file itself is synced
	mark    journal.Pos // the journal's record of that, for Finish to commit
	done    bool        // Finish ran: f is closed
	err     error       // a failed sync of the file: every later call fails
}

// Append implements Appender: the line is durable on return.
func (a *journaledAppender) Append(line []byte) error { return appendDurably(a, line) }

// Write appends a line to the stream's file, then to the journal: a line
// the file refused is never journaled (recovery would add it). It returns
// the file's end for SyncThrough.
func (a *journaledAppender) Write(line []byte) (int64, error) {
	end, err := a.write(line)
	if err == nil {
		a.jl.maybeFlush()
	}
	return end, err
}

func (a *journaledAppender) write(line []byte) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.written, a.err
	}
	off := a.written
	n, err := a.f.Write(append(line, '\n'))
	a.written += int64(n)
	if err != nil {
		return a.written, err
	}
	pos, err := a.jl.j.Append(journal.Record{Kind: a.kind, Stream: a.id, Offset: off, Line: line})
	if err != nil {
		return a.written, fmt.Errorf("recorder: journal %s: %w", a.id, err)
	}
	a.last = pos
	return a.written, nil
}

// SyncThrough returns once the journal's commit covers the line that
// ended at end (and so every line before it).
func (a *journaledAppender) SyncThrough(end int64) error {
	a.mu.Lock()
	pos := a.last
	a.mu.Unlock()
	return a.jl.j.Commit(pos)
}

// RequestSync starts the journal's commit of the line that ended at end
// without waiting for it (syncRequester); SyncThrough then waits for it.
func (a *journaledAppender) RequestSync(end int64) {
	a.mu.Lock()
	pos := a.last
	a.mu.Unlock()
	a.jl.j.Request(pos)
}

// Finish implements Appender: the stream file itself is made durable,
// the journal told, durably, that the stream's records are needed no
// more, and then the manifest is written. The mark is committed before
// the manifest because the manifest lets the uploader take the stream and
// remove it from the spool: a mark lost after that would have recovery
// rebuild, from the journal's last records alone, a file that is gone.
func (a *journaledAppender) Finish(manifest []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jl.forget(a)
	err := a.syncFile()
	if err == nil && a.mark != 0 {
		err = a.jl.j.Commit(a.mark)
	}
	a.done = true
	return finishFile(a.f, err, a.manifest, manifest)
}

// syncFile makes the stream's file durable through what was written and
// says so in the journal; a.mu is held.
func (a *journaledAppender) syncFile() error {
	if a.err != nil || a.done || a.durable == a.written {
		return a.err
	}
	if err := a.f.Sync(); err != nil {
		// Linux may have dropped the pages it could not write: the
		// journal still holds the lines, for recovery, and the stream
		// takes nothing more (its spool reports the failure).
		a.err = fmt.Errorf("recorder: sync %s: %w", a.id, err)
		return a.err
	}
	a.durable = a.written
	mark, err := a.jl.j.Append(journal.Record{Kind: a.kind, Stream: a.id, Offset: a.durable, Durable: true})
	if err != nil {
		return fmt.Errorf("recorder: journal %s: %w", a.id, err)
	}
	a.mark = mark
	return nil
}

func (jl *Journal) forget(a *journaledAppender) {
	jl.mu.Lock()
	delete(jl.open, a)
	jl.mu.Unlock()
}

// maybeFlush makes every open stream's file durable once the journal
// holds more than maxSegments segments, once for each segment it grows
// past that, so that the old segments can be recycled. It runs on the
// goroutine of the Write that noticed, without that stream's lock; one at
// a time.
func (jl *Journal) maybeFlush() {
	cur := jl.j.Current()
	if jl.j.Segments() <= jl.maxSegments || jl.flushedAt.Load() == cur || !jl.flushing.CompareAndSwap(false, true) {
		return
	}
	defer jl.flushing.Store(false)
	jl.flushedAt.Store(cur)
	jl.mu.Lock()
	open := make([]*journaledAppender, 0, len(jl.open))
	for a := range jl.open {
		open = append(open, a)
	}
	jl.mu.Unlock()
	for _, a := range open {
		// A stream whose file cannot be synced keeps the error, returned
		// by its next Write and its Finish (syncFile), and its segments.
		a.mu.Lock()
		_ = a.syncFile()
		a.mu.Unlock()
	}
}
