package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Config says where a journal lives and how it writes.
type Config struct {
	Dir string // its own directory (the spool's journal/), created if missing
	// SegmentSize is the size each segment is preallocated to; a record
	// larger than that gets a segment of its own size. 0 means
	// DefaultSegmentSize.
	SegmentSize int64
	// Create makes a new segment; nil means CreateSegment (zero-filled,
	// synced with fdatasync). Tests count or fail syncs through it.
	Create CreateFunc
	// OnCommit, if set, is told of each group commit that made records
	// durable: how many, and how long the sync took. It runs on the
	// goroutine of the waiter that leads the commit, which every other
	// waiter waits for: it must not block (metrics).
	OnCommit func(records int, took time.Duration)
}

// DefaultSegmentSize is the default Config.SegmentSize.
const DefaultSegmentSize = 16 << 20

// Pos is where a record is in the journal: the count of records appended
// through it. Positions grow with every Append.
type Pos uint64

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("journal: closed")

// Journal is an append-only log shared by every stream of a process. An
// Append writes a record at once (into the kernel), and a waiter for a
// commit (Commit) makes durable, with one sync, every record appended since
// the last commit, while those who come meanwhile wait for it. After a failed
// write or sync the journal is failed for good: a sync's error cannot be
// retried on Linux (the kernel may have dropped the dirty pages it
// reported), so every waiter and every later Append gets it.
type Journal struct {
	dir      string
	first    uint64 // the first segment of this run
	size     int64
	create   CreateFunc
	onCommit func(records int, took time.Duration)
	lock     *os.File // the directory, flocked while the journal is open

	mu     sync.Mutex
	cur    *segment   // being written
	rolled []*segment // written and full, not yet synced
	spare  *segment   // the next segment, zero-filled ahead of need
	// preparing is true while startSpare's goroutine makes the spare;
	// prepared is signalled when it is done.
	preparing  bool
	prepared   sync.Cond
	background sync.WaitGroup // startSpare's goroutine, and the removal of recycled segments
	old        []*segment     // synced and closed, kept while a stream needs them
	// buf holds the frames appended and not yet written, which start at
	// bufAt in cur: those of AppendLater, and then one Append's, which
	// writes them all at once.
	buf      []byte
	bufAt    int64
	appended Pos
	durable  Pos
	err      error // the failure that ended the journal
	closing  bool
	// committing is true while a waiter syncs (lead); closed once Close's
	// last commit has ended, after which nobody commits.
	committing, closed bool
	next               chan struct{}       // closed when the next commit ends
	synced             map[streamKey]int64 // how far each stream's own file is durable
}

type streamKey struct{ kind, stream string }

// segment is one segment file and the streams that still need it.
type segment struct {
	n    uint64
	path string
	f    File // nil once synced for good and closed
	cap  int64
	used int64
	pins map[streamKey]int64 // the end of each stream's last line in it
}

// Open starts a journal in cfg.Dir, in a new segment after those there:
// those are an earlier run's, for recovery to complete the streams from
// (Read(dir, j.First())) and Remove. The directory is locked while the
// journal is open, so that no other process writes or recovers it. Close
// ends it.
func Open(cfg Config) (*Journal, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: create %s: %w", cfg.Dir, err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	names, err := segmentNames(cfg.Dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	j := &Journal{dir: cfg.Dir, size: cfg.SegmentSize, create: cfg.Create, onCommit: cfg.OnCommit, lock: lock,
		next: make(chan struct{}), synced: map[streamKey]int64{}}
	j.prepared.L = &j.mu
	if j.size <= 0 {
		j.size = DefaultSegmentSize
	}
	if j.create == nil {
		j.create = CreateSegment
	}
	n := uint64(1)
	if len(names) > 0 {
		n = names[len(names)-1] + 1
	}
	j.first = n
	if j.cur, err = j.newSegment(n, j.size); err != nil {
		lock.Close()
		return nil, err
	}
	return j, nil
}

// lockDir keeps a second process from writing the same journal.
func lockDir(dir string) (*os.File, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: open %s: %w", dir, err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		d.Close()
		return nil, fmt.Errorf("journal: lock %s (is another gatehouse using this spool?): %w", dir, err)
	}
	return d, nil
}

func (j *Journal) newSegment(n uint64, size int64) (*segment, error) {
	path := filepath.Join(j.dir, segmentName(n))
	f, err := j.create(path, size)
	if err != nil {
		return nil, err
	}
	return &segment{n: n, path: path, f: f, cap: size, pins: map[streamKey]int64{}}, nil
}

// Append writes r, in the kernel on return (with the records of
// AppendLater before it, in one write), and returns its position; it is
// durable once a Commit through that position returns nil. r.Line is not
// kept.
func (j *Journal) Append(r Record) (Pos, error) { return j.append(r, true) }

// AppendLater is Append for a record that nothing needs in the kernel
// before its commit (its caller waits for that commit before acting on
// it): it is written with the next commit, or the next Append, in one
// write with the records around it, rather than in a write of its own.
func (j *Journal) AppendLater(r Record) (Pos, error) { return j.append(r, false) }

func (j *Journal) append(r Record, now bool) (Pos, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.err != nil:
		return 0, j.err
	case j.closing:
		return 0, ErrClosed
	}
	if err := j.roomFor(frameSize(r)); err != nil {
		return 0, j.fail(err)
	}
	if j.err != nil || j.closing { // while roomFor waited
		return 0, errors.Join(j.err, ErrClosed)
	}
	n := len(j.buf)
	j.buf = appendFrame(j.buf, r)
	j.cur.used += int64(len(j.buf) - n)
	if now {
		if err := j.writeBuffered(); err != nil {
			return 0, err
		}
	}
	k := streamKey{r.Kind, r.Stream}
	if r.Durable {
		j.synced[k] = max(j.synced[k], r.Offset)
	} else {
		j.cur.pins[k] = r.Offset + int64(len(r.Line)) + 1
	}
	j.appended++
	return j.appended, nil
}

