package recorder

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Appender is where a stream's lines go; the file store is one.
type Appender interface {
	// Append writes one line durably (on return it survives a crash).
	// The line is the stream's buffer, reused for the next event: it
	// must not be kept after Append returns.
	Append(line []byte) error
	// Finish stores the stream's manifest next to it, durably, and
	// releases the stream; nothing is appended after it. A nil manifest
	// (a Recorder without a Signer) stores none.
	Finish(manifest []byte) error
}

// Stream is one chained sequence of events: an SSH session, or the CA's
// issuances during one process lifetime. It is safe for concurrent use.
type Stream struct {
	ID    string
	Kind  string
	clock func() time.Time
	ready func() error // the Recorder's Ready

	mu     sync.Mutex
	out    Appender
	seq    uint64
	prev   chainHead
	closed bool
	failed error // the first failed append or signature: no event follows it
	end    int64 // the stream's end after the last write, for a groupCommitter
	ledger ledger
	line   []byte // buffer of the line being written, reused

	// Checkpoints; sign is nil for a Recorder without a Signer.
	sign            *signer
	every           int
	interval        time.Duration
	unsigned        int       // events since the last checkpoint
	firstUnsignedAt time.Time // Clock time of the first of them
	timer           *time.Timer

	// EmitWithin's pending sync (syncwindow.go).
	syncTimer *time.Timer
	syncArmed bool
	// syncFunc is Sync, made a func once for EmitHeld to return: one per
	// statement would be an allocation each.
	syncFunc func() error

	// The ledger this stream is marked in (ledger.go); nil for none (and
	// for the ledger itself). A checkpoint is marked once it is durable:
	// pendingMark waits for the sync through pendingMarkEnd.
	marks          *Stream
	pendingMark    *event.LedgerMark
	pendingMarkEnd int64
}

// Ready is nil when a new action of this stream's session (a statement)
// may go ahead, else why the recorder cannot take it on (Recorder.Ready):
// the caller refuses the action. Events of actions already under way are
// still emitted.
func (s *Stream) Ready() error {
	if s.ready == nil {
		return nil
	}
	return s.ready()
}

// ErrClosed is returned by Emit after Close.
var ErrClosed = errors.New("recorder: stream closed")

// Emit appends an event of the given type with data as its payload,
// encoded by Marshal unless it encodes itself (payloadAppender), as
// the events written for every statement do. An error means the event
// was not recorded; callers refuse the action the event describes (fail
// closed). After a failed append every Emit fails: the stream's end may
// hold a partial line, and nothing may follow it.
func (s *Stream) Emit(typ event.Type, data any) error {
	end, err := s.writeFor(typ, data, true)
	if err != nil {
		return err
	}
	return s.makeDurable(end)
}

// write encodes and appends an event, in the kernel on return, and
// returns the written end for makeDurable.
func (s *Stream) write(typ event.Type, data any) (int64, error) {
	return s.writeFor(typ, data, false)
}

// writeFor is write; waits says that the caller makes the event durable
// before anything acts on it, so that it need not be in the kernel before
// (laterWriter).
func (s *Stream) writeFor(typ event.Type, data any, waits bool) (int64, error) {
	if typ == event.TypeCheckpoint {
		return 0, fmt.Errorf("recorder: event type %q is the recorder's own", typ)
	}
	payload, ok := data.(payloadAppender)
	if !ok {
		raw, err := Marshal(data)
		if err != nil {
			return 0, fmt.Errorf("recorder: encode %s: %w", typ, err)
		}
		payload = rawPayload(raw)
	}
	return s.emitLocked(typ, payload, waits)
}

// EmitLazy appends an event like Emit, but returns once it is written,
// without waiting for it to be durable: it becomes durable with the
// stream's next Emit, Sync, idle checkpoint or Close, and survives the
// death of the process at once (it is in the kernel), though not of the
// machine. It is for the record of what already happened (a statement's
// outcome), so that only the event that must precede an action (its
// decision, by Emit) waits for an fsync. An error means the event was not
// recorded.
func (s *Stream) EmitLazy(typ event.Type, data any) error {
	_, err := s.write(typ, data)
	return err
}

// Sync returns once every event emitted so far is durable.
func (s *Stream) Sync() error {
	s.mu.Lock()
	end, failed := s.end, s.failed
	s.mu.Unlock()
	if failed != nil {
		return failed
	}
	return s.makeDurable(end)
}

