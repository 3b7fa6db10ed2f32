package s3store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

func md5Hex(data []byte) string {
	sum := md5.Sum(data)
	return hex.EncodeToString(sum[:])
}

// UploadedSuffix names the spool's marker of a stream that is in the bucket:
// KIND/ID.uploaded beside KIND/ID.jsonl.
const UploadedSuffix = ".uploaded"

// Backoff bounds between upload attempts after a failure.
const (
	MinBackoff = time.Second
	MaxBackoff = 15 * time.Second
)

// RescanInterval is how often Run looks through the spool for closed
// streams it was not told about (those of operator commands such as
// `gatehouse ca sign`, which exit before they are uploaded), and for
// uploaded streams to remove (KeepUploaded).
const RescanInterval = time.Minute

// Chunking defaults: an open stream's new lines are uploaded at most
// DefaultChunkInterval after they were written, and sooner once
// DefaultChunkBytes wait (schedule.go); no chunk is larger than
// MaxChunkBytes (unless one line is).
const (
	DefaultChunkInterval = 10 * time.Second
	DefaultChunkBytes    = 1 << 20
	MaxChunkBytes        = 8 << 20
)

// Uploader moves streams from the spool (a recorder.FileStore's directory)
// into the bucket: the lines of open streams in chunks as they grow, and
// each stream's manifest once it is closed. Use Store as the Recorder's
// store so that each stream is known from its first line.
type Uploader struct {
	Client *Client
	Spool  recorder.FileStore
	Logger *slog.Logger // default slog.Default()
	// ChunkInterval and ChunkBytes say when an open stream's new lines are
	// uploaded (schedule.go); zero means DefaultChunkInterval and
	// DefaultChunkBytes.
	ChunkInterval time.Duration
	ChunkBytes    int64
	// KeepUploaded says, per kind (recorder.KindSession, recorder.KindCA),
	// how long a stream stays in the spool once it is in the bucket,
	// counted from its .uploaded marker; Run removes it after that (see
	// Prune). A kind it does not name is never removed: nil keeps every
	// stream, as the spool did before pruning existed.
	KeepUploaded map[string]time.Duration
	// OnUpload, if set, is told the outcome of each upload pass (nil:
	// everything waiting went up). It runs on the uploading goroutine and
	// must not block (metrics).
	OnUpload func(err error)

	// passing lets one pass run at a time (Run's, UploadPending's): the
	// upStreams' uploading fields are the pass's.
	passing sync.Mutex
	mu      sync.Mutex
	streams map[[2]string]*upStream // kind, id: streams with lines or a manifest to upload
	wake    chan struct{}
	failure error     // the last failed pass, nil after one succeeds
	since   time.Time // when the failures began
}

// upStream is one stream's upload state.
type upStream struct {
	kind, id string
	end      atomic.Int64 // bytes in the spool file, as far as known
	sent     atomic.Int64 // bytes in the bucket: progress.Offset
	closed   atomic.Bool  // its manifest is in the spool
	// The pass's (Uploader.passing):
	progress progress
	checked  time.Time // dueCheck.checked
	// mayExist: the next chunk may be in the bucket already (the stream
	// was resumed from the spool, or its put failed after it may have
	// landed), so put asks first rather than add a second version.
	mayExist bool
}

func (u *Uploader) log() *slog.Logger {
	if u.Logger != nil {
		return u.Logger
	}
	return slog.Default()
}

func (u *Uploader) init() {
	if u.wake == nil {
		u.wake = make(chan struct{}, 1)
		u.streams = map[[2]string]*upStream{}
	}
}

func (u *Uploader) chunkBytes() int64 {
	if u.ChunkBytes > 0 {
		return u.ChunkBytes
	}
	return DefaultChunkBytes
}

func (u *Uploader) chunkInterval() time.Duration {
	if u.ChunkInterval > 0 {
		return u.ChunkInterval
	}
	return DefaultChunkInterval
}

func (u *Uploader) poke() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Store is the recorder's store: the spool, with each stream uploaded in
// chunks while it is written and finished once its manifest is written.
func (u *Uploader) Store() recorder.Store {
	u.mu.Lock()
	u.init()
	u.mu.Unlock()
	return spoolStore{u}
}

// Backlog implements recorder.Backlog: the bytes in the spool that are not
// in the bucket yet, and the last upload error while uploads fail.
func (u *Uploader) Backlog() (int64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var n int64
	for _, st := range u.streams {
		n += st.end.Load() - st.sent.Load()
	}
	if u.failure != nil {
		return n, fmt.Errorf("failing since %s: %w", u.since.UTC().Format(time.RFC3339), u.failure)
	}
	return n, nil
}

// Pending is how many streams have something to upload, open ones
// included.
func (u *Uploader) Pending() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.streams)
}

// track returns the state of a stream, adding it with its progress as
// the spool records it; fresh says the stream was just created by this
// process, so none of its chunks can be in the bucket.
func (u *Uploader) track(kind, id string, fresh bool) (*upStream, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.init()
	k := [2]string{kind, id}
	if st := u.streams[k]; st != nil {
		return st, nil
	}
	p, err := loadProgress(u.progressPath(kind, id))
	if err != nil {
		return nil, err
	}
	st := &upStream{kind: kind, id: id, progress: p, checked: time.Now(), mayExist: !fresh}
	st.sent.Store(p.Offset)
	st.end.Store(p.Offset)
	u.streams[k] = st
	return st, nil
}

func (u *Uploader) forget(st *upStream) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.streams, [2]string{st.kind, st.id})
}

