package recorder

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBacklog is a Backlog whose answer the test sets.
type fakeBacklog struct {
	mu    sync.Mutex
	bytes int64
	why   error
}

func (b *fakeBacklog) Backlog() (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes, b.why
}

func (b *fakeBacklog) set(n int64, why error) {
	b.mu.Lock()
	b.bytes, b.why = n, why
	b.mu.Unlock()
}

// forget drops Health's reused answer, so that the next one is fresh.
func (s *Spool) forget() { s.cached.Store(nil) }

func TestSpoolFullRefusesNewActions(t *testing.T) {
	backlog := &fakeBacklog{}
	spool := &Spool{Store: FileStore{Dir: t.TempDir()}, MaxBytes: 100, Waiting: backlog}
	rec := &Recorder{Store: spool, Signer: testKey}
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready with an empty backlog: %v", err)
	}

	backlog.set(101, errors.New("dial tcp: connection refused"))
	spool.forget()
	err = s.Ready()
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.Summary != SummarySpoolFull {
		t.Fatalf("Ready past spool_max_bytes = %v, want an UnavailableError %q", err, SummarySpoolFull)
	}
	for _, want := range []string{"101 bytes wait", "spool_max_bytes (100)", "connection refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Events of what is under way are still recorded, and new streams open
	// (to record their refusals).
	if err := s.Emit("db.statement", map[string]string{"decision": "deny"}); err != nil {
		t.Errorf("Emit while full: %v", err)
	}
	if _, err := rec.Open(KindSession); err != nil {
		t.Errorf("Open while full: %v", err)
	}

	backlog.set(10, nil) // the store came back and the spool drained
	spool.forget()
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after draining: %v", err)
	}
}

// failingAppender fails its writes while fail is set.
type failingAppender struct {
	mu   sync.Mutex
	fail bool
}

func (a *failingAppender) Append([]byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("no space left on device")
	}
	return nil
}

func (a *failingAppender) Finish([]byte) error { return nil }

func TestSpoolWriteFailureRefusesUntilProbeSucceeds(t *testing.T) {
	out := &failingAppender{fail: true}
	spool := &Spool{Store: fixedStore{out}, Dir: t.TempDir()}
	rec := &Recorder{Store: spool}
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("session.start", nil); err == nil {
		t.Fatal("Emit on a failing spool succeeded")
	}
	err = s.Ready()
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.Summary != SummarySpoolUnusable || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Ready after a failed write = %v, want %q naming the cause", err, SummarySpoolUnusable)
	}
	if _, err := rec.Open(KindSession); !errors.As(err, &ue) {
		t.Fatalf("Open after a failed write = %v, want an UnavailableError", err)
	}
	// The spool's directory can be written: the next probe clears the fault.
	spool.mu.Lock()
	spool.probedAt = time.Time{}
	spool.mu.Unlock()
	spool.forget()
	if err := rec.Health(); err != nil {
		t.Fatalf("Health after a probe that succeeds: %v", err)
	}
}

func TestFailOpenGoesAheadButHealthTells(t *testing.T) {
	backlog := &fakeBacklog{bytes: 2}
	spool := &Spool{Store: FileStore{Dir: t.TempDir()}, MaxBytes: 1, Waiting: backlog}
	rec := &Recorder{Store: spool, FailOpen: true}
	if err := rec.Ready(); err != nil {
		t.Errorf("Ready with FailOpen = %v, want nil", err)
	}
	if err := rec.Health(); err == nil {
		t.Error("Health with FailOpen hides the problem")
	}
	resp := httptest.NewRecorder()
	HealthHandler(rec).ServeHTTP(resp, httptest.NewRequest("GET", "/healthz", nil))
	body := resp.Body.String()
	if resp.Code != http.StatusServiceUnavailable || !strings.Contains(body, SummarySpoolFull) || !strings.Contains(body, `"fail_closed":false`) {
		t.Errorf("GET /healthz = %d %s", resp.Code, body)
	}

	backlog.set(0, nil)
	spool.forget()
	resp = httptest.NewRecorder()
	HealthHandler(rec).ServeHTTP(resp, httptest.NewRequest("GET", "/healthz", nil))
	if got := fmt.Sprint(resp.Code, " ", resp.Body.String()); got != "200 ok\n" {
		t.Errorf("GET /healthz when healthy = %q", got)
	}
}

// TestFileStoreReadsHugeLines: a line larger than any reader limit there
// was (16 MiB) reads back and verifies: whatever the recorder writes,
// Lines reads.
func TestFileStoreReadsHugeLines(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	s, err := (&Recorder{Store: store, Signer: testKey}).Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat("\x01", 3<<20) // six bytes each when escaped: an 18 MiB line
	if err := s.Emit("db.statement", map[string]string{"text": huge}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	lines, err := store.Lines(KindSession, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || len(lines[0]) < 16<<20 {
		t.Fatalf("%d lines", len(lines))
	}
	if _, err := VerifyStored(store, KindSession, s.ID, testPub()); err != nil {
		t.Fatal(err)
	}
}
