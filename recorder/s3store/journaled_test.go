package s3store

import (
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/journal"
)

// heldSegment is a journal segment whose syncs wait for release, so that
// a commit is still running when the test looks.
type heldSegment struct {
	journal.File
	release chan struct{}
	synced  chan struct{}
}

func (f heldSegment) Sync() error {
	<-f.release
	defer func() { f.synced <- struct{}{} }()
	return f.File.Sync()
}

// TestS3StreamsKeepTheJournalsFastPaths: with recording.store: s3 the
// stack is spool → uploader → journaled file store. Its streams must take
// the file store's fast paths: a line written with the commit its writer
// waits for (WriteLater), and EmitHeld with no goroutine of its own.
// Hermetic: the uploader's store
// needs no bucket until Run.
func TestS3StreamsKeepTheJournalsFastPaths(t *testing.T) {
	seg := heldSegment{release: make(chan struct{}), synced: make(chan struct{}, 16)}
	files, jl, err := recorder.OpenJournal(recorder.FileStore{Dir: t.TempDir()}, journal.Config{
		Create: func(path string, size int64) (journal.File, error) {
			f, err := journal.CreateSegment(path, size)
			seg.File = f
			return seg, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer jl.Close()
	up := &Uploader{Spool: files}
	spool := &recorder.Spool{Store: up.Store(), Dir: files.Dir, Journal: jl}
	a, err := spool.Create(recorder.KindSession, "fast")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(journaledWriter); !ok {
		t.Errorf("the S3 store's Appender %T lost the journal's WriteLater", a)
	}
	if err := a.Finish(nil); err != nil {
		t.Fatal(err)
	}

	s, err := (&recorder.Recorder{Store: spool}).Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := runtime.NumGoroutine()
	wait, err := s.EmitHeld("db.decision", 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n != before {
		t.Errorf("EmitHeld left %d goroutines where there were %d", n, before)
	}
	close(seg.release)
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-seg.synced: // the commit wait made
	case <-time.After(5 * time.Second):
		t.Fatal("wait returned with no commit made")
	}
}
