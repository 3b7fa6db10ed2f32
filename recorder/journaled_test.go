package recorder

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/journal"
)

// syncCounter makes journal segments whose syncs are counted, and can be
// held or failed.
type syncCounter struct {
	syncs   atomic.Int64
	failAt  int64         // the n-th sync fails; 0 never
	release chan struct{} // if set, syncs wait for it
}

var errDiskGone = errors.New("disk gone")

func (c *syncCounter) create(path string, size int64) (journal.File, error) {
	f, err := journal.CreateSegment(path, size)
	return countedFile{f, c}, err
}

type countedFile struct {
	journal.File
	c *syncCounter
}

func (f countedFile) Sync() error {
	if f.c.release != nil {
		<-f.c.release
	}
	if n := f.c.syncs.Add(1); n == f.c.failAt {
		return errDiskGone
	}
	return f.File.Sync()
}

// journaledStore opens a file store in dir with its journal, closed at
// the end of the test.
func journaledStore(t testing.TB, dir string, cfg journal.Config) (FileStore, *Journal) {
	t.Helper()
	fs, jl, err := OpenJournal(FileStore{Dir: dir}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { jl.Close() })
	return fs, jl
}

// crash leaves streams as a killed process does: their files closed
// without Finish, no manifest, and the journal closed (what it made
// durable stays).
func crash(jl *Journal, streams ...*Stream) {
	for _, s := range streams {
		s.mu.Lock()
		s.closed = true // its timers and the test's cleanup do nothing more
		if s.timer != nil {
			s.timer.Stop()
		}
		s.out.(*journaledAppender).f.Close()
		s.mu.Unlock()
	}
	jl.Close()
}

