// Package heappeak measures the most heap a piece of work held, which
// MemStats read after it cannot tell: a goroutine samples a runtime/metrics
// figure until the work is done. The evidence benchmark and the evidence
// package's memory test measure with it alike.
package heappeak

import (
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// Objects is the heap metric both measure: bytes of heap objects,
// reachable or not yet swept.
const Objects = "/memory/classes/heap/objects:bytes"

// every is how often the metric is read.
const every = 5 * time.Millisecond

// Watch collects garbage (so that what came before is not counted), then
// reads metric every 5 ms until the returned stop is called, which ends
// the sampling and returns the most it read. onPeak, if set, is told each
// new most, on the sampling goroutine.
func Watch(metric string, onPeak func(uint64)) (stop func() uint64) {
	runtime.GC()
	var peak atomic.Uint64
	end, done := make(chan struct{}), make(chan struct{})
	sample := []metrics.Sample{{Name: metric}}
	go func() {
		defer close(done)
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
				if onPeak != nil {
					onPeak(v)
				}
			}
			select {
			case <-end:
				return
			case <-time.After(every):
			}
		}
	}()
	return func() uint64 {
		close(end)
		<-done
		return peak.Load()
	}
}
