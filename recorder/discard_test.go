package recorder

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
)

// TestDiscard: streams on the discard store take events, checkpoints and
// a manifest, and no Emit waits for durability (the Appender is not a
// groupCommitter, so makeDurable returns at once).
func TestDiscard(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{Store: Discard{}, Signer: key, CheckpointEvents: 2}
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.out.(groupCommitter); ok {
		t.Fatal("the discard appender is a groupCommitter: Emit would wait to make events durable")
	}
	for i := 0; i < 5; i++ {
		if err := s.Emit("db.decision", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
		if err := s.EmitLazy("db.statement", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.seq < 10 {
		t.Errorf("the stream counted %d events, want at least the 10 emitted", s.seq)
	}
	if err := rec.Health(); err != nil {
		t.Errorf("Health = %v, want nil", err)
	}
}
