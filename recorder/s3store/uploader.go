package s3store

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
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
	MaxBackoff = time.Minute
)

// RescanInterval is how often Run looks through the spool for closed
// streams it was not told about (those of operator commands such as
// `gatehouse ca sign`, which exit before they are uploaded).
const RescanInterval = time.Minute

// Uploader moves closed streams from the spool (a recorder.FileStore's
// directory) into the bucket. Use Store as the Recorder's store so that
// each stream is queued as it is closed.
type Uploader struct {
	Client *Client
	Spool  recorder.FileStore
	Logger *slog.Logger // default slog.Default()

	mu      sync.Mutex
	pending map[[2]string]bool // kind, id
	wake    chan struct{}
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
		u.pending = map[[2]string]bool{}
	}
}

// Store is the recorder's store: the spool, with each stream queued for
// upload once its manifest is written.
func (u *Uploader) Store() recorder.Store {
	u.mu.Lock()
	u.init()
	u.mu.Unlock()
	return spoolStore{u}
}

type spoolStore struct{ u *Uploader }

func (s spoolStore) Create(kind, id string) (recorder.Appender, error) {
	a, err := s.u.Spool.Create(kind, id)
	if err != nil {
		return nil, err
	}
	return queuedAppender{Appender: a, u: s.u, kind: kind, id: id}, nil
}

type queuedAppender struct {
	recorder.Appender
	u        *Uploader
	kind, id string
}

func (a queuedAppender) Finish(manifest []byte) error {
	err := a.Appender.Finish(manifest)
	if err == nil && manifest != nil {
		a.u.enqueue(a.kind, a.id)
	}
	return err
}

func (u *Uploader) enqueue(kind, id string) {
	u.mu.Lock()
	u.init()
	u.pending[[2]string{kind, id}] = true
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Scan queues every closed stream in the spool that is not marked
// uploaded, and returns how many it queued.
func (u *Uploader) Scan() (int, error) {
	n := 0
	for _, kind := range []string{recorder.KindSession, recorder.KindCA} {
		ids, err := u.Spool.List(kind)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			dir := filepath.Join(u.Spool.Dir, kind)
			if exists(filepath.Join(dir, id+UploadedSuffix)) || !exists(filepath.Join(dir, id+".manifest.json")) {
				continue // uploaded, or not closed (still open, or cut short by a crash)
			}
			u.enqueue(kind, id)
			n++
		}
	}
	return n, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// UploadPending uploads every queued stream once, and returns the first
// error (the streams that failed stay queued).
func (u *Uploader) UploadPending(ctx context.Context) error {
	u.mu.Lock()
	u.init()
	var todo [][2]string
	for k := range u.pending {
		todo = append(todo, k)
	}
	u.mu.Unlock()
	var first error
	for _, k := range todo {
		if err := u.upload(ctx, k[0], k[1]); err != nil {
			if first == nil {
				first = fmt.Errorf("s3store: upload %s/%s: %w", k[0], k[1], err)
			}
			continue
		}
		u.mu.Lock()
		delete(u.pending, k)
		u.mu.Unlock()
	}
	return first
}

// Pending is how many streams wait to be uploaded.
func (u *Uploader) Pending() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.pending)
}

// upload puts one stream and marks it uploaded in the spool.
func (u *Uploader) upload(ctx context.Context, kind, id string) error {
	dir := filepath.Join(u.Spool.Dir, kind)
	marker := filepath.Join(dir, id+UploadedSuffix)
	if exists(marker) {
		return nil
	}
	stream, err := os.ReadFile(filepath.Join(dir, id+".jsonl"))
	if err != nil {
		return err
	}
	manifest, err := u.Spool.Manifest(kind, id)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("not closed (no manifest)")
	}
	if err != nil {
		return err
	}
	if err := u.Client.UploadStream(ctx, kind, id, stream, manifest); err != nil {
		return err
	}
	prefix, _ := Prefix(kind, id)
	if err := writeMarker(marker, fmt.Sprintf("s3://%s/%s\n", u.Client.bucket, prefix)); err != nil {
		return fmt.Errorf("uploaded, but marking it in the spool failed: %w", err)
	}
	u.log().Debug("recording uploaded", "kind", kind, "stream", id, "bucket", u.Client.bucket, "prefix", prefix)
	return nil
}

func writeMarker(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Run uploads until ctx ends: first what the spool holds from before
// (closed but not uploaded), then each stream as it is closed, rescanning
// the spool every RescanInterval. A failed upload is retried with
// exponential backoff from MinBackoff to MaxBackoff; nothing is dropped.
func (u *Uploader) Run(ctx context.Context) {
	u.mu.Lock()
	u.init()
	u.mu.Unlock()
	if n, err := u.Scan(); err != nil {
		u.log().Error("recording spool: scan failed", "dir", u.Spool.Dir, "error", err)
	} else if n > 0 {
		u.log().Info("recording spool: uploading streams closed but not yet uploaded", "count", n)
	}
	backoff := time.Duration(0)
	rescan := time.NewTicker(RescanInterval)
	defer rescan.Stop()
	for {
		if u.Pending() > 0 {
			if err := u.UploadPending(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				backoff = min(max(2*backoff, MinBackoff), MaxBackoff)
				u.log().Warn("recording upload failed; retrying", "error", err, "pending", u.Pending(), "retry_in", backoff)
				select {
				case <-ctx.Done():
					return
				case <-time.After(backoff):
				}
				continue
			}
			backoff = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		case <-rescan.C:
			if _, err := u.Scan(); err != nil {
				u.log().Error("recording spool: scan failed", "dir", u.Spool.Dir, "error", err)
			}
		}
	}
}
