package bastion

import (
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
