package s3store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse/internal/privatefile"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// ProgressSuffix names the spool's record of how much of a stream is in
// the bucket: KIND/ID.upload, so that a restart resumes after the last
// chunk put instead of putting a different one under its number.
const ProgressSuffix = ".upload"

// progress is the content of a .upload file.
type progress struct {
	Chunks int   `json:"chunks"` // chunks put: the next is number Chunks
	Offset int64 `json:"offset"` // bytes of the stream file they hold
}

func (u *Uploader) progressPath(kind, id string) string {
	return filepath.Join(u.Spool.Dir, kind, id+ProgressSuffix)
}

func loadProgress(path string) (progress, error) {
	var p progress
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &p)
	}
	if err != nil {
		return p, fmt.Errorf("s3store: upload progress %s: %w", path, err)
	}
	return p, nil
}

// upload puts what a stream has waiting: its complete new lines as
// chunks, and, once it is closed, its manifest, after which the spool
// marks it uploaded and the uploader forgets it.
func (u *Uploader) upload(ctx context.Context, st *upStream) error {
	marker := filepath.Join(u.Spool.Dir, st.kind, st.id+UploadedSuffix)
	if exists(marker) {
		u.forget(st)
		return nil
	}
	closed := st.closed.Load() // before reading: then every line is in the file
	if !closed && st.end.Load() <= st.sent.Load() {
		return nil // an open stream with nothing new
	}
	if err := u.putChunks(ctx, st, closed); err != nil {
		return err
	}
	if !closed {
		return nil
	}
	manifest, err := u.Spool.Manifest(st.kind, st.id)
	if err != nil {
		return err
	}
	mkey, err := ManifestKey(st.kind, st.id)
	if err != nil {
		return err
	}
	if err := u.Client.put(ctx, mkey, manifest, "application/json", true); err != nil {
		return err
	}
	prefix, _ := Prefix(st.kind, st.id)
	if err := writeMarker(marker, fmt.Sprintf("s3://%s/%s\n", u.Client.bucket, prefix)); err != nil {
		return fmt.Errorf("uploaded, but marking it in the spool failed: %w", err)
	}
	u.forget(st)
	u.log().Debug("recording uploaded", "kind", st.kind, "stream", st.id, "bucket", u.Client.bucket, "prefix", prefix, "chunks", st.progress.Chunks)
	return nil
}

// putChunks puts the stream's complete lines after the last chunk. A
// closed stream with no chunk yet gets one, empty if it has no line, so
// that the bucket holds every stream it has a manifest for.
func (u *Uploader) putChunks(ctx context.Context, st *upStream, closed bool) error {
	data, err := readFrom(u.streamPath(st.kind, st.id), st.progress.Offset)
	if err != nil {
		return err
	}
	st.end.Store(max(st.end.Load(), st.progress.Offset+int64(len(data))))
	// An open stream's last line may still be being written: only
	// complete lines go. A closed stream is uploaded whole: the recorder
	// ended it with a newline, so bytes after the last one are damage to
	// the spool, and the bucket keeps them for verify to report there
	// too, rather than holding a copy that verifies where the spool does
	// not.
	if i := bytes.LastIndexByte(data, '\n'); !closed && i >= 0 {
		data = data[:i+1]
	} else if !closed {
		data = nil // no complete line yet
	}
	if len(data) == 0 && (!closed || st.progress.Chunks > 0) {
		return nil
	}
	for first := true; first || len(data) > 0; first = false {
		chunk := nextChunk(data)
		if err := u.putChunk(ctx, st, chunk); err != nil {
			return err
		}
		data = data[len(chunk):]
	}
	return nil
}

// nextChunk is the first lines of data up to MaxChunkBytes (at least one
// line).
func nextChunk(data []byte) []byte {
	if len(data) <= MaxChunkBytes {
		return data
	}
	if i := bytes.LastIndexByte(data[:MaxChunkBytes], '\n'); i >= 0 {
		return data[:i+1]
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i+1]
	}
	return data // a closed stream's damaged end: no line to cut it at
}

