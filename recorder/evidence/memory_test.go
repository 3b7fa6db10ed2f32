package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/heappeak"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestBuildMemoryDoesNotGrowWithThePeriod: the peak heap of a bundle
// over ten times the sessions (and statements, denials, masked reads) is
// within a small bound of the smaller one's: every population that grows
// with the period is written, or put in order on disk, as it is read.
// The store's listing is not the bundle's: FileStore.List reads its
// directory whole, so the store here lists from ids made beforehand,
// which the bundle sorts and keeps (tens of bytes a session: 45 KiB of
// the bound). The sorters hold sortRunRows rows and read mergeWidth runs
// at most; small ones here make both periods spill to disk and merge,
// as a quarter's would.
func TestBuildMemoryDoesNotGrowWithThePeriod(t *testing.T) {
	withSortLimits(t, 128, 4)
	// The live heap is measured at each collection: a low GC target
	// makes them frequent, so that none misses the peak by much.
	defer debug.SetGCPercent(debug.SetGCPercent(5))
	n := benchSize("EVIDENCE_MEMORY_SESSIONS", 100)
	small, large := peakHeapOfBuild(t, n), peakHeapOfBuild(t, 10*n)
	growth := int64(large) - int64(small)
	t.Logf("peak heap: %d sessions %.2f MiB, %d sessions %.2f MiB", n, float64(small)/(1<<20), 10*n, float64(large)/(1<<20))
	if bound := int64(512 << 10); growth > bound {
		t.Errorf("the peak heap grew by %.2f MiB from %d to %d sessions, more than %.2f MiB: the period is held in memory",
			float64(growth)/(1<<20), n, 10*n, float64(bound)/(1<<20))
	}
}

// peakHeapOfBuild records sessions (of 20 identities, 10 statements each,
// four denied and one masked) and says the peak heap in use while their
// bundle is made, as the collector finds it live.
func peakHeapOfBuild(t *testing.T, sessions int) uint64 {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	store := unsyncedStore{recorder.FileStore{Dir: t.TempDir()}}
	for i := range sessions {
		name := fmt.Sprintf("user%d@example.com", i%20)
		events := []emitted{auth(name), ev(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: "orders", Port: 5432}),
			stmt("select email from users", event.Allow, "read", []string{"email: redact (pii)"})}
		for j := range 4 {
			events = append(events, stmt(fmt.Sprintf("delete from orders where id = %d", j), event.Deny, "statements.readonly", nil),
				stmt(fmt.Sprintf("select * from orders where id = %d", j), event.Allow, "read", nil))
		}
		events = append(events, stmt("select 1", event.Allow, "read", nil))
		recordSession(t, store, key, periodFrom.Add(time.Duration(i)*time.Second), events)
	}
	opts := Options{Scope: Scope{From: periodFrom, To: periodTo}, Lag: time.Minute, Keys: []ed25519.PublicKey{pub}, Signer: key,
		TempDir: t.TempDir(), Now: periodTo}
	ids, err := store.List(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	src := listedStore{store.FileStore, ids}
	// The median of five builds. A build's reading errs both ways: what a
	// collection finds live includes what was allocated while it marked,
	// which a loaded machine (or the race detector) makes vary upwards,
	// and a short build can end its peak before a collection sees it.
	// The least of three, once used here, let one such miss stand for the
	// small period on a busy machine, and the growth then passed the bound.
	peaks := make([]uint64, 5)
	for i := range peaks {
		peak := heappeak.Watch(heapLive, nil)
		_, err = Build(io.Discard, src, opts)
		peaks[i] = peak()
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(peaks)
	return peaks[len(peaks)/2]
}

func recordSession(t *testing.T, store recorder.Store, key ed25519.PrivateKey, at time.Time, events []emitted) {
	t.Helper()
	now := at
	r := &recorder.Recorder{Store: store, Signer: key, Clock: func() time.Time { now = now.Add(time.Millisecond); return now }}
	s, err := r.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]emitted{ev(event.TypeSessionStart, event.SessionStart{ClientAddr: "192.0.2.1:5000"})}, events...)
	for _, e := range append(all, ev(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected"})) {
		emit(t, s, e.typ, e.data)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// unsyncedStore records into a FileStore's layout without an fsync a
// line, so that a test can record thousands of sessions quickly.
type unsyncedStore struct{ recorder.FileStore }

func (u unsyncedStore) Create(kind, id string) (recorder.Appender, error) {
	dir := filepath.Join(u.Dir, kind)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, id+".jsonl"))
	return &unsyncedFile{f: f, manifest: filepath.Join(dir, id+".manifest.json")}, err
}

type unsyncedFile struct {
	f        *os.File
	manifest string
}

func (u *unsyncedFile) Append(line []byte) error {
	_, err := u.f.Write(line)
	if err == nil {
		_, err = u.f.Write([]byte{'\n'})
	}
	return err
}

func (u *unsyncedFile) Finish(manifest []byte) error {
	err := u.f.Close()
	if manifest != nil && err == nil {
		err = os.WriteFile(u.manifest, manifest, 0o600)
	}
	return err
}

// listedStore is a FileStore whose sessions are listed from ids.
type listedStore struct {
	recorder.FileStore
	ids []string
}

func (l listedStore) List(kind string) ([]string, error) {
	if kind == recorder.KindSession {
		return l.ids, nil
	}
	return l.FileStore.List(kind)
}
