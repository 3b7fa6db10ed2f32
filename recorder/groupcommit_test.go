package recorder

import (
	"errors"
	"sync"
	"testing"
	"testing/synctest"
)

// slowSync is a groupCommitter whose fsync is counted and can fail.
type slowSync struct {
	mu      sync.Mutex
	lines   int
	syncs   int
	synced  int64
	failAt  int // fail the n-th sync (1-based); 0 never
	release chan struct{}
}

func (a *slowSync) Append(line []byte) error { panic("Append used although Write/SyncThrough exist") }
func (a *slowSync) Finish([]byte) error      { return nil }

func (a *slowSync) Write(line []byte) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines++
	return int64(a.lines), nil
}

func (a *slowSync) SyncThrough(end int64) error {
	if a.release != nil {
		<-a.release
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.synced >= end {
		return nil
	}
	a.syncs++
	if a.syncs == a.failAt {
		return errors.New("disk gone")
	}
	a.synced = int64(a.lines)
	return nil
}

type fixedStore struct{ out Appender }

func (s fixedStore) Create(kind, id string) (Appender, error) { return s.out, nil }

// openOn opens a session stream whose every line goes to out.
func openOn(t *testing.T, out Appender) *Stream {
	t.Helper()
	s, err := (&Recorder{Store: fixedStore{out}}).Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &slowSync{release: make(chan struct{})}
		s := openOn(t, out)
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Go(func() {
				if err := s.Emit("x", i); err != nil {
					t.Error(err)
				}
			})
		}
		// No Emit returns before its line is durable: all wait on the sync.
		synctest.Wait()
		if n := out.linesWritten(); n != 8 {
			t.Fatalf("%d lines written while the sync is held, want 8", n)
		}
		close(out.release)
		wg.Wait()
		if out.syncs >= 8 {
			t.Errorf("%d syncs for 8 concurrent events; group commit should share them", out.syncs)
		}
		if out.synced != 8 {
			t.Errorf("synced through %d lines, want 8", out.synced)
		}
	})
}

func (a *slowSync) linesWritten() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lines
}

func TestGroupCommitSyncFailureFailsStream(t *testing.T) {
	out := &slowSync{failAt: 2}
	s := openOn(t, out)
	if err := s.Emit("a", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("b", 2); err == nil {
		t.Fatal("Emit returned nil although its fsync failed")
	}
	if err := s.Emit("c", 3); err == nil {
		t.Fatal("Emit after a failed fsync succeeded; the stream must stay failed")
	}
}

// TestEmitLazyWaitsForNoSync: outcome events are written at once and made
// durable by the next Emit (the decision before the next action), so a
// statement costs one fsync, not two.
func TestEmitLazyWaitsForNoSync(t *testing.T) {
	out := &slowSync{}
	s := openOn(t, out)
	for i := range 3 {
		if err := s.Emit("db.decision", i); err != nil {
			t.Fatal(err)
		}
		if err := s.EmitLazy("db.statement", i); err != nil {
			t.Fatal(err)
		}
	}
	if out.syncs != 3 || out.synced != 5 || out.lines != 6 {
		t.Errorf("%d syncs through line %d of %d; want 3 through 5 of 6 (the last outcome not yet durable)", out.syncs, out.synced, out.lines)
	}
	if err := s.Sync(); err != nil || out.synced != 6 {
		t.Errorf("Sync = %v, synced through %d; want all 6", err, out.synced)
	}
}
