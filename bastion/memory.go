package bastion

import (
	"runtime/debug"
	"runtime/metrics"
	"slices"
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
	quit    chan struct{} // ends watchQuiet's loop; nil: none runs
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
	if m.quit != nil {
		close(m.quit)
		m.quit = nil
	}
	if m.pending != nil && m.pending.Stop() {
		m.running.Done() // it will not run
	}
	m.mu.Unlock()
	m.running.Wait()
}

// The heap also grows with what sessions leave behind while they are open:
// the garbage of their handshakes and statements, and the free pages of
// the GCs in between. The runtime collects again only when the heap has
// doubled (GOGC) or every two minutes, and returns free pages slowly, so
// a fleet of agents that opened sessions and fell idle kept up to twice
// its live heap resident. When the process falls quiet after a burst, a
// release brings RSS down to what is live.
const (
	// memoryQuietAllocs is the most the process may allocate in a
	// memoryQuiet second and still count as quiet.
	memoryQuietAllocs = 256 << 10
	// memoryBurstMin is how much garbage and free heap a quiet release
	// must be able to give back to be worth a full collection.
	memoryBurstMin = 16 << 20
)

// heapStats is what a quiet release looks at (runtime/metrics).
type heapStats struct {
	allocs uint64 // bytes allocated since the process started
	gcs    uint64 // collections completed
	free   uint64 // free heap not yet returned to the operating system
}

var heapSamples = []metrics.Sample{
	{Name: "/gc/heap/allocs:bytes"},
	{Name: "/gc/cycles/total:gc-cycles"},
	{Name: "/memory/classes/heap/free:bytes"},
}

// readHeap reads heapStats from the runtime.
func readHeap() heapStats {
	s := slices.Clone(heapSamples)
	metrics.Read(s)
	return heapStats{allocs: s[0].Value.Uint64(), gcs: s[1].Value.Uint64(), free: s[2].Value.Uint64()}
}

// watchQuiet releases memory, on its own goroutine until stop, when the
// process allocated less than memoryQuietAllocs in the last memoryQuiet
// and at least memoryBurstMin was allocated since the last collection or
// lies free, at most once per memoryInterval with the releases after a
// fall.
func (m *memoryReturn) watchQuiet(read func() heapStats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped || m.quit != nil {
		return
	}
	quit := make(chan struct{})
	m.quit = quit
	m.running.Go(func() { m.quietLoop(read, quit) })
}

func (m *memoryReturn) quietLoop(read func() heapStats, quit <-chan struct{}) {
	tick := time.NewTicker(memoryQuiet)
	defer tick.Stop()
	prev := read()
	sinceGC := prev
	for {
		select {
		case <-quit:
			return
		case <-tick.C:
		}
		now := read()
		if now.gcs != sinceGC.gcs {
			sinceGC = now
		}
		quiet := now.allocs-prev.allocs < memoryQuietAllocs
		prev = now
		if quiet && now.allocs-sinceGC.allocs+now.free >= memoryBurstMin && m.quietReleaseDue() {
			m.free()
			m.mu.Lock()
			m.last = time.Now()
			m.mu.Unlock()
		}
	}
}

// quietReleaseDue says whether a quiet release may run now: none after
// a fall is pending, and the last ran memoryInterval ago or more.
func (m *memoryReturn) quietReleaseDue() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending == nil && !m.stopped && time.Since(m.last) >= memoryInterval
}
