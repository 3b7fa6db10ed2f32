package ca

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// IssuedStreams is the CA's record of its issuances as IssuedIndex reads
// it: the CA streams of the recording store. ca does not import recorder;
// cmd passes an implementation over the recorder's file store.
type IssuedStreams interface {
	// List returns the ids of the CA streams.
	List() ([]string, error)
	// Closed reports whether stream id is complete (its manifest is
	// written): its lines no longer change. IssuedIndex asks before it
	// reads the lines, so that a stream closed in between is read again.
	Closed(id string) bool
	// Issued returns the cert.issued events of stream id, skipping lines
	// that do not decode (the end of a stream being written). An error
	// wrapping fs.ErrNotExist means the stream is gone.
	Issued(id string) ([]IssuedEvent, error)
}

// IssuedIndex is the certificates the CA has issued, from its record,
// for the revocation list's identity entries and the agents of revoked
// engineers. It remembers what closed streams hold, which never changes,
// so that each GET /v1/krl reads again only the streams still being
// written. Streams is required; an IssuedIndex is safe for concurrent use.
type IssuedIndex struct {
	Streams IssuedStreams

	mu     sync.Mutex
	closed map[string][]IssuedEvent
}

// All returns every cert.issued event of the CA's record.
func (x *IssuedIndex) All() ([]IssuedEvent, error) {
	ids, err := x.Streams.List()
	if err != nil {
		return nil, err // the store's error names the directory; `gatehouse revoke` prints it as it is
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed == nil {
		x.closed = map[string][]IssuedEvent{}
	}
	var out []IssuedEvent
	for _, id := range ids {
		evs, err := x.stream(id)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// stream reads one stream, or recalls it when it was closed when read.
func (x *IssuedIndex) stream(id string) ([]IssuedEvent, error) {
	if evs, ok := x.closed[id]; ok {
		return evs, nil
	}
	// Closed before the lines are read: then the lines are complete.
	closed := x.Streams.Closed(id)
	evs, err := x.Streams.Issued(id)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Pruned from an S3 server's spool since List: CA streams stay
		// there at least ca.max_ttl after their upload, so every
		// certificate this one issued has expired.
		return nil, nil
	case err != nil:
		return nil, err
	}
	if closed {
		x.closed[id] = evs
	}
	return evs, nil
}

// KRLFunc serves the list at GET /v1/krl, resolving identity entries and
// revoked engineers' agents through issued, which is read only when the
// list has entries (and, while the shared state is unavailable, recalled
// as last read). now nil means time.Now.
func (l *RevocationList) KRLFunc(userCA gossh.PublicKey, issued IssuedRecord, now func() time.Time) KRLFunc {
	if now == nil {
		now = time.Now
	}
	var last lastIssued
	return func(context.Context) ([]byte, error) {
		var evs []IssuedEvent
		if len(l.Entries()) > 0 {
			var err error
			if evs, err = last.read(issued); err != nil {
				return nil, err
			}
		}
		return l.KRL(userCA, evs, now())
	}
}

// lastIssued remembers the last record read, for when the shared state
// cannot be reached: nothing is issued then (issuance needs it too), so
// the last record lacks no certificate and the KRL stays whole. Any other
// failure to read the record is an error.
type lastIssued struct {
	mu   sync.Mutex
	evs  []IssuedEvent
	have bool
}

func (x *lastIssued) read(issued IssuedRecord) ([]IssuedEvent, error) {
	evs, err := issued.All()
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case err == nil:
		x.evs, x.have = evs, true
	case errors.Is(err, ErrStateUnavailable) && x.have:
		return x.evs, nil
	}
	return evs, err
}
