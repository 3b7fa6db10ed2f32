//go:build servers

package s3store

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// TestChunkedUpload: an open stream is in the bucket, in chunks, before it
// ends; verify from the bucket reassembles them, reports the stream
// incomplete until its manifest is there, and complete after.
func TestChunkedUpload(t *testing.T) {
	c := openTestBucket(t)
	ctx := context.Background()
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Client: c, Spool: spool}
	rec, pub := newRecorder(t, up.Store())
	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(n int) {
		for i := range n {
			if err := s.Emit("db.statement", map[string]any{"text": "SELECT 1", "i": i}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := 1; round <= 2; round++ {
		emit(3)
		if err := up.UploadPending(ctx); err != nil {
			t.Fatal(err)
		}
		if n, why := up.Backlog(); n != 0 || why != nil {
			t.Fatalf("backlog after upload = %d, %v; want 0", n, why)
		}
		_, err := recorder.VerifyStored(c, recorder.KindSession, s.ID, pub)
		var ve *recorder.VerifyError
		if !errors.As(err, &ve) || !ve.Incomplete || ve.Line != 3*round {
			t.Fatalf("round %d: verify of the open stream from S3 = %v, want incomplete after %d events", round, err, 3*round)
		}
		if key, _ := ChunkKey(recorder.KindSession, s.ID, round-1); !c.exists(t, key) {
			t.Fatalf("round %d: chunk %s not in the bucket", round, key)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := up.UploadPending(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := recorder.VerifyStored(c, recorder.KindSession, s.ID, pub)
	if err != nil || rep.Manifest.Events != 6 {
		t.Fatalf("verify of the closed stream from S3 = %+v, %v", rep, err)
	}
	want, _ := os.ReadFile(filepath.Join(spool.Dir, recorder.KindSession, s.ID+".jsonl"))
	got, _ := c.Lines(recorder.KindSession, s.ID)
	if !bytes.Equal(append(bytes.Join(got, []byte("\n")), '\n'), want) {
		t.Error("the chunks put together are not the spool file")
	}
	if err := c.CheckRetention(recorder.KindSession, s.ID); err != nil {
		t.Error(err)
	}
	if up.Pending() != 0 {
		t.Errorf("%d streams still pending", up.Pending())
	}
}

// TestBacklogWhileStoreDown: what cannot be uploaded counts against the
// spool, with the store's error; nothing is marked uploaded.
func TestBacklogWhileStoreDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := Dial(Config{Endpoint: dead, Bucket: "recordings", AccessKey: "k", SecretKey: "secret-key", Mode: "compliance"})
	if err != nil {
		t.Fatal(err)
	}
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Client: c, Spool: spool}
	rec, _ := newRecorder(t, up.Store())
	id := recordSession(t, rec, 2)
	size := fileSize(t, filepath.Join(spool.Dir, recorder.KindSession, id+".jsonl"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no retries: one attempt fails at once
	if err := up.UploadPending(ctx); err == nil {
		t.Fatal("upload to a dead endpoint succeeded")
	}
	n, why := up.Backlog()
	if n != size || why == nil {
		t.Errorf("backlog = %d, %v; want %d bytes and the store's error", n, why, size)
	}
	if up.Pending() != 1 {
		t.Errorf("pending = %d, want the stream still queued", up.Pending())
	}
}

// openTestBucket starts a MinIO for the test and opens (creating it) a
// locked bucket on it.
func openTestBucket(t *testing.T) *Client {
	t.Helper()
	cfg := testConfig(testenv.StartMinIO(t), "recordings")
	cfg.CreateBucket = true
	c, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

func (c *Client) exists(t *testing.T, key string) bool {
	t.Helper()
	_, err := c.get(context.Background(), key)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("get %s: %v", key, err)
	}
	return err == nil
}

// TestConcurrentStreamsUploadWhole: streams written concurrently while Run
// uploads small chunks end up in the bucket whole, and verify.
func TestConcurrentStreamsUploadWhole(t *testing.T) {
	c := openTestBucket(t)
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Client: c, Spool: spool, ChunkInterval: 10 * time.Millisecond, ChunkBytes: 512}
	rec, pub := newRecorder(t, up.Store())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); up.Run(ctx) }()
	defer func() { cancel(); <-done }()

	ids := make([]string, 5)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() { ids[i] = recordSession(t, rec, 50) })
	}
	wg.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for up.Pending() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams still pending after 30s", up.Pending())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, id := range ids {
		rep, err := recorder.VerifyStored(c, recorder.KindSession, id, pub)
		if err != nil || rep.Manifest.Events != 52 {
			t.Errorf("verify %s from S3: %+v, %v", id, rep, err)
		}
	}
}

// TestUploadThenPrune: a stream uploaded to the bucket and then pruned
// from the spool still reads back and verifies from the bucket, and is
// not uploaded again.
func TestUploadThenPrune(t *testing.T) {
	c := openTestBucket(t)
	ctx := context.Background()
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Client: c, Spool: spool, KeepUploaded: map[string]time.Duration{recorder.KindSession: time.Hour}}
	rec, pub := newRecorder(t, up.Store())
	id := recordSession(t, rec, 3)
	want, _ := spool.Lines(recorder.KindSession, id)
	if err := up.UploadPending(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := up.Prune(time.Now()); n != 0 || err != nil {
		t.Fatalf("Prune right after the upload = %d, %v; want it kept for an hour", n, err)
	}
	if n, err := up.Prune(time.Now().Add(time.Hour + time.Minute)); n != 1 || err != nil {
		t.Fatalf("Prune an hour later = %d, %v; want it removed", n, err)
	}
	if n, err := up.Scan(); n != 0 || err != nil {
		t.Errorf("Scan after pruning = %d, %v; want nothing to upload", n, err)
	}
	got, err := c.Lines(recorder.KindSession, id)
	if err != nil || !bytes.Equal(bytes.Join(got, nil), bytes.Join(want, nil)) {
		t.Fatalf("lines from S3 after pruning: %d, %v; want the %d recorded", len(got), err, len(want))
	}
	if _, err := recorder.VerifyStored(c, recorder.KindSession, id, pub); err != nil {
		t.Errorf("verify from S3 after pruning: %v", err)
	}
	if _, err := spool.Lines(recorder.KindSession, id); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool still has the stream: %v", err)
	}
}

// TestClosedStreamsDamagedEndIsUploaded: bytes after a closed stream's
// last newline are not the recorder's (it ends every line); the bucket
// gets them too, so that verify fails from the bucket as it does from
// the spool instead of the upload laundering the damage away.
func TestClosedStreamsDamagedEndIsUploaded(t *testing.T) {
	c := openTestBucket(t)
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Client: c, Spool: spool}
	rec, pub := newRecorder(t, up.Store())
	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("db.statement", map[string]any{"text": "SELECT 1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(spool.Dir, recorder.KindSession, s.ID+".jsonl")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"seq":99,"type":"db.statement"`)
	f.Close()
	if _, err := recorder.VerifyStored(spool, recorder.KindSession, s.ID, pub); err == nil {
		t.Fatal("verify of the damaged spool stream passed")
	}
	if err := up.UploadPending(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := recorder.VerifyStored(c, recorder.KindSession, s.ID, pub); err == nil {
		t.Fatal("verify from the bucket passed: the upload dropped the damaged end")
	}
	want, _ := os.ReadFile(path)
	got, _ := c.Lines(recorder.KindSession, s.ID)
	if !bytes.Equal(bytes.Join(got, []byte("\n")), want) {
		t.Errorf("the bucket's stream is not the spool file:\n%q\n%q", bytes.Join(got, []byte("\n")), want)
	}
}
