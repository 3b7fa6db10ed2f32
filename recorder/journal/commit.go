package journal

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// lead makes the caller the one that commits, if none is committing and
// the journal is still open; j.mu is held. The leader syncs on its own
// goroutine: a waiter that found nobody committing would otherwise wake a
// committer and be woken by it, two hand-offs on every statement's path
// when statements arrive one at a time, each a wake-up of a sleeping
// thread. Those who come while it syncs wait for its commit, and one of
// them leads the next: the same group commit.
func (j *Journal) lead() bool {
	if j.committing || j.closed {
		return false
	}
	j.committing = true
	return true
}

// commit syncs every segment written since the last commit, once, and
// wakes the waiters: everything appended before it started is durable,
// or the journal is failed. Only the leader (lead) calls it; last is
// Close's, after which nobody commits.
func (j *Journal) commit(last bool) {
	j.mu.Lock()
	_ = j.writeBuffered() // a failure fails the journal: failed below
	target, rolled, cur := j.appended, j.rolled, j.cur
	j.rolled = nil
	failed := j.err != nil
	before := j.durable
	j.mu.Unlock()

	var err error
	if !failed && (target > before || len(rolled) > 0) {
		began := time.Now()
		err = syncAll(rolled, cur)
		if err == nil && j.onCommit != nil && target > before {
			j.onCommit(int(target-before), time.Since(began))
		}
	}

	j.mu.Lock()
	if err != nil {
		j.fail(err)
		j.rolled = append(j.rolled, unclosed(rolled)...) // for Close
	} else if !failed {
		j.durable = target
		j.old = append(j.old, rolled...)
	}
	ch := j.next
	j.next = make(chan struct{})
	j.committing, j.closed = false, last
	removable := j.recyclable()
	if len(removable) > 0 {
		// Off the leader's path: the leader is a statement waiting to go on.
		j.background.Go(func() { j.remove(removable) })
	}
	j.mu.Unlock()
	close(ch)
	j.startSpare()
}

// unclosed are the segments a failed syncAll left open.
func unclosed(segs []*segment) []*segment {
	var open []*segment
	for _, s := range segs {
		if s.f != nil {
			open = append(open, s)
		}
	}
	return open
}

// syncAll syncs the full segments, closing them (nothing more is written
// to them), then the current one.
func syncAll(rolled []*segment, cur *segment) error {
	for _, s := range rolled {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("journal: sync %s: %w", s.path, err)
		}
		err := s.f.Close()
		s.f = nil
		if err != nil {
			return fmt.Errorf("journal: close %s: %w", s.path, err)
		}
	}
	if err := cur.f.Sync(); err != nil {
		return fmt.Errorf("journal: sync %s: %w", cur.path, err)
	}
	return nil
}

// recyclable takes out of j.old the segments no stream needs any more
// (each stream with a line in one has its own file durable past it), and
// forgets the streams no segment names; j.mu is held.
func (j *Journal) recyclable() []*segment {
	var gone, kept []*segment
	for _, s := range j.old {
		if j.covered(s) {
			gone = append(gone, s)
		} else {
			kept = append(kept, s)
		}
	}
	j.old = kept
	if len(gone) > 0 {
		j.forgetUnpinned()
	}
	return gone
}

// covered says whether every stream with lines in s is durable past them.
func (j *Journal) covered(s *segment) bool {
	for k, end := range s.pins {
		if j.synced[k] < end {
			return false
		}
	}
	return true
}

// forgetUnpinned drops what is known of streams no kept segment names;
// j.mu is held.
func (j *Journal) forgetUnpinned() {
	pinned := map[streamKey]bool{}
	for _, s := range append(append(append([]*segment{}, j.old...), j.rolled...), j.cur) {
		for k := range s.pins {
			pinned[k] = true
		}
	}
	for k := range j.synced {
		if !pinned[k] {
			delete(j.synced, k)
		}
	}
}

// remove deletes recycled segments. A failure leaves a segment for the
// next start's recovery, which finds its streams complete already.
func (j *Journal) remove(segs []*segment) {
	var errs []error
	for _, s := range segs {
		errs = append(errs, os.Remove(s.path))
	}
	if len(segs) > 0 && errors.Join(errs...) == nil {
		_ = syncDir(j.dir) // a segment that comes back is harmless
	}
}