// enqueue adds a closed stream of the spool.
func (u *Uploader) enqueue(kind, id string) error {
	st, err := u.track(kind, id, false)
	if err != nil {
		return err
	}
	if info, err := os.Stat(u.streamPath(kind, id)); err == nil {
		st.end.Store(info.Size())
	}
	st.closed.Store(true)
	u.poke()
	return nil
}

func (u *Uploader) streamPath(kind, id string) string {
	return filepath.Join(u.Spool.Dir, kind, id+".jsonl")
}

// Scan queues every closed stream in the spool that is not marked
// uploaded, and returns how many it queued.
func (u *Uploader) Scan() (int, error) {
	n := 0
	// Console streams are written by `gatehouse console` into the spool;
	// they are uploaded from here like a `ca sign` stream.
	for _, kind := range []string{recorder.KindSession, recorder.KindCA, recorder.KindLedger, recorder.KindConsole} {
		ids, err := u.Spool.List(kind)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			dir := filepath.Join(u.Spool.Dir, kind)
			if exists(filepath.Join(dir, id+UploadedSuffix)) || !exists(filepath.Join(dir, id+".manifest.json")) {
				continue // uploaded, or still open (in this process or another)
			}
			if err := u.enqueue(kind, id); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// UploadPending uploads what every known stream has waiting, once, and
// returns the first error (the streams that failed stay queued).
func (u *Uploader) UploadPending(ctx context.Context) error {
	_, err := u.pass(ctx, time.Now(), true)
	return err
}

// pass uploads what every stream that is due has waiting (every stream
// with anything, if all), and says when the next one will be due. A
// stream whose upload fails stays due, for the retry.
func (u *Uploader) pass(ctx context.Context, now time.Time, all bool) (next time.Time, first error) {
	u.passing.Lock()
	defer u.passing.Unlock()
	u.mu.Lock()
	u.init()
	todo := make([]*upStream, 0, len(u.streams))
	for _, st := range u.streams {
		todo = append(todo, st)
	}
	u.mu.Unlock()
	next = now.Add(u.chunkInterval())
	tried := false
	for _, st := range todo {
		try, at := u.isDue(st, now, all)
		if !try {
			if at.Before(next) {
				next = at
			}
			continue
		}
		tried = true
		if err := u.upload(ctx, st); err != nil {
			if first == nil {
				first = fmt.Errorf("s3store: upload %s/%s: %w", st.kind, st.id, err)
			}
			st.checked = time.Time{} // due until it goes up: the retry tries it
			continue
		}
		st.checked = now // a line it did not take was completed after now
	}
	u.passed(first, tried)
	return next, first
}

// isDue says whether a pass at now tries st (every stream with anything
// waiting, if all), and if not, when st will be due.
func (u *Uploader) isDue(st *upStream, now time.Time, all bool) (bool, time.Time) {
	d := dueCheck{closed: st.closed.Load(), pending: st.end.Load() - st.sent.Load(), checked: st.checked}
	if !d.closed && d.pending <= 0 {
		st.checked = now // what it has next is written after now
	}
	due, at := d.due(now, u.chunkBytes(), u.chunkInterval())
	return due || (all && d.pending > 0), at
}

// passed notes the outcome of a pass. One that tried nothing is not an
// upload for OnUpload (the upload lag); it still ends a failure, since a
// stream whose upload failed stays due until it goes up.
func (u *Uploader) passed(first error, tried bool) {
	if u.OnUpload != nil && tried {
		u.OnUpload(first)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	switch {
	case first == nil:
		u.failure = nil
	case u.failure == nil:
		u.failure, u.since = first, time.Now()
	default:
		u.failure = first
	}
}

// Run uploads until ctx ends: first what the spool holds from before
// (closed but not uploaded), then each stream's new lines when they are
// due (schedule.go: a chunk's worth, or ChunkInterval after they were
// written) and its manifest once it is closed. At start and every
// RescanInterval it rescans the spool and prunes it (KeepUploaded), also
// while uploads fail: the streams it removes are in the bucket already,
// and the disk they free is what the failing uploads are filling. A
// failed upload is retried with exponential backoff from MinBackoff to
// MaxBackoff; nothing is dropped.
func (u *Uploader) Run(ctx context.Context) {
	u.mu.Lock()
	u.init()
	u.mu.Unlock()
	if n, err := u.Scan(); err != nil {
		u.log().Error("recording spool: scan failed", "dir", u.Spool.Dir, "error", err)
	} else if n > 0 {
		u.log().Info("recording spool: uploading streams closed but not yet uploaded", "count", n)
	}
	u.prune(time.Now())
	backoff := time.Duration(0)
	rescan := time.NewTicker(RescanInterval)
	defer rescan.Stop()
	due := time.NewTimer(u.chunkInterval())
	defer due.Stop()
	for {
		next, err := u.pass(ctx, time.Now(), false)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = min(max(2*backoff, MinBackoff), MaxBackoff)
			n, _ := u.Backlog()
			u.log().Warn("recording upload failed; retrying", "error", err, "streams", u.Pending(), "bytes_waiting", n, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			case <-rescan.C:
				u.rescan() // and retry a little early, at most once a minute
			}
			continue
		}
		backoff = 0
		due.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		case <-due.C:
		case <-rescan.C:
			u.rescan()
		}
	}
}

// rescan is Run's periodic pass over the spool: queue the closed streams
// it was not told about, and remove those uploaded long enough ago.
func (u *Uploader) rescan() {
	if _, err := u.Scan(); err != nil {
		u.log().Error("recording spool: scan failed", "dir", u.Spool.Dir, "error", err)
	}
	u.prune(time.Now())
}
