package heappeak

import (
	"testing"
	"time"
)

var kept [][]byte

// TestWatchSeesAPeakThatIsGone: memory held for a while and let go is the
// peak, though the heap is smaller again when stop is called.
func TestWatchSeesAPeakThatIsGone(t *testing.T) {
	var peaks []uint64
	stop := Watch(Objects, func(v uint64) { peaks = append(peaks, v) })
	base := time.Now()
	for range 64 {
		kept = append(kept, make([]byte, 1<<20))
	}
	time.Sleep(50 * time.Millisecond) // several samples while it is held
	kept = nil
	peak := stop()
	if peak < 64<<20 {
		t.Fatalf("peak %d bytes after holding 64 MiB for %v; want at least 64 MiB", peak, time.Since(base))
	}
	if len(peaks) == 0 || peaks[len(peaks)-1] != peak {
		t.Fatalf("onPeak saw %v; want its last to be the peak %d", peaks, peak)
	}
}
