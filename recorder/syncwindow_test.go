package recorder

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/journal"
)

// TestEmitWithinSyncsOncePerWindow: EmitWithin returns before its event is
// durable; the events of one window share one sync, made when the window
// ends and not before (synctest's clock: the instants are exact).
func TestEmitWithinSyncsOncePerWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &slowSync{release: make(chan struct{})} // every sync blocks until released
		s := openOn(t, out)
		defer s.Close()
		const window = 50 * time.Millisecond
		for i := range 5 { // returning at all shows they do not wait for a sync
			if err := s.EmitWithin("db.decision", i, window); err != nil {
				t.Fatal(err)
			}
		}
		close(out.release)
		time.Sleep(window - time.Nanosecond)
		synctest.Wait()
		if got := out.status(); got.syncs != 0 {
			t.Fatalf("%d syncs before the window of %v ended, want none", got.syncs, window)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := out.status(); got.syncs != 1 || got.lines != 5 || got.synced != 5 {
			t.Fatalf("%d syncs through %d for %d lines, want 1 through 5 for 5", got.syncs, got.synced, got.lines)
		}
		// The next window arms a new sync.
		if err := s.EmitWithin("db.decision", 6, window); err != nil {
			t.Fatal(err)
		}
		time.Sleep(window)
		synctest.Wait()
		if got := out.status(); got.syncs != 2 {
			t.Fatalf("%d syncs after the second window, want 2", got.syncs)
		}
	})
}

// TestEmitWithinFailedSyncFailsTheStream: a sync the timer makes and that
// fails makes the next Emit fail, so the next action is refused.
func TestEmitWithinFailedSyncFailsTheStream(t *testing.T) {
	out := &slowSync{failAt: 1}
	s := openOn(t, out)
	defer s.Close()
	if err := s.EmitWithin("db.decision", 1, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return out.status().syncs == 1 })
	waitFor(t, func() bool { return s.EmitWithin("db.decision", 2, time.Millisecond) != nil })
	if err := s.Emit("db.decision", 3); err == nil || !errors.Is(err, s.failedErr()) {
		t.Fatalf("Emit after a failed timed sync: %v", err)
	}
}

// TestCloseStopsTheWindowSync: a stream closed with a sync pending is
// made durable by Close, and the timer does nothing afterwards.
func TestCloseStopsTheWindowSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &slowSync{}
		s := openOn(t, out)
		if err := s.EmitWithin("db.decision", 1, 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		syncs := out.status().syncs
		time.Sleep(time.Hour) // long past the window
		synctest.Wait()
		if got := out.status().syncs; got != syncs {
			t.Fatalf("the window's timer synced a closed stream (%d → %d syncs)", syncs, got)
		}
	})
}

type syncStatus struct {
	lines, syncs int
	synced       int64
}

func (a *slowSync) status() syncStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return syncStatus{lines: a.lines, syncs: a.syncs, synced: a.synced}
}

func (s *Stream) failedErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEmitHeldWaitsForTheSync: EmitHeld returns with its event written
// but not durable, and wait returns only once the sync is done, however
// many times it is called.
func TestEmitHeldWaitsForTheSync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &slowSync{release: make(chan struct{})}
		s := openOn(t, out)
		defer s.Close()
		wait, err := s.EmitHeld("db.decision", 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := out.status(); got.lines != 1 || got.synced != 0 {
			t.Fatalf("after EmitHeld: %d lines, synced through %d; want 1 line, none synced", got.lines, got.synced)
		}
		waited := make(chan error, 1)
		go func() { waited <- wait() }()
		synctest.Wait() // the sync and wait are blocked, or wait has returned
		select {
		case err := <-waited:
			t.Fatalf("wait returned (%v) before the sync was released", err)
		default:
		}
		close(out.release)
		if err := <-waited; err != nil {
			t.Fatal(err)
		}
		if got := out.status(); got.syncs != 1 || got.synced != 1 {
			t.Fatalf("after wait: %d syncs through %d, want 1 through 1", got.syncs, got.synced)
		}
		if err := wait(); err != nil {
			t.Fatalf("second wait: %v", err)
		}
	})
}

// TestEmitHeldFailedSyncFailsTheStream: a failed sync is wait's error,
// and every later Emit fails, so the session's next action is refused.
func TestEmitHeldFailedSyncFailsTheStream(t *testing.T) {
	out := &slowSync{failAt: 1}
	s := openOn(t, out)
	defer s.Close()
	wait, err := s.EmitHeld("db.decision", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err == nil {
		t.Fatal("wait: no error from a failed sync")
	}
	if err := s.Emit("db.decision", 2); err == nil || !errors.Is(err, s.failedErr()) {
		t.Fatalf("Emit after a failed sync: %v", err)
	}
	if _, err := s.EmitHeld("db.decision", 3); err == nil {
		t.Fatal("EmitHeld after a failed sync: no error")
	}
}

// TestEmitHeldSharesOneCommit: EmitHeld starts no commit of its own; its
// wait, called once the action's outcome is written (EmitLazy), makes
// both durable with one commit of the journal. A failed commit is wait's
// error and fails the stream.
func TestEmitHeldSharesOneCommit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failAt int64
	}{{"commit", 0}, {"failed commit", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			c := &syncCounter{failAt: tc.failAt}
			fs, jl := journaledStore(t, t.TempDir(), journal.Config{Create: c.create})
			s, err := (&Recorder{Store: fs}).Open(KindSession)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			wait, err := s.EmitHeld("db.decision", 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.EmitLazy("db.statement", 2); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond) // time for a commit, had one been asked for
			if n := c.syncs.Load(); n != 0 {
				t.Fatalf("%d syncs before anyone waited; want none", n)
			}
			err = wait()
			if tc.failAt > 0 {
				if !errors.Is(err, errDiskGone) || s.Emit("db.decision", 3) == nil {
					t.Fatalf("wait = %v, and the stream takes more; want the sync's failure, and a failed stream", err)
				}
				return
			}
			if err != nil || c.syncs.Load() != 1 {
				t.Fatalf("wait = %v after %d syncs; want nil after 1", err, c.syncs.Load())
			}
			// The outcome is durable too: committing through it syncs no more.
			if err := jl.j.Commit(jl.j.Appended()); err != nil || c.syncs.Load() != 1 {
				t.Fatalf("commit through the outcome = %v after %d syncs; want nil after the same 1", err, c.syncs.Load())
			}
		})
	}
}

// TestEmitHeldAllocatesNoWait: EmitHeld costs what EmitLazy does; the
// wait it returns for every statement is made once per stream. Each wait
// is a Sync, so calling it again is harmless.
func TestEmitHeldAllocatesNoWait(t *testing.T) {
	rec := &Recorder{Store: Discard{}, Clock: newFakeClock().now}
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	payload := selfEncoded{Text: "SELECT 1"}
	lazy := testing.AllocsPerRun(100, func() {
		if err := s.EmitLazy("db.statement", payload); err != nil {
			t.Fatal(err)
		}
	})
	held := testing.AllocsPerRun(100, func() {
		wait, err := s.EmitHeld("db.decision", payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	})
	if held > lazy {
		t.Errorf("EmitHeld and its wait allocate %.0f times, EmitLazy %.0f: want no more", held, lazy)
	}
}
