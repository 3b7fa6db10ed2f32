package bastion

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// blockingSync is a recorder Appender whose fsyncs wait for release.
type blockingSync struct {
	mu      sync.Mutex
	written int64
	release chan struct{}
}

func (a *blockingSync) Append([]byte) error { panic("Append used although Write/SyncThrough exist") }
func (a *blockingSync) Finish([]byte) error { return nil }
func (a *blockingSync) Write(line []byte) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.written += int64(len(line)) + 1
	return a.written, nil
}
func (a *blockingSync) SyncThrough(int64) error { <-a.release; return nil }

type oneAppender struct{ a recorder.Appender }

func (s oneAppender) Create(string, string) (recorder.Appender, error) { return s.a, nil }

// TestDecisionWaitsForItsFsync: by default a decision is recorded only
// once fsynced; under recording.decision_sync_window it is recorded as
// soon as it is written.
func TestDecisionWaitsForItsFsync(t *testing.T) {
	for _, window := range []time.Duration{0, 5 * time.Millisecond} {
		out := &blockingSync{release: make(chan struct{})}
		stream, err := (&recorder.Recorder{Store: oneAppender{out}}).Open(recorder.KindSession)
		if err != nil {
			t.Fatal(err)
		}
		cfg := &policy.Config{Recording: policy.RecordingConfig{DecisionSyncWindow: policy.Duration(window)}}
		s := &pgSession{cs: &connState{srv: &Server{cfg: Config{Policy: cfg}}, stream: stream}}
		done := make(chan error, 1)
		go func() { done <- s.emitDecision(dbDecision{Text: "SELECT 1", Decision: "allow"}) }()
		wait := 100 * time.Millisecond // window 0: long enough to see it does not return
		if window != 0 {
			wait = 5 * time.Second // it returns; how soon is not what is tested
		}
		select {
		case err := <-done:
			if window == 0 {
				t.Fatalf("window 0: the decision returned (%v) before its fsync", err)
			}
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(wait):
			if window != 0 {
				t.Fatalf("window %v: the decision waited for its fsync", window)
			}
		}
		close(out.release)
		if window == 0 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		stream.Close()
	}
}