func streamPath(fs FileStore, kind, id string) string {
	return filepath.Join(fs.Dir, kind, id+".jsonl")
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// recoverAll does what recorder/stack does at start: the journal first,
// then the streams and ledgers left open.
func recoverAll(t *testing.T, dir string) (FileStore, []string) {
	t.Helper()
	fs, _ := journaledStore(t, dir, journal.Config{})
	done, err := RecoverJournal(fs)
	if err != nil {
		t.Fatalf("RecoverJournal: %v", err)
	}
	rec := &Recorder{Store: fs, Signer: testKey}
	for _, kind := range []string{KindSession, KindLedger} {
		if _, err := rec.Recover(fs, kind); err != nil {
			t.Fatalf("Recover %s: %v", kind, err)
		}
	}
	return fs, done
}

// TestJournalCompletesAStreamFileThatLostItsTail: the journal made the
// events durable, the stream's own file lost its tail (never synced, the
// machine died): recovery puts them back, and the stream verifies.
func TestJournalCompletesAStreamFileThatLostItsTail(t *testing.T) {
	dir := t.TempDir()
	fs, jl := journaledStore(t, dir, journal.Config{})
	rec := ledgeredRecorder(t, fs, newFakeClock(), 3)
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		if err := s.Emit("test.event", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	path := streamPath(fs, KindSession, s.ID)
	whole := readFile(t, path)
	crash(jl, s, rec.marks)
	if err := os.Truncate(path, int64(len(whole)/2)); err != nil {
		t.Fatal(err)
	}

	fs2, done := recoverAll(t, dir)
	if got := readFile(t, path); !bytes.Equal(got, whole) {
		t.Fatalf("after recovery the stream holds %d bytes, want the %d it was acknowledged with", len(got), len(whole))
	}
	if !slices.Contains(done, KindSession+"/"+s.ID) {
		t.Errorf("RecoverJournal reported %v, not the stream it completed", done)
	}
	r, err := VerifyStored(fs2, KindSession, s.ID, testPub())
	if err != nil {
		t.Fatalf("verify after recovery: %v", err)
	}
	if r.Events != 9 { // 7 events and 2 checkpoints
		t.Errorf("verified %d events, want 9", r.Events)
	}
	if segs, _ := journal.Read(JournalDir(fs2), fs2.Journal.j.First()); len(segs) != 0 {
		t.Errorf("%d segments of the crashed run kept after a clean recovery", len(segs))
	}
}

// TestJournalKeepsEverythingAcknowledged: streams written at once, by
// many goroutines, then a crash that loses whatever their files had not
// synced (any tail, or the whole file): every event an Emit acknowledged
// is in its stream after recovery, and every stream verifies.
func TestJournalKeepsEverythingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	fs, jl := journaledStore(t, dir, journal.Config{SegmentSize: 64 << 10})
	rec := ledgeredRecorder(t, fs, newFakeClock(), 5)
	const streams, events = 8, 40
	all := make([]*Stream, streams)
	acked := make([][]int, streams)
	var wg sync.WaitGroup
	for i := range all {
		s, err := rec.Open(KindSession)
		if err != nil {
			t.Fatal(err)
		}
		all[i] = s
		wg.Go(func() {
			for e := range events {
				if err := s.Emit("test.event", map[string]int{"i": e}); err != nil {
					t.Error(err)
					return
				}
				acked[i] = append(acked[i], e)
			}
		})
	}
	wg.Wait()
	crash(jl, append(all, rec.marks)...)
	for i, s := range all {
		path := streamPath(fs, KindSession, s.ID)
		switch size := int64(len(readFile(t, path))); i % 3 {
		case 0:
			os.Remove(path) // its directory entry was never synced
		case 1:
			os.Truncate(path, 0)
		default:
			os.Truncate(path, size*int64(i)/streams)
		}
	}

	fs2, _ := recoverAll(t, dir)
	for i, s := range all {
		if _, err := VerifyStored(fs2, KindSession, s.ID, testPub()); err != nil {
			t.Errorf("stream %d: %v", i, err)
		}
		lines, err := fs2.Lines(KindSession, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range decodeAll(t, lines) {
			if ev.Type == "test.event" {
				got = append(got, string(ev.Data))
			}
		}
		for _, e := range acked[i] {
			if want := fmt.Sprintf(`{"i":%d}`, e); !slices.Contains(got, want) {
				t.Fatalf("stream %d lost the acknowledged event %s (has %d events)", i, want, len(got))
			}
		}
	}
}

// TestJournalRecoveryNeverOverwrites: a stream file that differs from its
// journal is named in the error and left as it is, and the segments stay
// for another try.
func TestJournalRecoveryNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	fs, jl := journaledStore(t, dir, journal.Config{})
	rec := ledgeredRecorder(t, fs, newFakeClock(), 100)
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if err := s.Emit("test.event", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	crash(jl, s, rec.marks)
	path := streamPath(fs, KindSession, s.ID)
	data := readFile(t, path)
	data = bytes.Replace(data[:len(data)/2], []byte(`"i":0`), []byte(`"i":9`), 1)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	fs2, _ := journaledStore(t, dir, journal.Config{})
	_, err = RecoverJournal(fs2)
	if err == nil || !strings.Contains(err.Error(), s.ID) || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("RecoverJournal = %v, want an error naming %s and the difference", err, s.ID)
	}
	if got := readFile(t, path); !bytes.Equal(got, data) {
		t.Error("the file that differs from the journal was changed")
	}
	if segs, _ := journal.Read(JournalDir(fs2), fs2.Journal.j.First()); len(segs) == 0 {
		t.Error("the crashed run's segments were removed although a stream could not be completed")
	}
}

// TestJournalFailedSyncFailsEverySession: the sync that fails fails every
// session waiting on it, and every later event of any session.
func TestJournalFailedSyncFailsEverySession(t *testing.T) {
	c := &syncCounter{failAt: 1, release: make(chan struct{})}
	fs, jl := journaledStore(t, t.TempDir(), journal.Config{Create: c.create})
	rec := &Recorder{Store: fs}
	const sessions = 4
	errs := make(chan error, sessions)
	var all []*Stream
	for range sessions {
		s, err := rec.Open(KindSession)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s)
		go func() { errs <- s.Emit("db.decision", 1) }()
	}
	for jl.j.Appended() < sessions {
		time.Sleep(time.Millisecond) // every decision written, waiting for the sync
	}
	close(c.release)
	for range sessions {
		if err := <-errs; !errors.Is(err, errDiskGone) {
			t.Errorf("Emit = %v, want the failed sync's error", err)
		}
	}
	for i, s := range all {
		if err := s.Emit("db.decision", 2); err == nil {
			t.Errorf("session %d: Emit after a failed sync succeeded", i)
		}
	}
	late, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := late.Emit("db.decision", 3); !errors.Is(err, errDiskGone) {
		t.Errorf("a new session's Emit = %v, want the failed sync's error", err)
	}
}

