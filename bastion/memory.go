package bastion

import (
	"runtime/debug"
	"sync"
	"time"
)

// The Go runtime keeps the heap it grew for a peak of sessions and hands
// it back to the operating system only slowly (its scavenger returns a
// little at a time, and not below what it expects to need again), so
// after hundreds of sessions close gatehouse's RSS stayed at twice its
// baseline. memoryReturn gives the free heap back at once when the number
// of connections falls well below its peak: docs/configuration.md,
// "Memory after a peak of sessions".
const (
	// memoryPeakMin is the smallest peak of connections whose fall is
	// worth a release: a few sessions grow the heap by little.
	memoryPeakMin = 32
	// memoryQuiet is how long after the fall the release waits, so that
	// connections closing together (a fleet of agents ending) share one.
	memoryQuiet = time.Second
	// memoryInterval is the least time between two releases: each is a
	// full garbage collection.
	memoryInterval = 10 * time.Second
)

// memoryReturn counts the open connections of one Serve and, when they
// fall to a quarter of their peak (a peak of memoryPeakMin or more),
// returns the free heap to the operating system (debug.FreeOSMemory)
// after memoryQuiet, at most once per memoryInterval. A release runs on
// its timer's goroutine; stop cancels one not yet begun and waits for one
// under way, so none outlives Serve.
type memoryReturn struct {
	free func() // debug.FreeOSMemory and Config.ReleaseMemory; tests count the calls

	running sync.WaitGroup // a release asked for and not cancelled
	mu      sync.Mutex
	active  int
	peak    int       // the most open since the last release was asked for
	last    time.Time // when the last release ran
	pending *time.Timer
	stopped bool
}

// newMemoryReturn returns the Go heap's free memory, then runs also (the C
// heap's; nil: nothing more).
func newMemoryReturn(also func()) *memoryReturn {
	return &memoryReturn{free: func() {
		debug.FreeOSMemory()
		if also != nil {
			also()
		}
	}}
}

// opened counts a new connection.
func (m *memoryReturn) opened() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active++
	m.peak = max(m.peak, m.active)
}

// closed counts a connection's end, and asks for a release when the
// connections have fallen to a quarter of a large enough peak.
func (m *memoryReturn) closed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active--
	if m.peak < memoryPeakMin || m.active > m.peak/4 || m.pending != nil || m.stopped {
		return
	}
	m.peak = m.active // a new peak must build up before the next release
	wait := max(memoryQuiet, time.Until(m.last.Add(memoryInterval)))
	m.running.Add(1)
	m.pending = time.AfterFunc(wait, m.release)
}

// release returns the free heap, on the timer's goroutine.
func (m *memoryReturn) release() {
	defer m.running.Done()
	m.free()
	m.mu.Lock()
	m.last, m.pending = time.Now(), nil
	m.mu.Unlock()
}

// stop cancels a release not yet begun and waits for one under way; none
// is asked for after it.
func (m *memoryReturn) stop() {
	m.mu.Lock()
	m.stopped = true
	if m.pending != nil && m.pending.Stop() {
		m.running.Done() // it will not run
	}
	m.mu.Unlock()
	m.running.Wait()
}
