package ca

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxSeenRequests bounds the agent requests remembered at once: one per
// agent certificate issued in the last 2×agentRequestWindow, each only
// after its engineer's signature verified. When full, new requests are
// refused (fail closed) until old ones age out.
const maxSeenRequests = 100_000

// seenRequests makes signed agent requests single-use: a request is
// remembered until its issued_at is out of the window decodeClaims
// accepts, so a replay (of a request whose certificate was revoked by
// serial, say) is refused instead of minting another certificate.
// It lives in memory: a CA restarted within the window, or another
// replica, does not know what this one saw (docs/agents.md). The zero
// value is ready to use.
type seenRequests struct {
	mu   sync.Mutex
	seen map[[sha256.Size]byte]time.Time // claims hash → when it can be forgotten
}

// first records the signed claims and reports whether they were new.
// forgetAt is when a replay would be refused as stale anyway; full is
// true when nothing more can be remembered.
func (s *seenRequests) first(claims []byte, now, forgetAt time.Time) (isNew, full bool) {
	key := sha256.Sum256(claims)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[[sha256.Size]byte]time.Time{}
	}
	if _, ok := s.seen[key]; ok {
		return false, false
	}
	// Agent requests are rare and each cost a verified signature, so a
	// pass over what is remembered per request is cheap.
	s.forget(now)
	if len(s.seen) >= maxSeenRequests {
		return false, true
	}
	s.seen[key] = forgetAt
	return true, false
}

// forget drops what can no longer be replayed; s.mu is held.
func (s *seenRequests) forget(now time.Time) {
	for k, at := range s.seen {
		if now.After(at) {
			delete(s.seen, k)
		}
	}
}