// TestJournalRecyclesWhileStreamsStayOpen: a stream that stays open and
// idle (the CA's) does not keep the journal from being recycled: past
// DefaultJournalSegments, open streams sync their own files.
func TestJournalRecyclesWhileStreamsStayOpen(t *testing.T) {
	dir := t.TempDir()
	fs, _ := journaledStore(t, dir, journal.Config{SegmentSize: 4096})
	rec := &Recorder{Store: fs}
	ca, err := rec.Open(KindCA)
	if err != nil {
		t.Fatal(err)
	}
	defer ca.Close()
	if err := ca.Emit("cert.issued", 1); err != nil {
		t.Fatal(err)
	}
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	most := 0
	for i := range 600 { // ~30 segments' worth
		if err := s.Emit("db.statement", strings.Repeat("x", 150)+fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(JournalDir(fs))
		if err != nil {
			t.Fatal(err)
		}
		most = max(most, len(entries))
	}
	if most > DefaultJournalSegments+2 {
		t.Errorf("the journal grew to %d segments while the CA stream stayed open; want at most %d", most, DefaultJournalSegments+2)
	}
}

// TestJournalSyncWindowAndOverlap: EmitHeld's wait and EmitWithin's
// window ride on the journal's commit.
func TestJournalSyncWindowAndOverlap(t *testing.T) {
	c := &syncCounter{}
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
	if err := wait(); err != nil || c.syncs.Load() != 1 {
		t.Fatalf("EmitHeld's wait = %v after %d syncs; want nil after 1", err, c.syncs.Load())
	}
	if err := s.EmitWithin("db.decision", 2, 5*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.syncs.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if c.syncs.Load() != 2 || jl.j.Appended() != 2 {
		t.Fatalf("%d syncs, %d records after EmitWithin's window; want 2 and 2", c.syncs.Load(), jl.j.Appended())
	}
}

// TestEmitHeldCommitsWithoutAGoroutine: on the journal, EmitHeld starts
// no commit and parks no goroutine: wait's caller has the one commit made
// and waits for it itself (no hand-off for any statement under
// recording.overlap_reads). The spool that gatehouse puts around the file
// store keeps the journal's fast path (laterWriter).
func TestEmitHeldCommitsWithoutAGoroutine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(fs FileStore, jl *Journal) Store
	}{
		{"file store", func(fs FileStore, _ *Journal) Store { return fs }},
		{"spool", func(fs FileStore, jl *Journal) Store { return &Spool{Store: fs, Dir: fs.Dir, Journal: jl} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &syncCounter{release: make(chan struct{})}
			fs, jl := journaledStore(t, t.TempDir(), journal.Config{Create: c.create})
			s, err := (&Recorder{Store: tc.store(fs, jl)}).Open(KindSession)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, ok := s.out.(journaledWriter); !ok {
				t.Errorf("the stream's Appender %T lost the journal's abilities", s.out)
			}
			emitHeldWithoutAGoroutine(t, s, c)
		})
	}
}

func emitHeldWithoutAGoroutine(t *testing.T, s *Stream, c *syncCounter) {
	t.Helper()
	before := runtime.NumGoroutine()
	wait, err := s.EmitHeld("db.decision", 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n != before {
		t.Errorf("EmitHeld left %d goroutines where there were %d", n, before)
	}
	if n := c.syncs.Load(); n != 0 {
		t.Fatalf("%d syncs before anyone waited; EmitHeld starts none", n)
	}
	close(c.release) // the committer's fsync may end
	if err := wait(); err != nil || c.syncs.Load() != 1 {
		t.Fatalf("wait = %v after %d syncs; want nil after the one wait made", err, c.syncs.Load())
	}
}

// TestJournalFailureKeepsTheSpoolUnhealthy: a failed journal takes no
// more events until gatehouse restarts, so the spool says so (sessions
// and statements are refused, /healthz answers 503), even once a probe
// file could be written and synced again.
func TestJournalFailureKeepsTheSpoolUnhealthy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &syncCounter{failAt: 1}
		fs, jl := journaledStore(t, t.TempDir(), journal.Config{Create: c.create})
		defer jl.Close()
		spool := &Spool{Store: fs, Dir: fs.Dir, Journal: jl}
		s, err := (&Recorder{Store: spool}).Open(KindSession)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Emit("db.decision", 1); !errors.Is(err, errDiskGone) {
			t.Fatalf("Emit = %v, want the failed sync's error", err)
		}
		time.Sleep(2 * probeInterval) // a probe would now succeed
		var ue *UnavailableError
		if err := spool.Health(); !errors.As(err, &ue) || ue.Summary != SummarySpoolUnusable || !errors.Is(err, errDiskGone) {
			t.Fatalf("Health = %v, want the spool unusable because of the journal's failure", err)
		}
	})
}

