package recorder

import (
	"fmt"
	"runtime/pprof"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/journal"
)

// TestFinishBurstBoundsThreads: streams that end at once (200 sessions
// closing together) fsync their files and write their manifests a few at
// a time. Every goroutine blocked in fsync holds an OS thread, Go starts
// another to run the rest, and keeps every thread it started: issue 15
// saw 9 → 29 threads for good after 200 idle sessions closed. The
// stream files are on disk (t.TempDir), where an fsync blocks long
// enough for Go to hand its processor to a new thread.
func TestFinishBurstBoundsThreads(t *testing.T) {
	fs, _ := journaledStore(t, t.TempDir(), journal.Config{})
	const streams = 64
	as := make([]Appender, streams)
	for i := range as {
		a, err := fs.Create(KindSession, fmt.Sprintf("s%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Append([]byte(`{"line":1}`)); err != nil {
			t.Fatal(err)
		}
		as[i] = a
	}
	threads := pprof.Lookup("threadcreate")
	before := threads.Count()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, a := range as {
		wg.Go(func() {
			<-start
			if err := a.Finish([]byte(`{}`)); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	// Beyond the finishers: one thread for the journal's commit (made by
	// whichever waiter leads it), one for a goroutine of the test runtime.
	if made := threads.Count() - before; made > maxFinishing+2 {
		t.Errorf("%d streams finishing at once made %d OS threads; want at most %d", streams, made, maxFinishing+2)
	}
}
