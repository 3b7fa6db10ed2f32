package recorder

import (
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Stream kinds.
const (
	KindSession = "sessions"
	KindCA      = "ca"
	// KindConsole is the auditor console's activity: one stream per
	// `gatehouse console` process.
	KindConsole = "console"
)

// Checkpoint defaults: a stream signs its chain at least this often while
// events arrive (DESIGN.md, "Recording").
const (
	DefaultCheckpointEvents   = 1000
	DefaultCheckpointInterval = 10 * time.Second
)

// Store opens durable appenders for new streams and reads them back.
type Store interface {
	Create(kind, id string) (Appender, error)
}

// Recorder hands out streams.
type Recorder struct {
	Store Store
	// Clock, if nil, is time.Now.
	Clock func() time.Time
	// Signer is the recorder key; its Public() must be an
	// ed25519.PublicKey (an ed25519.PrivateKey is one). With a Signer,
	// streams carry signed checkpoints and are closed with a signed
	// manifest. If nil, streams carry the hash chain only, and Verify
	// reports them as never closed.
	Signer crypto.Signer
	// CheckpointEvents and CheckpointInterval bound how much of a stream
	// may go unsigned: a checkpoint is written before the event that
	// would exceed either. Zero means DefaultCheckpointEvents and
	// DefaultCheckpointInterval. The interval is measured with Clock
	// when events are emitted, and by a timer while the stream is idle.
	CheckpointEvents   int
	CheckpointInterval time.Duration
	// FailOpen is recording.fail_closed: false. When the Store reports
	// itself unhealthy, Ready logs a warning and returns nil instead of
	// the error that refuses the session or statement.
	FailOpen bool
	// Logger receives the warnings of FailOpen; nil is slog.Default().
	Logger *slog.Logger

	marks *Stream // the ledger (ledger.go), once OpenLedger
}

// healthReporter is a Store that knows whether it can take new
// recordings (a Spool).
type healthReporter interface{ Health() error }

// Health is nil when the store can take new recordings, else why not
// (an *UnavailableError for a Spool), whatever FailOpen says.
func (r *Recorder) Health() error {
	if h, ok := r.Store.(healthReporter); ok {
		return h.Health()
	}
	return nil
}

// Ready is nil when a new session or statement may go ahead: the store is
// healthy, or FailOpen accepts the risk (and logs it). Otherwise the
// caller refuses the action, showing the client UnavailableError.Summary.
func (r *Recorder) Ready() error {
	err := r.Health()
	if err == nil || !r.FailOpen {
		return err
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	log.Warn("recording unavailable, going ahead because recording.fail_closed is false", "error", err)
	return nil
}

func (r *Recorder) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock()
}

// Open starts a new stream of the given kind with a fresh, time-ordered id.
// A Spool refuses it (an *UnavailableError) while it cannot be written;
// a spool that is merely full still opens streams, so that the refusals
// of new actions (Ready) are recorded.
func (r *Recorder) Open(kind string) (*Stream, error) {
	sign, err := newSigner(r.Signer)
	if err != nil {
		return nil, err
	}
	opened := r.now()
	id := NewID(opened)
	out, err := r.Store.Create(kind, id)
	if err != nil {
		return nil, fmt.Errorf("recorder: open %s stream: %w", kind, err)
	}
	s := &Stream{ID: id, Kind: kind, clock: r.now, out: out, prev: genesisHead, sign: sign, ready: r.Ready, marks: r.marks}
	s.syncFunc = s.Sync
	s.ledger = ledger{opened: opened.UTC(), counts: map[string]uint64{}}
	s.every, s.interval = r.CheckpointEvents, r.CheckpointInterval
	if s.every <= 0 {
		s.every = DefaultCheckpointEvents
	}
	if s.interval <= 0 {
		s.interval = DefaultCheckpointInterval
	}
	if err := s.mark(event.TypeStreamOpen, event.LedgerMark{}); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// NewID returns an id that sorts by time and is unique: UTC timestamp plus
// 48 random bits.
func NewID(t time.Time) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("recorder: crypto/rand failed: " + err.Error())
	}
	return t.UTC().Format(idTimeLayout) + "-" + hex.EncodeToString(b[:])
}

const idTimeLayout = "20060102T150405Z"

// IDTime is when the stream with this id was opened, read from the id.
func IDTime(id string) (time.Time, bool) {
	if len(id) < len(idTimeLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(idTimeLayout, id[:len(idTimeLayout)])
	return t, err == nil
}
