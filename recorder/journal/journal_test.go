package journal

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func line(i int) Record {
	return Record{Kind: "sessions", Stream: "s1", Offset: int64(i * 100), Line: fmt.Appendf(nil, `{"seq":%d,"x":"%s"}`, i, bytes.Repeat([]byte("y"), i))}
}

// writeJournal appends recs to a fresh journal in dir, durably, and
// closes it.
func writeJournal(t *testing.T, dir string, size int64, recs ...Record) {
	t.Helper()
	j, err := Open(Config{Dir: dir, SegmentSize: size})
	if err != nil {
		t.Fatal(err)
	}
	var p Pos
	for _, r := range recs {
		if p, err = j.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Commit(p); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}

func sameRecords(t *testing.T, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Kind != w.Kind || g.Stream != w.Stream || g.Offset != w.Offset || g.Durable != w.Durable || !bytes.Equal(g.Line, w.Line) {
			t.Fatalf("record %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestReadsWhatWasWrittenAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	var recs []Record
	for i := range 40 {
		recs = append(recs, line(i))
	}
	recs = append(recs, Record{Kind: "ca", Stream: "c1", Offset: 12345, Durable: true})
	writeJournal(t, dir, 512, recs...) // ~8 records a segment: several segments
	segs, err := Read(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 4 {
		t.Fatalf("%d segments; 512-byte segments should have made several", len(segs))
	}
	var got []Record
	for i, s := range segs {
		if s.N != uint64(i+1) || s.Torn != 0 {
			t.Errorf("segment %d: N %d, torn %d", i, s.N, s.Torn)
		}
		got = append(got, s.Records...)
	}
	sameRecords(t, got, recs)
}

// TestTornAtEveryOffset cuts the last record at each of its bytes, as a
// crash during its write would (the rest of a preallocated segment is
// zeros; a file that grows is merely shorter): the records before it are
// read, and the last one only when whole.
func TestTornAtEveryOffset(t *testing.T) {
	src := t.TempDir()
	recs := []Record{line(1), line(2), line(3)}
	writeJournal(t, src, 4096, recs...)
	data, err := os.ReadFile(filepath.Join(src, segmentName(1)))
	if err != nil {
		t.Fatal(err)
	}
	last := int64(len(appendFrame(nil, recs[2])))
	end := int64(len(appendFrame(appendFrame(appendFrame(nil, recs[0]), recs[1]), recs[2])))
	start := end - last
	for _, shape := range []string{"zero-filled", "truncated"} {
		for k := int64(0); k <= last; k++ {
			torn := append([]byte(nil), data...)
			if shape == "truncated" {
				torn = torn[:start+k]
			} else {
				clear(torn[start+k : end])
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, segmentName(1)), torn, 0o600); err != nil {
				t.Fatal(err)
			}
			segs, err := Read(dir, 0)
			if err != nil {
				t.Fatalf("%s at %d of %d: %v", shape, k, last, err)
			}
			want := recs[:2]
			if k == last {
				want = recs
			}
			sameRecords(t, segs[0].Records, want)
			wantEnd, wantTorn := start, nonZeroExtent(torn[start:])
			if k == last {
				wantEnd, wantTorn = end, 0
			}
			if segs[0].Torn != wantTorn || segs[0].End != wantEnd {
				t.Fatalf("%s at %d: end %d torn %d, want end of the whole records and torn %d", shape, k, segs[0].End, segs[0].Torn, wantTorn)
			}
		}
	}
}

// TestCorruptionIsNotATornTail: damage with records after it is not what
// a crash leaves; reading stops there and says where.
func TestCorruptionIsNotATornTail(t *testing.T) {
	recs := []Record{line(1), line(2), line(3)}
	second := int64(len(appendFrame(nil, recs[0])))
	for _, tc := range []struct {
		name  string
		spoil func(data []byte)
	}{
		{"a payload byte", func(d []byte) { d[second+headerSize+5] ^= 0x40 }},
		{"the payload CRC", func(d []byte) { d[second+9] ^= 1 }},
		{"a length byte", func(d []byte) { d[second] ^= 1 }},
		{"a header zeroed", func(d []byte) { clear(d[second : second+headerSize]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeJournal(t, dir, 4096, recs...)
			path := filepath.Join(dir, segmentName(1))
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.spoil(data)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			segs, err := Read(dir, 0)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != path || ce.Offset != second {
				t.Fatalf("Read = %v; want a CorruptError naming %s at offset %d", err, path, second)
			}
			sameRecords(t, segs[0].Records, recs[:1])
		})
	}
}

// TestConcurrentAppendersShareSyncs: many goroutines appending and
// committing at once are covered by few syncs, and none returns before a
// sync that saw its record.
func TestConcurrentAppendersShareSyncs(t *testing.T) {
	fs := &memFS{delay: 2 * time.Millisecond}
	j, err := Open(Config{Dir: t.TempDir(), Create: fs.create, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 32, 10
	appendConcurrently(t, j, writers, each, func(r Record) {
		if !containsRecord(fs.durableRecords(fs.createdPaths()[0]), r) {
			t.Errorf("Commit of %s returned before a sync covered it", r.Line)
		}
	})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if n := fs.syncCount(); n > writers*each/4 {
		t.Errorf("%d syncs for %d commits of %d concurrent writers; group commit should share them", n, writers*each, writers)
	} else {
		t.Logf("%d syncs for %d commits", n, writers*each)
	}
}

// TestCommitSyncsOnTheCallersGoroutine: a Commit that finds nobody
// committing syncs on its own goroutine, and the journal runs none while
// nothing is appended: a waiter that woke a committer and was woken by it
// paid two hand-offs a statement.
func TestCommitSyncsOnTheCallersGoroutine(t *testing.T) {
	var syncers []string
	fs := &memFS{}
	fs.onSync = func() {
		stack := make([]byte, 8<<10)
		syncers = append(syncers, string(stack[:runtime.Stack(stack, false)]))
	}
	j, err := Open(Config{Dir: t.TempDir(), Create: fs.create, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	goleak.VerifyNone(t) // no committer waiting
	p, err := j.Append(line(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Commit(p); err != nil {
		t.Fatal(err)
	}
	if len(syncers) != 1 || !strings.Contains(syncers[0], "TestCommitSyncsOnTheCallersGoroutine") {
		t.Fatalf("syncs %d, on %q; want one, on the caller's goroutine", len(syncers), syncers)
	}
}

// appendConcurrently has writers goroutines each append and commit each
// records of its own stream, calling committed after each commit.
func appendConcurrently(t *testing.T, j *Journal, writers, each int, committed func(Record)) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := Record{Kind: "sessions", Stream: fmt.Sprint("s", w), Offset: int64(i), Line: fmt.Appendf(nil, "w%d-%d", w, i)}
				p, err := j.Append(r)
				if err == nil {
					err = j.Commit(p)
				}
				if err != nil {
					t.Error(err)
					return
				}
				committed(r)
			}
		})
	}
	wg.Wait()
}

func containsRecord(recs []Record, r Record) bool {
	for _, g := range recs {
		if g.Stream == r.Stream && g.Offset == r.Offset && bytes.Equal(g.Line, r.Line) {
			return true
		}
	}
	return false
}

// TestSyncFailureFailsEveryone: the sync that fails fails every commit
// waiting on it and every later Append, for good.
func TestSyncFailureFailsEveryone(t *testing.T) {
	fs := &memFS{failAt: 2}
	j, err := Open(Config{Dir: t.TempDir(), Create: fs.create, SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	first, err := j.Append(line(0))
	if err != nil || j.Commit(first) != nil {
		t.Fatalf("first commit: %v", err)
	}
	// Every record is appended before any commit is asked for: the
	// second sync covers them all.
	const writers = 8
	errs := make(chan error, writers)
	var ps []Pos
	for i := range writers {
		p, err := j.Append(line(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	for _, p := range ps {
		go func() { errs <- j.Commit(p) }()
	}
	for range writers {
		if err := <-errs; !errors.Is(err, errDiskGone) {
			t.Errorf("Commit = %v, want the sync's error", err)
		}
	}
	if _, err := j.Append(line(99)); !errors.Is(err, errDiskGone) {
		t.Errorf("Append after a failed sync = %v, want the sync's error", err)
	}
	if err := j.Commit(first); err != nil {
		t.Errorf("Commit of a record durable before the failure = %v", err)
	}
}

// TestRecycling: a segment goes once every stream with lines in it has
// its own file durable past them, and not before.
func TestRecycling(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(Config{Dir: dir, SegmentSize: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	a := func(stream string, off int64, durable bool) Pos {
		t.Helper()
		p, err := j.Append(Record{Kind: "sessions", Stream: stream, Offset: off, Line: bytes.Repeat([]byte("z"), 99), Durable: durable})
		if err != nil {
			t.Fatal(err)
		}
		if err := j.Commit(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a("open", 0, false) // a stream that stays open pins segment 1
	for i := range 20 {
		a("closed", int64(i*100), false)
	}
	a("closed", 2000, true)
	// The commit removes segments, in the background, after it wakes the waiters.
	if !eventually(func() bool { return !exists(t, dir, 2) }) || !exists(t, dir, 1) {
		t.Fatalf("after the closed stream's durable mark: segment 1 exists %v (want true), 2 exists %v (want false)", exists(t, dir, 1), exists(t, dir, 2))
	}
	a("open", 100, true)
	a("open", 200, false) // one more commit after the mark
	if !eventually(func() bool { return !exists(t, dir, 1) }) {
		t.Fatal("segment 1 kept although every stream in it is durable")
	}
}

func exists(t *testing.T, dir string, n uint64) bool {
	_, err := os.Stat(filepath.Join(dir, segmentName(n)))
	return err == nil
}

// eventually polls cond for up to 5 seconds.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestCloseLeavesNothingRunning: Close makes what was appended durable and
// leaves no goroutine behind; a second journal starts after the first's
// segments.
func TestCloseLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir()
	j, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(line(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir}); err == nil {
		t.Fatal("a second journal opened in a directory in use")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)
	if _, err := j.Append(line(2)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	segs, err := Read(dir, 0)
	if err != nil || len(segs) != 1 || len(segs[0].Records) != 1 {
		t.Fatalf("after Close: %v, %+v; want the one record, durable", err, segs)
	}
	j2, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if !exists(t, dir, 2) {
		t.Error("the second journal did not start a segment after the first's")
	}
}

// TestReadGoesOnPastACorruptSegment: a corrupt segment does not hide the
// segments after it (a later run's).
func TestReadGoesOnPastACorruptSegment(t *testing.T) {
	dir := t.TempDir()
	writeJournal(t, dir, 4096, line(1), line(2))
	writeJournal(t, dir, 4096, line(3))
	first := filepath.Join(dir, segmentName(1))
	data, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	data[headerSize+3] ^= 1 // the first record's payload
	if err := os.WriteFile(first, data, 0o600); err != nil {
		t.Fatal(err)
	}
	segs, err := Read(dir, 0)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != first || ce.Offset != 0 {
		t.Fatalf("Read = %v, want the corruption of %s at 0", err, first)
	}
	if len(segs) != 2 || len(segs[0].Records) != 0 {
		t.Fatalf("read %d segments, want both, the first with no records", len(segs))
	}
	sameRecords(t, segs[1].Records, []Record{line(3)})
	if before, err := Read(dir, 2); err == nil || len(before) != 1 {
		t.Errorf("Read before segment 2 = %d segments, %v; want the first only, with its error", len(before), err)
	}
}

// waitForSpare waits until the spare that a half-full segment asks for is
// ready: it is made on a goroutine of its own after the commit that
// noticed, which a loaded machine may run after the next Append.
func waitForSpare(t *testing.T, j *Journal) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		j.mu.Lock()
		ready := j.spare != nil || (!j.preparing && j.cur.used < j.cur.cap/2)
		j.mu.Unlock()
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare segment prepared within 5s of the current one passing half full")
		}
	}
}

// TestRollUsesTheSparePreparedAhead: the journal zero-fills the next
// segment while the current one fills, so that the append that rolls over
// does not wait for it; records read back in order across the rolls.
func TestRollUsesTheSparePreparedAhead(t *testing.T) {
	fs := &memFS{}
	j, err := Open(Config{Dir: t.TempDir(), Create: fs.create, SegmentSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	var want []Record
	rolls := 0
	for i := range 60 {
		r := Record{Kind: "sessions", Stream: "s", Offset: int64(i), Line: bytes.Repeat([]byte{'a' + byte(i%26)}, 90)}
		waitForSpare(t, j)
		seg, created := j.Current(), len(fs.createdPaths())
		p, err := j.Append(r)
		if err != nil {
			t.Fatal(err)
		}
		if j.Current() != seg {
			rolls++
			if len(fs.createdPaths()) != created {
				t.Fatalf("record %d: the append that rolled over created its segment; the spare was not ready", i)
			}
		}
		if err := j.Commit(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, r)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if rolls < 4 {
		t.Fatalf("%d rolls; the test wants several", rolls)
	}
	var got []Record
	for _, path := range fs.createdPaths() {
		got = append(got, fs.durableRecords(path)...)
	}
	sameRecords(t, got, want)
}

// TestCommitsGoOnWhileTheSpareIsMade: zero-filling the next segment
// (tens of milliseconds for a real one) does not hold up the commits, and
// every statement waiting for one, meanwhile.
func TestCommitsGoOnWhileTheSpareIsMade(t *testing.T) {
	fs := &memFS{}
	release := make(chan struct{})
	create := func(path string, size int64) (File, error) {
		if len(fs.createdPaths()) > 0 { // the spare, not the first segment
			<-release
		}
		return fs.create(path, size)
	}
	j, err := Open(Config{Dir: t.TempDir(), Create: create, SegmentSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	defer close(release)
	for i, size := range []int{600, 10} { // the first commit finds the segment half full
		p, err := j.Append(Record{Kind: "sessions", Stream: "s", Offset: int64(i), Line: bytes.Repeat([]byte{'x'}, size)})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- j.Commit(p) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("commit %d waited for the spare segment's zero-filling", i)
		}
	}
}

// TestOnCommitCountsEveryRecordOnce: the commits OnCommit reports add up
// to every record made durable, each counted once, in no more reports
// than there were syncs (one group commit, one report).
func TestOnCommitCountsEveryRecordOnce(t *testing.T) {
	fs := &memFS{delay: time.Millisecond}
	var mu sync.Mutex
	var reports, records int
	j, err := Open(Config{Dir: t.TempDir(), Create: fs.create, SegmentSize: 64 << 10, OnCommit: func(n int, took time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if n <= 0 || took < 0 {
			t.Errorf("OnCommit(%d, %v)", n, took)
		}
		reports++
		records += n
	}})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 10
	appendConcurrently(t, j, writers, each, func(Record) {})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if records != writers*each {
		t.Errorf("OnCommit reported %d records, want %d", records, writers*each)
	}
	if reports == 0 || reports > fs.syncCount() {
		t.Errorf("%d reports for %d syncs", reports, fs.syncCount())
	}
}

// TestAppendLaterSharesAWrite: records appended with AppendLater cost no
// write of their own: the next commit, or the next Append, writes them,
// and its own record, in one write; they read back in order, across a
// roll to the next segment too.
func TestAppendLaterSharesAWrite(t *testing.T) {
	for _, tc := range []struct {
		name        string
		size        int64
		later, now  int // records by AppendLater, then by Append
		writesAfter int // writes once they are all appended, before the commit
		writes      int // after the commit
	}{
		{"the commit writes them", 1 << 20, 3, 0, 0, 1},
		{"an Append writes them with its own", 1 << 20, 3, 1, 1, 1},
		{"a roll writes those of the full segment", 1024, 25, 0, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &memFS{}
			j, err := Open(Config{Dir: t.TempDir(), Create: fs.create, SegmentSize: tc.size})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			var want []Record
			var p Pos
			for i := range tc.later + tc.now {
				appendRecord := j.AppendLater
				if i >= tc.later {
					appendRecord = j.Append
				}
				if p, err = appendRecord(line(i)); err != nil {
					t.Fatal(err)
				}
				want = append(want, line(i))
			}
			if got := fs.writeCount(); got != tc.writesAfter {
				t.Errorf("%d writes once appended, want %d", got, tc.writesAfter)
			}
			if err := j.Commit(p); err != nil {
				t.Fatal(err)
			}
			if got := fs.writeCount(); got != tc.writes {
				t.Errorf("%d writes after the commit, want %d", got, tc.writes)
			}
			var got []Record
			for _, path := range fs.createdPaths() {
				got = append(got, fs.durableRecords(path)...)
			}
			sameRecords(t, got, want)
		})
	}
}
