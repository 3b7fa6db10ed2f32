package ca

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/ca/caapi"
)

// TestAgentRequestSingleUse: a signed agent request mints one
// certificate. Replayed, even after that certificate was revoked by
// serial, it is refused and the refusal recorded; a request signed anew
// is accepted.
func TestAgentRequestSingleUse(t *testing.T) {
	a, rec := newTestAuthority(t)
	e := issueEngineer(t, a, time.Hour)
	ar := agentRequest(t, e, e.key, caapi.AgentNamespace, claimsFor(t, e))
	first, err := a.IssueAgent(context.Background(), ar)
	if err != nil {
		t.Fatalf("IssueAgent: %v", err)
	}
	a.IsRevoked = func(c *gossh.Certificate) bool { return c.Serial == first.Serial }

	for _, later := range []time.Duration{0, time.Minute, agentRequestWindow} {
		now := testNow.Add(later)
		a.Clock = func() time.Time { return now }
		cert, err := a.IssueAgent(context.Background(), ar)
		checkRefusal(t, rec, cert, err, caapi.CodeInvalidRequest, "used already")
	}

	c := claimsFor(t, e)
	c.IssuedAt = testNow.Add(agentRequestWindow + time.Second)
	if _, err := a.IssueAgent(context.Background(), agentRequest(t, e, e.key, caapi.AgentNamespace, c)); err != nil {
		t.Fatalf("a request signed anew: %v", err)
	}
}

// TestSeenRequestsBounded: what is remembered is forgotten once it would
// be stale anyway, and no more than maxSeenRequests are held.
func TestSeenRequestsBounded(t *testing.T) {
	var s seenRequests
	now := testNow
	claims := func(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }
	if isNew, _ := s.first(claims(0), now, now.Add(time.Minute)); !isNew {
		t.Fatal("first request not new")
	}
	if isNew, _ := s.first(claims(0), now.Add(59*time.Second), now.Add(time.Minute)); isNew {
		t.Fatal("a replay within its window counted as new")
	}
	if isNew, _ := s.first(claims(0), now.Add(2*time.Minute), now.Add(3*time.Minute)); isNew {
		t.Fatal("a remembered request was forgotten before it was looked up")
	}
	// Fill up: the next request is refused until the oldest age out.
	s.seen = map[[sha256.Size]byte]time.Time{}
	for i := range maxSeenRequests {
		s.seen[sha256.Sum256(claims(i))] = now.Add(time.Minute)
	}
	if isNew, full := s.first(claims(-1), now, now.Add(time.Minute)); isNew || !full {
		t.Fatalf("full memory: isNew %v full %v, want a refusal", isNew, full)
	}
	if isNew, full := s.first(claims(-1), now.Add(2*time.Minute), now.Add(3*time.Minute)); !isNew || full {
		t.Fatalf("after the window: isNew %v full %v, want room again", isNew, full)
	}
	if len(s.seen) != 1 {
		t.Errorf("%d remembered, want only the newest", len(s.seen))
	}
}
