package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/heappeak"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// benchSize is a benchmark's or a test's size from the environment, or
// def.
func benchSize(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkBuild makes the bundle of a period of
// EVIDENCE_BENCH_SESSIONS sessions of EVIDENCE_BENCH_STATEMENTS
// statements each (default 200 × 500), and reports the time per bundle
// and the peak heap in use while it is made: the statements are
// streamed, so the peak grows with the sessions, not the statements.
func BenchmarkBuild(b *testing.B) {
	sessions, statements := benchSize("EVIDENCE_BENCH_SESSIONS", 200), benchSize("EVIDENCE_BENCH_STATEMENTS", 500)
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	src := recorder.FileStore{Dir: b.TempDir()}
	start := periodFrom
	for i := range sessions {
		benchSession(b, src, key, start.Add(time.Duration(i)*time.Second), i, statements)
	}
	opts := Options{Scope: Scope{From: periodFrom, To: periodTo}, Lag: time.Minute, Keys: []ed25519.PublicKey{pub}, Signer: key,
		TempDir: b.TempDir(), Now: periodTo}
	b.ResetTimer()
	for b.Loop() {
		peak := heappeak.Watch(heapObjects, nil)
		if _, err := Build(io.Discard, src, opts); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(peak())/(1<<20), "peak-heap-MiB")
	}
	b.ReportMetric(float64(sessions*statements), "statements")
}

func benchSession(b *testing.B, src recorder.FileStore, key ed25519.PrivateKey, at time.Time, i, statements int) {
	now := at
	r := &recorder.Recorder{Store: src, Signer: key, Clock: func() time.Time { now = now.Add(time.Millisecond); return now }}
	s, err := r.Open(recorder.KindSession)
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("user%d@example.com", i%50)
	emits := []emitted{ev(event.TypeSessionStart, event.SessionStart{ClientAddr: "192.0.2.1:5000"}), auth(name),
		ev(event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: "orders", Port: 5432})}
	for j := range statements {
		emits = append(emits, stmt(fmt.Sprintf("select * from orders where id = %d", j), event.Allow, "read", []string{"email: redact (pii)"}))
	}
	for _, e := range append(emits, ev(event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected"})) {
		if err := s.Emit(e.typ, e.data); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
}

// Heap metrics the tests and benchmarks watch (internal/heappeak): the
// heap in use (what is live and what is garbage not yet swept), and what
// the last collection found live.
const (
	heapObjects = heappeak.Objects
	heapLive    = "/gc/heap/live:bytes"
)
