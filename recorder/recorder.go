package recorder

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"
)

// Stream kinds.
const (
	KindSession = "sessions"
	KindCA      = "ca"
)

// Store opens durable appenders for new streams and reads them back.
type Store interface {
	Create(kind, id string) (Appender, error)
}

// Recorder hands out streams. Clock, if nil, is time.Now.
type Recorder struct {
	Store Store
	Clock func() time.Time
}

func (r *Recorder) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock()
}

// Open starts a new stream of the given kind with a fresh, time-ordered id.
func (r *Recorder) Open(kind string) (*Stream, error) {
	id := NewID(r.now())
	out, err := r.Store.Create(kind, id)
	if err != nil {
		return nil, fmt.Errorf("recorder: open %s stream: %w", kind, err)
	}
	return &Stream{ID: id, Kind: kind, clock: r.now, out: out, prev: GenesisHash}, nil
}

// NewID returns an id that sorts by time and is unique: UTC timestamp plus
// 48 random bits.
func NewID(t time.Time) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("recorder: crypto/rand failed: " + err.Error())
	}
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}
