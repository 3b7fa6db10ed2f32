//go:build servers

package s3store

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// requestLog is a proxy in front of MinIO that logs what an Uploader
// asks of it: "METHOD key" for each request to an object.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
	deny bool // answer every PUT AccessDenied, without passing it on
}

func (l *requestLog) denyPuts(deny bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.deny = deny
}

func (l *requestLog) count(method, part string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if strings.HasPrefix(r, method+" ") && strings.Contains(r, part) {
			n++
		}
	}
	return n
}

// openLoggedBucket is openTestBucket through a requestLog.
func openLoggedBucket(t *testing.T) (*Client, *requestLog) {
	t.Helper()
	m := testenv.StartMinIO(t)
	to, err := url.Parse(m.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	log := &requestLog{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(to)
		r.Out.Host = r.In.Host // signed (SigV4)
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.mu.Lock()
		if r.URL.RawQuery == "" {
			log.reqs = append(log.reqs, r.Method+" "+r.URL.Path)
		}
		deny := log.deny && r.Method == http.MethodPut
		log.mu.Unlock()
		if deny {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied by the test</Message></Error>`)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := testConfig(m, "recordings")
	cfg.Endpoint, cfg.CreateBucket = srv.URL, true
	c, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, log
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
	}
}

// runUploader runs up until the test ends.
func runUploader(t *testing.T, up *Uploader) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); up.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestOpenStreamsUploadWhenDue: an open stream is uploaded when a chunk's
// worth waits or its interval has passed, not whenever another stream's
// chunk is due (16 agents made every stream put a third of a chunk, each
// with a request before it); a chunk this process never put is put
// without asking first whether it is there; closing still uploads all.
func TestOpenStreamsUploadWhenDue(t *testing.T) {
	c, log := openLoggedBucket(t)
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Client: c, Spool: spool, ChunkInterval: time.Hour, ChunkBytes: 2048}
	rec, pub := newRecorder(t, up.Store())
	runUploader(t, up)

	quiet, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	quiet.Emit("session.start", map[string]string{"client_addr": "127.0.0.1:1"})
	busy, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	busyChunks := func() int { return log.count("PUT", busy.ID+"/") }
	for i := 0; busyChunks() < 3; i++ {
		if err := busy.Emit("db.statement", map[string]any{"text": "SELECT 1", "i": i}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	if n := log.count("PUT", quiet.ID+"/"); n != 0 {
		t.Errorf("the quiet stream was put %d times while only the busy one had a chunk's worth", n)
	}
	if n := log.count("HEAD", ".jsonl"); n != 0 {
		t.Errorf("%d HEAD requests before chunks this process had never put", n)
	}

	for _, s := range []*recorder.Stream{quiet, busy} {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*recorder.Stream{quiet, busy} {
		waitFor(t, "uploaded "+s.ID, func() bool {
			_, err := os.Stat(filepath.Join(spool.Dir, recorder.KindSession, s.ID+UploadedSuffix))
			return err == nil
		})
		if _, err := recorder.VerifyStored(c, recorder.KindSession, s.ID, pub); err != nil {
			t.Errorf("verify %s from S3: %v", s.ID, err)
		}
	}
}

// TestOpenStreamIsUploadedWithinItsInterval: a stream that never has a
// chunk's worth waiting is still in the bucket within ChunkInterval of
// each line (the documented bound on how long a line is only local).
func TestOpenStreamIsUploadedWithinItsInterval(t *testing.T) {
	c, log := openLoggedBucket(t)
	spool := recorder.FileStore{Dir: t.TempDir()}
	const interval = 300 * time.Millisecond
	up := &Uploader{Client: c, Spool: spool, ChunkInterval: interval}
	rec, _ := newRecorder(t, up.Store())
	runUploader(t, up)

	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := 1; round <= 3; round++ {
		time.Sleep(time.Duration(round) * interval / 3) // not in step with the uploader
		written := time.Now()
		if err := s.Emit("db.statement", map[string]any{"text": "SELECT 1", "round": round}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "chunk of round", func() bool { return log.count("PUT", s.ID+"/") >= round })
		// The uploader's own scheduling must keep the bound; the slack is
		// for the put itself on a loaded machine.
		took := time.Since(written)
		t.Logf("round %d: in the bucket %s after it was written", round, took)
		if took > interval+2*time.Second {
			t.Errorf("round %d: the line was only local for %s, more than the interval %s", round, took, interval)
		}
	}
}

// TestFailedChunkIsAskedForBeforeItsRetry: a put that failed may have
// landed, so its retry asks first (HEAD), and the stream stays queued
// until it goes up.
func TestFailedChunkIsAskedForBeforeItsRetry(t *testing.T) {
	c, log := openLoggedBucket(t)
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Client: c, Spool: spool}
	rec, _ := newRecorder(t, up.Store())
	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Emit("session.start", map[string]string{"client_addr": "127.0.0.1:1"})
	ctx := context.Background()
	log.denyPuts(true)
	if err := up.UploadPending(ctx); err == nil {
		t.Fatal("upload succeeded while every PUT was denied")
	}
	if up.Pending() != 1 {
		t.Fatalf("pending = %d after the failure, want the stream still queued", up.Pending())
	}
	log.denyPuts(false)
	if err := up.UploadPending(ctx); err != nil {
		t.Fatal(err)
	}
	key, _ := ChunkKey(recorder.KindSession, s.ID, 0)
	log.mu.Lock()
	reqs := slices.Clone(log.reqs)
	log.mu.Unlock()
	want := []string{"PUT /recordings/" + key, "HEAD /recordings/" + key, "PUT /recordings/" + key}
	var got []string
	for _, r := range reqs {
		if strings.HasSuffix(r, key) {
			got = append(got, r)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("requests for %s: %q, want %q", key, got, want)
	}
}