// putChunk puts one chunk and records the progress in the spool.
func (u *Uploader) putChunk(ctx context.Context, st *upStream, chunk []byte) error {
	key, err := ChunkKey(st.kind, st.id, st.progress.Chunks)
	if err != nil {
		return err
	}
	if err := u.Client.put(ctx, key, chunk, "application/x-ndjson", st.mayExist); err != nil {
		st.mayExist = true // it may have landed all the same
		return err
	}
	next := progress{Chunks: st.progress.Chunks + 1, Offset: st.progress.Offset + int64(len(chunk))}
	data, _ := json.Marshal(next)
	if err := privatefile.Replace(u.progressPath(st.kind, st.id), data, nil); err != nil {
		return fmt.Errorf("chunk %s put, but recording it in the spool failed: %w", key, err)
	}
	st.progress = next
	st.mayExist = false
	st.sent.Store(next.Offset)
	return nil
}

// readFrom reads a file from offset to its end.
func readFrom(path string, offset int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
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

// spoolStore is the Uploader's recorder.Store.
type spoolStore struct{ u *Uploader }

func (s spoolStore) Create(kind, id string) (recorder.Appender, error) {
	a, err := s.u.Spool.Create(kind, id)
	if err != nil {
		return nil, err
	}
	st, err := s.u.track(kind, id, true)
	if err != nil {
		return nil, errors.Join(err, a.Finish(nil))
	}
	gc, _ := a.(groupCommitter)
	q := &queuedAppender{Appender: a, gc: gc, u: s.u, st: st}
	if jw, ok := a.(journaledWriter); ok {
		return &queuedJournaled{q, jw}, nil
	}
	return q, nil
}

// groupCommitter is the recorder's optional Appender ability (a
// FileStore's), passed through so that group commit still works.
type groupCommitter interface {
	Write(line []byte) (end int64, err error)
	SyncThrough(end int64) error
}

// journaledWriter is the rest of the journal's appender's abilities (a
// journaled FileStore's, recorder/journaled.go): a line written with the
// commit its writer waits for. Passed through, or every statement costs
// a write more with S3 than without.
type journaledWriter interface {
	groupCommitter
	WriteLater(line []byte) (end int64, err error)
}

// queuedAppender tells the Uploader how far its stream has grown and when
// it is closed.
type queuedAppender struct {
	recorder.Appender
	gc groupCommitter // nil when the spool's Appender is not one
	u  *Uploader
	st *upStream
}

// Write appends a line and wakes the Uploader once a chunk's worth waits.
func (a *queuedAppender) Write(line []byte) (int64, error) {
	if a.gc == nil {
		return a.grew(a.st.end.Load()+int64(len(line))+1, a.Appender.Append(line))
	}
	return a.grew(a.gc.Write(line))
}

// grew records the stream's end after a write that returned err.
func (a *queuedAppender) grew(end int64, err error) (int64, error) {
	if err != nil {
		return end, err
	}
	a.st.end.Store(end)
	if end-a.st.sent.Load() >= a.u.chunkBytes() {
		a.u.poke()
	}
	return end, nil
}

func (a *queuedAppender) SyncThrough(end int64) error {
	if a.gc == nil {
		return nil // Append was durable
	}
	return a.gc.SyncThrough(end)
}

func (a *queuedAppender) Append(line []byte) error {
	end, err := a.Write(line)
	if err != nil {
		return err
	}
	return a.SyncThrough(end)
}

// queuedJournaled is a queuedAppender over a journaled stream: it keeps
// the journal's fast paths (journaledWriter).
type queuedJournaled struct {
	*queuedAppender
	jw journaledWriter
}

func (a *queuedJournaled) WriteLater(line []byte) (int64, error) {
	return a.grew(a.jw.WriteLater(line))
}

// Finish closes the stream in the spool; with a manifest, the Uploader
// puts what is left and the manifest, and without one (a Recorder that
// does not sign) it forgets the stream, which is then never uploaded.
func (a *queuedAppender) Finish(manifest []byte) error {
	err := a.Appender.Finish(manifest)
	if err != nil || manifest == nil {
		a.u.forget(a.st)
		return err
	}
	a.st.closed.Store(true)
	a.u.poke()
	return nil
}
