package recorder

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSpoolMaxBytes bounds what the spool may hold that the store does
// not have yet (recording.spool_max_bytes).
const DefaultSpoolMaxBytes = 1 << 30

// probeInterval is how often a Spool that failed a write tries again to
// write and sync a file of its own, to learn that it can be written again.
const probeInterval = time.Second

// Backlog is what a spool holds that its final store does not have yet:
// the S3 uploader is one. Bytes are those waiting; why is the store's last
// error while it is failing, else nil.
type Backlog interface {
	Backlog() (bytes int64, why error)
}

// Spool is the Store events are made durable in first. It watches itself
// so that the recorder can refuse new sessions and statements before
// events are lost (fail closed): Health reports a write or fsync that
// failed until a probe file can be written and synced again, and a backlog
// above MaxBytes until the store catches up.
type Spool struct {
	Store Store  // the streams' store: a FileStore, or an uploader's wrapping one
	Dir   string // where the probe is written: the FileStore's directory
	// Waiting, if not nil, is what the final store does not have yet;
	// MaxBytes bounds it (0: DefaultSpoolMaxBytes).
	Waiting  Backlog
	MaxBytes int64
	// Journal, if not nil, is the Store's journal: once it has failed,
	// nothing can be made durable, whatever a probe file says.
	Journal interface{ Err() error }

	mu       sync.Mutex
	fault    error // the last failed write; nil once a probe succeeds
	probedAt time.Time
	cached   atomic.Pointer[checked] // Health's last answer
}

// healthTTL is how long Health's answer is reused: it is asked before
// every statement, and a backlog that grew a moment ago changes nothing.
const healthTTL = 50 * time.Millisecond

type checked struct {
	at  time.Time
	err error
}

// UnavailableError is why the recorder cannot take on a new session or
// statement. Summary is for the client; Cause is for the log and /healthz.
type UnavailableError struct {
	Summary string
	Cause   error
}

func (e *UnavailableError) Error() string {
	return "recorder: recording unavailable: " + e.Summary + ": " + e.Cause.Error()
}

func (e *UnavailableError) Unwrap() error { return e.Cause }

// Summaries of UnavailableError (docs/recording-format.md, "Fail closed").
const (
	SummarySpoolFull     = "the recording spool is full while the recording store is unreachable"
	SummarySpoolUnusable = "the recording spool cannot be written"
)

// UnavailableSummary is what a client is told of why the recorder cannot
// take on more: err's Summary when it is an *UnavailableError.
func UnavailableSummary(err error) string {
	var ue *UnavailableError
	if errors.As(err, &ue) {
		return ue.Summary
	}
	return "recordings cannot be kept right now"
}

// Health is nil when the spool can take new recordings, else an
// *UnavailableError saying why not.
func (s *Spool) Health() error {
	if c := s.cached.Load(); c != nil && time.Since(c.at) < healthTTL {
		return c.err
	}
	err := s.health()
	s.cached.Store(&checked{at: time.Now(), err: err})
	return err
}

func (s *Spool) health() error {
	if s.Journal != nil {
		if err := s.Journal.Err(); err != nil {
			return &UnavailableError{Summary: SummarySpoolUnusable, Cause: err}
		}
	}
	if err := s.writeHealth(); err != nil {
		return &UnavailableError{Summary: SummarySpoolUnusable, Cause: err}
	}
	if s.Waiting == nil {
		return nil
	}
	n, why := s.Waiting.Backlog()
	if limit := s.limit(); n > limit {
		cause := fmt.Errorf("%d bytes wait to be uploaded, more than recording.spool_max_bytes (%d)", n, limit)
		if why != nil {
			cause = fmt.Errorf("%w; the store's last error: %w", cause, why)
		}
		return &UnavailableError{Summary: SummarySpoolFull, Cause: cause}
	}
	return nil
}

func (s *Spool) limit() int64 {
	if s.MaxBytes <= 0 {
		return DefaultSpoolMaxBytes
	}
	return s.MaxBytes
}

// writeHealth is the last write failure, unless a probe now succeeds.
func (s *Spool) writeHealth() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fault == nil || time.Since(s.probedAt) < probeInterval {
		return s.fault
	}
	s.probedAt = time.Now()
	if err := s.probe(); err != nil {
		return fmt.Errorf("%w (still failing: %w)", s.fault, err)
	}
	s.fault = nil
	return nil
}

// probe writes, syncs and removes a small file in the spool's directory.
func (s *Spool) probe() error {
	f, err := os.CreateTemp(s.Dir, ".probe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 4096))
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func (s *Spool) failed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = fmt.Errorf("writing the spool in %s failed: %w", s.Dir, err)
	s.probedAt = time.Now()
	s.cached.Store(nil)
}

// Create implements Store: the stream's writes are watched.
func (s *Spool) Create(kind, id string) (Appender, error) {
	if err := s.writeHealth(); err != nil {
		return nil, &UnavailableError{Summary: SummarySpoolUnusable, Cause: err}
	}
	a, err := s.Store.Create(kind, id)
	if err != nil {
		s.failed(err)
		return nil, err
	}
	if jw, ok := a.(journaledWriter); ok {
		return &watchedJournaled{watchedCommitter{watched{a, s}, jw}, jw}, nil
	}
	if gc, ok := a.(groupCommitter); ok {
		return &watchedCommitter{watched{a, s}, gc}, nil
	}
	return watched{a, s}, nil
}

// watched reports the failures of an Appender to its Spool.
type watched struct {
	Appender
	s *Spool
}

func (w watched) note(err error) error {
	if err != nil {
		w.s.failed(err)
	}
	return err
}

func (w watched) Append(line []byte) error     { return w.note(w.Appender.Append(line)) }
func (w watched) Finish(manifest []byte) error { return w.note(w.Appender.Finish(manifest)) }

type watchedCommitter struct {
	watched
	gc groupCommitter
}

func (w *watchedCommitter) Write(line []byte) (int64, error) {
	end, err := w.gc.Write(line)
	return end, w.note(err)
}

func (w *watchedCommitter) SyncThrough(end int64) error { return w.note(w.gc.SyncThrough(end)) }

// watchedJournaled is a watchedCommitter that keeps the journal's other
// abilities (journaledWriter).
type watchedJournaled struct {
	watchedCommitter
	jw journaledWriter
}

func (w *watchedJournaled) WriteLater(line []byte) (int64, error) {
	end, err := w.jw.WriteLater(line)
	return end, w.note(err)
}
