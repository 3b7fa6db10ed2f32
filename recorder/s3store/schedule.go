package s3store

import "time"

// When an open stream is uploaded. Each stream keeps its own clock: it
// is due once a chunk's worth (ChunkBytes) waits, or once ChunkInterval
// has passed since the uploader last found it with nothing left or
// started putting everything it had. A line written after that moment
// is therefore in the bucket at most ChunkInterval after it was written
// (plus the put), the bound the interval documents; and a stream is not
// put merely because another one was due. Before, every wake-up put
// every stream that had anything: at 16 agents each stream was put every
// 3 s in pieces of a third of a chunk, one PUT and one HEAD each.

// dueCheck is what the uploader knows of a stream when it decides.
type dueCheck struct {
	closed  bool
	pending int64     // bytes written and not in the bucket
	checked time.Time // last found with nothing left, or last put from
}

// due says whether a stream is put now; if not, when it will be due
// unless it grows a chunk's worth first (a stream with nothing pending
// is due, at the latest, one interval after now: it may be written to
// at any moment).
func (d dueCheck) due(now time.Time, chunkBytes int64, interval time.Duration) (bool, time.Time) {
	switch {
	case d.closed, d.pending >= chunkBytes:
		return true, time.Time{}
	case d.pending <= 0:
		return false, now.Add(interval)
	case !now.Before(d.checked.Add(interval)):
		return true, time.Time{}
	}
	return false, d.checked.Add(interval)
}