// writeBuffered writes the frames appended and not yet written, in one
// write; j.mu is held. A failure fails the journal.
func (j *Journal) writeBuffered() error {
	if len(j.buf) == 0 {
		return nil
	}
	if _, err := j.cur.f.WriteAt(j.buf, j.bufAt); err != nil {
		return j.fail(fmt.Errorf("journal: write %s: %w", j.cur.path, err))
	}
	j.bufAt += int64(len(j.buf))
	j.buf = j.buf[:0]
	if cap(j.buf) > 1<<20 {
		j.buf = nil // one huge line does not pin its size
	}
	return nil
}

// roomFor moves to a new segment when the current one cannot hold n more
// bytes: the spare prepared ahead (startSpare), or, if there is none, one made
// now (appends wait for it to be zero-filled). j.mu is held, and released
// while startSpare's goroutine finishes a spare.
func (j *Journal) roomFor(n int64) error {
	for j.cur.used+n > j.cur.cap {
		if j.preparing {
			j.prepared.Wait()
			continue
		}
		seg := j.spare
		j.spare = nil
		if seg == nil || seg.cap < n {
			if seg != nil {
				j.rolled = append(j.rolled, seg) // an empty segment: closed by the next commit
			}
			next := j.cur.n + 1
			if seg != nil {
				next = seg.n + 1
			}
			var err error
			if seg, err = j.newSegment(next, max(j.size, n)); err != nil {
				return err
			}
		}
		if err := j.writeBuffered(); err != nil { // they belong to cur
			return err
		}
		j.rolled = append(j.rolled, j.cur)
		j.cur, j.bufAt = seg, 0
	}
	return nil
}

// startSpare has the next segment zero-filled ahead of need, once the
// current one is half full, so that a roll does not stall every append
// for it. It is made on a goroutine of its own (Close waits for it), not
// the commit's leader's: zero-filling and syncing a segment takes tens of
// milliseconds (BenchmarkCreateSegment), during which commits, and every
// statement waiting for one, would stop.
func (j *Journal) startSpare() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.preparing || j.spare != nil || j.err != nil || j.closing || j.cur.used < j.cur.cap/2 {
		return
	}
	j.preparing = true
	n := j.cur.n + 1 // roomFor waits while preparing: no roll comes between
	j.background.Go(func() { j.prepareSpare(n) })
}

// prepareSpare makes segment n the spare.
func (j *Journal) prepareSpare(n uint64) {
	seg, err := j.newSegment(n, j.size)
	j.mu.Lock()
	defer j.mu.Unlock()
	j.preparing = false
	j.prepared.Broadcast()
	if err == nil {
		j.spare = seg
	} // else roomFor tries again when it needs one, and fails the journal if it cannot
}

// fail ends the journal with err, the first failure; j.mu is held.
func (j *Journal) fail(err error) error {
	if j.err == nil {
		j.err = err
	}
	return j.err
}

// Commit returns once the record at p, and every record before it, is
// durable, or with the error that kept it from being so. The caller syncs
// itself when nobody is syncing (lead), else waits for that commit.
func (j *Journal) Commit(p Pos) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if p > j.appended {
		return fmt.Errorf("journal: commit through %d, but only %d records were appended", p, j.appended)
	}
	for j.durable < p {
		switch {
		case j.err != nil:
			return j.err
		case j.lead():
			j.mu.Unlock()
			j.commit(false)
			j.mu.Lock()
		case j.closed: // cannot be: Close's commit covered every append
			return ErrClosed
		default:
			ch := j.next
			j.mu.Unlock()
			<-ch
			j.mu.Lock()
		}
	}
	return nil
}

// Err is the failure that ended the journal, or nil while it works.
func (j *Journal) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Appended is the position of the last record appended.
func (j *Journal) Appended() Pos {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.appended
}

// First is the number of the first segment this journal wrote: those
// below it are an earlier run's, for recovery (Read(dir, j.First())).
func (j *Journal) First() uint64 { return j.first }

// Dir is the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// Current is the number of the segment being written.
func (j *Journal) Current() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cur.n
}

// Segments is how many segments the journal keeps: the one being written
// and those a stream still needs (its file is not durable through their
// lines).
func (j *Journal) Segments() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return 1 + len(j.rolled) + len(j.old)
}

// Close makes every record appended durable and closes the segments. The
// segments stay: those a stream still needs are for the next start's
// recovery. Append fails after Close.
func (j *Journal) Close() error {
	j.mu.Lock()
	already := j.closing
	j.closing = true // no Append from now on
	for !j.closed && !j.lead() {
		ch := j.next // a leader's commit, before the last
		j.mu.Unlock()
		<-ch
		j.mu.Lock()
	}
	last := !j.closed
	j.mu.Unlock()
	if last {
		j.commit(true)
	}
	j.background.Wait() // a spare being made is closed below
	j.mu.Lock()
	defer j.mu.Unlock()
	var errs []error
	segs := append(j.rolled, j.cur)
	if j.spare != nil {
		segs = append(segs, j.spare) // empty: recovery removes it
	}
	for _, s := range segs {
		if s.f != nil {
			errs = append(errs, s.f.Close())
			s.f = nil
		}
	}
	errs = append(errs, j.lock.Close())
	if err := errors.Join(errs...); err != nil && j.err == nil && !already {
		return fmt.Errorf("journal: close: %w", err)
	}
	return j.err
}