// emitLocked appends the event (and a checkpoint that is due) under the
// stream's lock and returns the written end for makeDurable.
func (s *Stream) emitLocked(typ event.Type, payload payloadAppender, waits bool) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return 0, ErrClosed
	case s.failed != nil:
		return 0, s.failed
	}
	// One reading of the clock serves the event and its checkpoint: on
	// a virtual machine each costs about as much as encoding a field.
	now := s.clock()
	// A checkpoint that is due goes first, so that an error still means
	// this event was not recorded.
	if s.checkpointDue(now) {
		if err := s.checkpoint(now); err != nil {
			return 0, err
		}
	}
	if err := s.append(typ, payload, waits, now); err != nil {
		return 0, err
	}
	s.noteUnsigned(now)
	return s.end, nil
}

// groupCommitter is an Appender that can write a line now and make it
// durable later, so that events emitted together on one stream (the
// channels of one SSH connection) share an fsync instead of queueing for
// one each under the stream's lock.
type groupCommitter interface {
	// Write appends a line and returns the stream's end after it; like
	// Append, it must not keep the line.
	Write(line []byte) (end int64, err error)
	// SyncThrough returns once everything up to end is durable.
	SyncThrough(end int64) error
}

// laterWriter is a groupCommitter that can hold a line until the sync its
// caller waits for (the journal's appender): a line that nothing acts on
// before it is durable then costs no write of its own.
type laterWriter interface {
	WriteLater(line []byte) (end int64, err error)
}

// journaledWriter is an Appender with every ability of the journal's
// appender. A wrapper of Appenders (the spool's, the uploader's) that
// finds one must return one too: a wrapper that passed on groupCommitter
// alone would cost every statement a write of its own (Emit).
type journaledWriter interface {
	groupCommitter
	laterWriter
}

// appendDurably is Append for a groupCommitter: the line is written,
// then durable on return.
func appendDurably(gc groupCommitter, line []byte) error {
	end, err := gc.Write(line)
	if err != nil {
		return err
	}
	return gc.SyncThrough(end)
}

// makeDurable waits, outside the stream's lock, until the event written
// up to end survives a crash. An error means it may not: the stream is
// failed from then on, as for a failed append.
func (s *Stream) makeDurable(end int64) error {
	gc, ok := s.out.(groupCommitter)
	if !ok || end == 0 {
		return nil // Append was already durable
	}
	if err := gc.SyncThrough(end); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.failed == nil {
			s.failed = fmt.Errorf("recorder: sync %s: %w", s.ID, err)
		}
		return s.failed
	}
	return s.markDurable(end)
}

// markDurable marks in the ledger the last checkpoint, once a sync
// through end has made it durable: a mark never runs ahead of what a
// crash would leave of the stream.
func (s *Stream) markDurable(end int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pendingMark == nil || s.pendingMarkEnd > end {
		return nil
	}
	m := *s.pendingMark
	s.pendingMark = nil
	return s.mark(event.TypeStreamCheckpoint, m)
}

// mark writes a mark of this stream in its ledger, if it has one: the
// close durably, the others with the ledger's next sync. An error means
// the ledger cannot be written; the caller fails what it was doing
// (fail closed), since a stream could then be cut unnoticed.
func (s *Stream) mark(typ event.Type, m event.LedgerMark) error {
	if s.marks == nil {
		return nil
	}
	m.Kind, m.Stream = s.Kind, s.ID
	emit := s.marks.EmitLazy
	if typ == event.TypeStreamClosed {
		emit = s.marks.Emit
	}
	if err := emit(typ, m); err != nil {
		return fmt.Errorf("recorder: ledger mark of %s: %w", s.ID, err)
	}
	return nil
}

// append writes one event of time now; s.mu is held. later says that
// nothing acts on the event before a sync through it (laterWriter).
func (s *Stream) append(typ event.Type, data payloadAppender, later bool, now time.Time) error {
	ev := Event{V: SchemaVersion, Stream: s.ID, Seq: s.seq, Time: now.UTC(), Type: typ}
	envelope, err := appendEnvelope(s.line[:0], &ev)
	if err != nil {
		return fmt.Errorf("recorder: encode %s: %w", typ, err)
	}
	line, payload, err := appendData(s.prev.appendJSON(envelope), data)
	if err != nil {
		return fmt.Errorf("recorder: encode %s: %w", typ, err)
	}
	s.keepLine(line)
	if gc, ok := s.out.(groupCommitter); ok {
		write := gc.Write
		if lw, ok := s.out.(laterWriter); ok && later {
			write = lw.WriteLater
		}
		end, err := write(line)
		if err != nil {
			s.failed = fmt.Errorf("recorder: append %s to %s: %w", typ, s.ID, err)
			return s.failed
		}
		s.end = end
	} else if err := s.out.Append(line); err != nil {
		s.failed = fmt.Errorf("recorder: append %s to %s: %w", typ, s.ID, err)
		return s.failed
	}
	s.seq++
	s.prev.follow(line)
	s.ledger.note(typ, payload)
	return nil
}

