package recorder

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Appender is where a stream's lines go; the file store is one.
type Appender interface {
	// Append writes one line durably (on return it survives a crash).
	Append(line []byte) error
	Close() error
}

// Stream is one chained sequence of events: an SSH session, or the CA's
// issuances during one process lifetime. It is safe for concurrent use.
type Stream struct {
	ID    string
	Kind  string
	clock func() time.Time

	mu     sync.Mutex
	out    Appender
	seq    uint64
	prev   string
	closed bool
}

// ErrClosed is returned by Emit after Close.
var ErrClosed = errors.New("recorder: stream closed")

// Emit appends an event of the given type with data as its payload. An
// error means the event was not recorded; callers refuse the action the
// event describes (fail closed).
func (s *Stream) Emit(typ string, data any) error {
	payload, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("recorder: encode %s: %w", typ, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	ev := Event{V: SchemaVersion, Stream: s.ID, Seq: s.seq, Time: s.clock().UTC(), Type: typ, Prev: s.prev, Data: payload}
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("recorder: encode %s: %w", typ, err)
	}
	if err := s.out.Append(line); err != nil {
		return fmt.Errorf("recorder: append %s to %s: %w", typ, s.ID, err)
	}
	s.seq++
	s.prev = LineHash(line)
	return nil
}

// Close ends the stream; later Emits fail with ErrClosed.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.out.Close()
}
