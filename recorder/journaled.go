package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/journal"
)

// Journal is a FileStore's write-ahead journal (recorder/journal): with
// one, a stream's lines are appended to the journal, whose group commit
// makes the lines of every stream durable with one sync, and to the
// stream's own file without an fsync of their own. The journal has each
// line in the kernel at once; the file gets a stream's lines in one write
// once they are committed (see journaledAppender). Each stream file is
// made durable when it is closed, and also when the journal holds more
// than maxSegments segments, so that the segments can be recycled while
// streams stay open (the CA's stays open as long as the process).
type Journal struct {
	j           *journal.Journal
	maxSegments int

	mu    sync.Mutex
	open  map[*journaledAppender]struct{}
	dirty []*journaledAppender // lines buffered and not yet written; see flushLater
	timer *time.Timer          // armed while dirty is not empty

	flushing  atomic.Bool
	flushedAt atomic.Uint64 // the segment being written at the last flush

	// finishing lets maxFinishing streams end at a time (Finish). A
	// stream's end blocks in three fsyncs (its file, its manifest, the
	// manifest's directory), and Go gives every goroutine blocked in one
	// an OS thread of its own, which it keeps for good: 200 sessions
	// closing at once left 20 more threads. The fsyncs take turns on the
	// disk anyway.
	finishing chan struct{}
}

// maxFinishing is how many journaled streams may end at once.
const maxFinishing = 4

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
	fs.Journal = &Journal{j: j, maxSegments: DefaultJournalSegments, open: map[*journaledAppender]struct{}{},
		finishing: make(chan struct{}, maxFinishing)}
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

// Close writes the lines streams still open have pending, makes
// everything appended durable and closes the journal's segments; streams
// still open fail their next Emit.
func (jl *Journal) Close() error {
	jl.flushDirty()
	return jl.j.Close()
}

// create opens a journaled stream on its file f.
func (jl *Journal) create(kind, id string, f *os.File, manifest string) *journaledAppender {
	a := &journaledAppender{jl: jl, kind: kind, id: id, f: f, manifest: manifest}
	jl.mu.Lock()
	jl.open[a] = struct{}{}
	jl.mu.Unlock()
	return a
}

// journaledAppender is a FileStore stream whose lines are made durable by
// the journal. Its file is written once per commit rather than once per
// line (a write(2) is a large part of an event's cost): lines wait in
// pending until the stream's next wait for a commit returns (the waiter
// writes them, so that once Emit or Sync returns the file holds every
// line of the stream), until pending outgrows maxPending, until the file
// is synced or closed, or at the latest flushDelay after the first of
// them (a lazy line that no commit follows). Nothing is lost meanwhile:
// the journal holds each line, in the kernel at once and durably after
// its commit, and recovery writes the file from it after a crash.
type journaledAppender struct {
	jl       *Journal
	kind, id string
	f        *os.File
	manifest string

	mu      sync.Mutex  // guards what follows
	written int64       // the file's end once pending is written
	pending []byte      // lines journaled but not yet written to f
	queued  bool        // in jl.dirty
	last    journal.Pos // the record of the last line written
	durable int64       // how far the file itself is synced
	mark    journal.Pos // the journal's record of that, for Finish to commit
	done    bool        // Finish ran: f is closed
	err     error       // a failed sync of the file: every later call fails
}

// Append implements Appender: the line is durable on return.
func (a *journaledAppender) Append(line []byte) error { return appendDurably(a, line) }

// Limits of a stream's pending lines (journaledAppender).
const (
	maxPending = 64 << 10               // written at once past this
	flushDelay = 100 * time.Millisecond // written by then at the latest
)

// Write appends a line to the journal, then to the lines pending for the
// stream's file: a line the journal refused is never in the file. It
// returns the file's end for SyncThrough.
func (a *journaledAppender) Write(line []byte) (int64, error) {
	return a.writeWith(a.jl.j.Append, line)
}

// WriteLater is Write for a line whose caller waits for its commit before
// acting on it (laterWriter): the journal writes it with that commit, in
// one write with the other lines waiting for it.
func (a *journaledAppender) WriteLater(line []byte) (int64, error) {
	return a.writeWith(a.jl.j.AppendLater, line)
}

