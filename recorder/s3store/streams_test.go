package s3store

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// newRecorder and recordSession make streams for the tests, with or
// without a real S3 server (the servers build tag).
func newRecorder(t *testing.T, store recorder.Store) (*recorder.Recorder, ed25519.PublicKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &recorder.Recorder{Store: store, Signer: priv}, pub
}

func recordSession(t *testing.T, rec *recorder.Recorder, n int) string {
	t.Helper()
	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("session.start", map[string]string{"client_addr": "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Emit("db.statement", map[string]any{"text": "SELECT 1", "i": i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Emit("session.end", map[string]string{"reason": "client disconnected"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s.ID
}