// TestJournalStreamFileHoldsEveryLine: a journaled stream's file is
// written once per commit, not once per line, yet it holds every line of
// the stream once a wait for a commit returns (Emit, EmitHeld's wait),
// once the stream is closed, and, after a crash that found lazy lines not
// yet written to it, once recovery has completed it from the journal.
func TestJournalStreamFileHoldsEveryLine(t *testing.T) {
	for _, end := range []string{"close", "crash"} {
		t.Run(end, func(t *testing.T) {
			dir := t.TempDir()
			fs, jl := journaledStore(t, dir, journal.Config{})
			rec := ledgeredRecorder(t, fs, newFakeClock(), 4)
			s, err := rec.Open(KindSession)
			if err != nil {
				t.Fatal(err)
			}
			path := streamPath(fs, KindSession, s.ID)
			emitted := 0
			for i := range 3 {
				for range i + 1 {
					if err := s.EmitLazy("test.lazy", emitted); err != nil {
						t.Fatal(err)
					}
					emitted++
				}
				wait, err := s.EmitHeld("test.held", emitted)
				if err != nil {
					t.Fatal(err)
				}
				emitted++
				if err := wait(); err != nil {
					t.Fatal(err)
				}
				if got, want := len(SplitLines(readFile(t, path))), int(s.seq); got != want {
					t.Fatalf("after a commit's wait the file holds %d lines, want the stream's %d", got, want)
				}
			}
			for range 2 { // lazy lines no commit follows
				if err := s.EmitLazy("test.lazy", emitted); err != nil {
					t.Fatal(err)
				}
				emitted++
			}
			store := fs
			if end == "close" {
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				crash(jl, s, rec.marks)
				store, _ = recoverAll(t, dir)
			}
			if _, err := VerifyStored(store, KindSession, s.ID, testPub()); err != nil {
				t.Fatalf("verify: %v", err)
			}
			lines, err := store.Lines(KindSession, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := 0
			for _, ev := range decodeAll(t, lines) {
				if strings.HasPrefix(string(ev.Type), "test.") {
					if want := fmt.Sprint(got); string(ev.Data) != want {
						t.Fatalf("event %d holds %s, want %s", got, ev.Data, want)
					}
					got++
				}
			}
			if got != emitted {
				t.Fatalf("the stream's file holds %d of the %d events emitted", got, emitted)
			}
		})
	}
}

// TestIdleJournaledStreamHoldsNoBuffers: once a journaled stream falls
// idle (its pending lines written, its idle checkpoint signed), it holds
// neither a write buffer nor a line buffer: at a thousand idle sessions
// each kept buffer costs megabytes.
func TestIdleJournaledStreamHoldsNoBuffers(t *testing.T) {
	fs, _ := journaledStore(t, t.TempDir(), journal.Config{})
	rec := signedRecorder(fs, newFakeClock(), 1000)
	rec.CheckpointInterval = 20 * time.Millisecond
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 20 {
		if err := s.EmitLazy("test.lazy", strings.Repeat("x", 200)+fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Emit("test.durable", "y"); err != nil {
		t.Fatal(err)
	}
	a := s.out.(*journaledAppender)
	held := func() (pending, line int) {
		a.mu.Lock()
		pending = cap(a.pending)
		a.mu.Unlock()
		s.mu.Lock()
		line = cap(s.line)
		s.mu.Unlock()
		return pending, line
	}
	if _, line := held(); line == 0 {
		t.Fatal("a busy stream holds no line buffer: the test measures nothing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		pending, line := held()
		if pending == 0 && line == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an idle journaled stream holds a %d-byte write buffer and a %d-byte line buffer, want none", pending, line)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