func (a *journaledAppender) writeWith(appendRecord func(journal.Record) (journal.Pos, error), line []byte) (int64, error) {
	end, err := a.write(appendRecord, line)
	if err == nil {
		a.jl.maybeFlush()
	}
	return end, err
}

func (a *journaledAppender) write(appendRecord func(journal.Record) (journal.Pos, error), line []byte) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.written, a.err
	}
	pos, err := appendRecord(journal.Record{Kind: a.kind, Stream: a.id, Offset: a.written, Line: line})
	if err != nil {
		return a.written, fmt.Errorf("recorder: journal %s: %w", a.id, err)
	}
	a.last = pos
	a.pending = append(append(a.pending, line...), '\n')
	a.written += int64(len(line)) + 1
	if len(a.pending) >= maxPending {
		// The line is journaled: a failure to write the file is the
		// stream's (its next Write and its Finish), not this line's.
		_ = a.writePending()
		return a.written, nil
	}
	if !a.queued {
		a.queued = true
		a.jl.flushLater(a)
	}
	return a.written, nil
}

// writePending writes the pending lines to the file in one write; a.mu
// is held. A failed write fails the stream (the file may hold part of
// them; recovery completes it from the journal).
func (a *journaledAppender) writePending() error {
	if len(a.pending) == 0 || a.err != nil || a.done {
		return a.err
	}
	_, err := a.f.Write(a.pending)
	a.pending = a.pending[:0]
	if cap(a.pending) > maxPending {
		a.pending = nil // one huge line does not pin its size
	}
	if err != nil {
		a.err = fmt.Errorf("recorder: write %s: %w", a.id, err)
	}
	return a.err
}

// SyncThrough returns once the journal's commit covers the line that
// ended at end (and so every line before it), and the stream's file holds
// every line written. A failure to write the file is not this line's (it
// is durable in the journal): it fails the stream's next Write and its
// Finish instead.
func (a *journaledAppender) SyncThrough(end int64) error {
	a.mu.Lock()
	pos := a.last
	a.mu.Unlock()
	if err := a.jl.j.Commit(pos); err != nil {
		return err
	}
	a.mu.Lock()
	_ = a.writePending()
	a.mu.Unlock()
	return nil
}

// Finish implements Appender: the stream file itself is made durable,
// the journal told, durably, that the stream's records are needed no
// more, and then the manifest is written. The mark is committed before
// the manifest because the manifest lets the uploader take the stream and
// remove it from the spool: a mark lost after that would have recovery
// rebuild, from the journal's last records alone, a file that is gone.
func (a *journaledAppender) Finish(manifest []byte) error {
	a.jl.finishing <- struct{}{}
	defer func() { <-a.jl.finishing }()
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
	if err := a.writePending(); err != nil {
		return err
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

// flushLater has a's pending lines written within flushDelay if no wait
// for a commit writes them first; a.mu is held.
func (jl *Journal) flushLater(a *journaledAppender) {
	jl.mu.Lock()
	defer jl.mu.Unlock()
	jl.dirty = append(jl.dirty, a)
	if jl.timer == nil {
		jl.timer = time.AfterFunc(flushDelay, jl.flushDirty)
	} else if len(jl.dirty) == 1 {
		jl.timer.Reset(flushDelay)
	}
}

// flushDirty runs on flushLater's timer: it writes the pending lines of
// every stream queued since it last ran, and lets go of their buffers.
// Most sessions sit idle between statements, and each kept buffer is a
// few KiB per session: a busy stream grows a new one at most once per
// flushDelay, not once per statement.
func (jl *Journal) flushDirty() {
	jl.mu.Lock()
	dirty := jl.dirty
	jl.dirty = nil
	jl.mu.Unlock()
	for _, a := range dirty {
		a.mu.Lock()
		a.queued = false
		_ = a.writePending() // a failure is kept: the next Write and Finish return it
		if len(a.pending) == 0 {
			a.pending = nil
		}
		a.mu.Unlock()
	}
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
