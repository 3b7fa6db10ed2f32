package consoleindex

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestIndexVerifiesAcrossRotation: an index opened with the recorder
// key B and the key A rotated out verifies the sessions of both; opened
// again with a not_after for A that falls before A's session, it is
// rebuilt (its results held for other windows) and lists A's session
// failing, naming A and its not_after.
func TestIndexVerifiesAcrossRotation(t *testing.T) {
	s := newStore(t)
	pubA := s.pub()
	_, idA := s.session("alice", false, "SELECT 1")
	_, b, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.key = b
	_, idB := s.session("bob", false, "SELECT 2")
	ring := func(notAfter time.Time) *recorder.Keyring {
		r, err := recorder.NewKeyring(recorder.TrustedKey{Key: s.pub()},
			recorder.TrustedKey{Key: pubA, Retired: true, NotAfter: notAfter, Name: "recording.trusted_keys[0]"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	dir := t.TempDir()
	verified := func(r *recorder.Keyring) map[string]error {
		t.Helper()
		x, err := OpenKeyring(dir, s.fs, s.fs.Dir, r)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
		s.sync(x)
		list, err := x.Sessions(recorder.Filter{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]error{}
		for _, l := range list {
			if !l.Verified {
				t.Fatalf("%s listed unverified", l.ID)
			}
			out[l.ID] = l.Verification
		}
		return out
	}
	if got := verified(ring(time.Time{})); len(got) != 2 || got[idA] != nil || got[idB] != nil {
		t.Fatalf("with A trusted: %v", got)
	}
	before := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) // A's session began after it
	got := verified(ring(before))
	if got[idB] != nil || got[idA] == nil || !strings.Contains(got[idA].Error(), "signed by retired key "+recorder.Fingerprint(pubA)) ||
		!strings.Contains(got[idA].Error(), "not_after is 2026-12-01T10:00:00Z") {
		t.Fatalf("with A's not_after before its session: %v", got)
	}
}