// maxKeptLine bounds the line buffer a stream keeps between events, so
// that one huge statement does not pin its size for the session.
const maxKeptLine = 64 << 10

// keepLine keeps line's buffer for the next event unless it is outsized;
// s.mu is held.
func (s *Stream) keepLine(line []byte) {
	if cap(line) > maxKeptLine {
		line = nil
	}
	s.line = line
}

// noteUnsigned counts an event no checkpoint covers yet, and makes sure a
// timer will sign it if the stream falls idle; s.mu is held.
func (s *Stream) noteUnsigned(now time.Time) {
	if s.sign == nil {
		return
	}
	s.unsigned++
	if s.unsigned > 1 {
		return
	}
	s.firstUnsignedAt = now
	if s.timer == nil {
		s.timer = time.AfterFunc(s.interval, s.idleCheckpoint)
	} else {
		s.timer.Reset(s.interval)
	}
}

// checkpointDue says whether the events since the last checkpoint reached
// the count or the age at which they must be signed by now; s.mu is held.
func (s *Stream) checkpointDue(now time.Time) bool {
	return s.sign != nil && s.unsigned > 0 &&
		(s.unsigned >= s.every || now.Sub(s.firstUnsignedAt) >= s.interval)
}

// checkpoint signs the chain through the last event, at time now; s.mu
// is held.
func (s *Stream) checkpoint(now time.Time) error {
	last := s.seq - 1
	sig, err := s.sign.sign(CheckpointMessage(s.ID, last, s.prev.String()))
	if err != nil {
		s.failed = fmt.Errorf("recorder: checkpoint %s: %w", s.ID, err)
		return s.failed
	}
	payload, err := Marshal(event.Checkpoint{Seq: last, ChainHead: s.prev.String(), Key: s.sign.fp, Sig: sig})
	if err != nil {
		return fmt.Errorf("recorder: encode checkpoint: %w", err)
	}
	// Later: an event follows it at once (emitLocked), or a sync
	// (idleCheckpoint), and the journal writes it with that.
	if err := s.append(event.TypeCheckpoint, rawPayload(payload), true, now); err != nil {
		return err
	}
	s.unsigned = 0
	s.timer.Stop()
	m := event.LedgerMark{Seq: s.seq - 1, Hash: s.prev.String()}
	if _, ok := s.out.(groupCommitter); !ok {
		return s.mark(event.TypeStreamCheckpoint, m) // Append made it durable
	}
	s.pendingMark, s.pendingMarkEnd = &m, s.end
	return nil
}

// idleCheckpoint runs on the timer: events that arrived and were followed
// by silence are signed within the interval. A failure is kept and
// returned by the next Emit.
//
// The stream fell idle, so it lets go of its line buffer too: an idle
// session holds none, and its next event grows a new one.
func (s *Stream) idleCheckpoint() {
	s.mu.Lock()
	if s.closed || s.failed != nil || s.unsigned == 0 {
		s.line = nil
		s.mu.Unlock()
		return
	}
	err := s.checkpoint(s.clock())
	end := s.end
	s.line = nil
	s.mu.Unlock()
	if err == nil {
		_ = s.makeDurable(end)
	}
}

// Close ends the stream, storing its signed manifest when the Recorder
// has a Signer; later Emits fail with ErrClosed.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.syncTimer != nil {
		s.syncTimer.Stop() // Finish makes everything durable
	}
	if s.sign == nil {
		return s.out.Finish(nil)
	}
	manifest, err := s.sign.signManifest(s.manifest())
	if err != nil {
		return errors.Join(err, s.out.Finish(nil))
	}
	if err := s.out.Finish(manifest); err != nil {
		return fmt.Errorf("recorder: close %s: %w", s.ID, err)
	}
	return s.mark(event.TypeStreamClosed, event.LedgerMark{Events: s.seq, Hash: s.prev.String()})
}

// manifest describes the stream as it is; s.mu is held.
func (s *Stream) manifest() Manifest {
	m := Manifest{
		V: SchemaVersion, Stream: s.ID, Kind: s.Kind, Identity: s.ledger.identity,
		Events: s.seq, ChainHead: s.prev.String(), Counts: s.ledger.counts,
		EndReason: s.ledger.endReason, Start: s.ledger.opened, End: s.clock().UTC(),
	}
	if s.seq > 0 {
		m.LastSeq = s.seq - 1
	}
	if m.EndReason == "" {
		m.EndReason = endClosed
	}
	if s.failed != nil {
		m.Error = s.failed.Error()
	}
	return m
}
