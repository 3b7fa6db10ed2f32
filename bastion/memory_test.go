package bastion

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestMemoryReturn: the free heap goes back to the operating system once
// the connections fall to a quarter of a large peak, after a quiet second,
// once for connections that close together, and at most once per
// memoryInterval; never for a small peak, nor after stop.
func TestMemoryReturn(t *testing.T) {
	type step struct {
		open, close int           // connections opened, then closed
		wait        time.Duration // then time passes
		frees       int64         // releases so far
	}
	tests := []struct {
		name  string
		steps []step
		stop  bool // stop before the last step's wait
	}{
		{"a fleet closes", []step{{open: 200, close: 200, wait: 2 * time.Second, frees: 1}}, false},
		{"small peak", []step{{open: memoryPeakMin - 1, close: memoryPeakMin - 1, wait: time.Minute, frees: 0}}, false},
		{"fall not low enough", []step{{open: 200, close: 149, wait: time.Minute, frees: 0}}, false},
		{"quiet first", []step{{open: 200, close: 150, wait: memoryQuiet / 2, frees: 0}, {wait: memoryQuiet, frees: 1}}, false},
		{"the rest closes later", []step{
			{open: 200, close: 150, wait: 2 * time.Second, frees: 1},
			{close: 50, wait: 2 * time.Second, frees: 1}, // within memoryInterval of the last
			{wait: memoryInterval, frees: 2},
		}, false},
		{"a new peak", []step{
			{open: 100, close: 100, wait: memoryInterval, frees: 1},
			{open: 100, close: 100, wait: memoryInterval, frees: 2},
		}, false},
		{"stopped", []step{{open: 200, close: 200, wait: time.Minute, frees: 0}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var frees atomic.Int64
				m := newMemoryReturn(nil)
				m.free = func() { frees.Add(1) }
				for i, st := range tt.steps {
					for range st.open {
						m.opened()
					}
					for range st.close {
						m.closed()
					}
					if tt.stop && i == len(tt.steps)-1 {
						m.stop()
					}
					time.Sleep(st.wait)
					synctest.Wait()
					if got := frees.Load(); got != st.frees {
						t.Fatalf("step %d: %d releases, want %d", i, got, st.frees)
					}
				}
				m.stop()
			})
		})
	}
}

// TestMemoryReturnAlsoReleases: a release runs Config.ReleaseMemory (the
// C heap's trim) after the Go heap's.
func TestMemoryReturnAlsoReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var also atomic.Int64
		m := newMemoryReturn(func() { also.Add(1) })
		for range 100 {
			m.opened()
		}
		for range 100 {
			m.closed()
		}
		time.Sleep(2 * memoryQuiet)
		synctest.Wait()
		m.stop()
		if got := also.Load(); got != 1 {
			t.Fatalf("ReleaseMemory ran %d times after a fleet closed, want 1", got)
		}
	})
}

// fakeHeap is the runtime's heap as watchQuiet sees it; a release
// collects (a new cycle, nothing free).
type fakeHeap struct {
	mu       sync.Mutex
	st       heapStats
	releases int
}

func (h *fakeHeap) read() heapStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

func (h *fakeHeap) alloc(n uint64) {
	h.mu.Lock()
	h.st.allocs += n
	h.mu.Unlock()
}

func (h *fakeHeap) release() {
	h.mu.Lock()
	h.releases++
	h.st.gcs++
	h.st.free = 0
	h.mu.Unlock()
}

// TestMemoryReturnWhenQuiet: after a burst that left much garbage, the
// memory goes back once the process falls quiet; not while it is busy,
// not for a little garbage, at most once per memoryInterval, and never
// after stop.
func TestMemoryReturnWhenQuiet(t *testing.T) {
	const busy = 4 * memoryQuietAllocs // a second's allocations under load
	tests := []struct {
		name     string
		burst    uint64        // allocated at once, at the start
		busyFor  time.Duration // then allocating busy a second, for this long
		wait     time.Duration // then quiet, for this long
		stop     bool          // stop before the quiet wait
		releases int
	}{
		{"a burst, then quiet", memoryBurstMin, 0, 3 * memoryQuiet, false, 1},
		{"busy", memoryBurstMin, 30 * time.Second, 0, false, 0},
		{"busy, then quiet", memoryBurstMin, 5 * time.Second, 3 * memoryQuiet, false, 1},
		{"a little garbage", memoryBurstMin / 2, 0, time.Minute, false, 0},
		{"garbage that stays", 0, 0, 2*memoryInterval + 5*memoryQuiet, false, 3},
		{"stopped", memoryBurstMin, 0, time.Minute, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &fakeHeap{}
				m := newMemoryReturn(nil)
				m.free = h.release
				m.watchQuiet(h.read)
				synctest.Wait() // it has read the heap once
				h.alloc(tt.burst)
				if tt.burst == 0 { // free heap that a release does not shrink
					m.free = func() { h.release(); h.mu.Lock(); h.st.free = memoryBurstMin; h.mu.Unlock() }
					h.mu.Lock()
					h.st.free = memoryBurstMin
					h.mu.Unlock()
				}
				for elapsed := time.Duration(0); elapsed < tt.busyFor; elapsed += memoryQuiet / 4 {
					h.alloc(busy / 4)
					time.Sleep(memoryQuiet / 4)
				}
				if tt.stop {
					m.stop()
				}
				time.Sleep(tt.wait)
				synctest.Wait()
				m.stop()
				h.mu.Lock()
				defer h.mu.Unlock()
				if h.releases != tt.releases {
					t.Fatalf("%d releases, want %d", h.releases, tt.releases)
				}
			})
		})
	}
}
