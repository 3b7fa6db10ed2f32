package pgsession

import (
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// blockingSync is a recorder Appender whose fsyncs wait for release.
type blockingSync struct {
	mu      sync.Mutex
	written int64
	release chan struct{}
}

func (a *blockingSync) Append([]byte) error { panic("Append used although Write/SyncThrough exist") }
func (a *blockingSync) Finish([]byte) error { return nil }
func (a *blockingSync) Write(line []byte) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.written += int64(len(line)) + 1
	return a.written, nil
}
func (a *blockingSync) SyncThrough(int64) error { <-a.release; return nil }

type oneAppender struct{ a recorder.Appender }

func (s oneAppender) Create(string, string) (recorder.Appender, error) { return s.a, nil }

// TestDecisionWaitsForItsFsync: by default a decision is recorded only
// once fsynced, except that of a string that only reads, which returns at
// once with a Hold that waits for the fsync (recording.overlap_reads);
// under recording.decision_sync_window a decision is recorded as soon as
// it is written, without a Hold.
func TestDecisionWaitsForItsFsync(t *testing.T) {
	no := false
	for _, c := range []struct {
		name      string
		rec       policy.RecordingConfig
		readsOnly bool
		waits     bool // emitDecision waits for the fsync
		holds     bool // it returns a Hold that does
	}{
		{"write", policy.RecordingConfig{}, false, true, false},
		{"read", policy.RecordingConfig{}, true, false, true},
		{"read, overlap_reads false", policy.RecordingConfig{OverlapReads: &no}, true, true, false},
		{"write, window", policy.RecordingConfig{DecisionSyncWindow: policy.Duration(5 * time.Millisecond)}, false, false, false},
		{"read, window", policy.RecordingConfig{DecisionSyncWindow: policy.Duration(5 * time.Millisecond)}, true, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := &blockingSync{release: make(chan struct{})}
			stream, err := (&recorder.Recorder{Store: oneAppender{out}}).Open(recorder.KindSession)
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			release := sync.OnceFunc(func() { close(out.release) })
			defer release()
			s := &pgSession{p: &Proxy{cfg: Config{Policy: &policy.Config{Recording: c.rec}}}, stream: stream}
			type result struct {
				hold func() error
				err  error
			}
			done := make(chan result, 1)
			go func() {
				hold, err := s.emitDecision(dbDecision{Text: "SELECT 1", Decision: "allow"}, c.readsOnly)
				done <- result{hold, err}
			}()
			var r result
			if c.waits {
				staysBlocked(t, done)
				release()
			}
			r = <-done // without c.waits, returning at all shows it did not wait
			if r.err != nil {
				t.Fatal(r.err)
			}
			if (r.hold != nil) != c.holds {
				t.Fatalf("Hold set: %v, want %v", r.hold != nil, c.holds)
			}
			if r.hold == nil {
				return
			}
			held := make(chan error, 1)
			go func() { held <- r.hold() }()
			staysBlocked(t, held)
			release()
			if err := <-held; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// staysBlocked fails the test when c delivers within 100ms: long enough
// to see that a wait for a blocked fsync does not return.
func staysBlocked[T any](t *testing.T, c <-chan T) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("returned (%v) before its fsync", v)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestOnlyReads: only plain SELECTs that call no function and lock no row
// may run before their decision is durable.
func TestOnlyReads(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 42":  true,
		"SELECT * FROM t WHERE a = $1":                          true,
		"TABLE t":                                               true,
		"SELECT * FROM t; SELECT * FROM u":                      true,
		"SELECT * FROM t; DELETE FROM t":                        false,
		"SELECT count(*) FROM t":                                false,
		"SELECT pg_sleep(1)":                                    false,
		"SELECT nextval('s')":                                   false,
		"SELECT * FROM t FOR UPDATE":                            false,
		"SELECT * FROM (SELECT * FROM t FOR SHARE) s":           false,
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d": false,
		"SELECT * INTO t2 FROM t":                               false,
		"SELECT set_config('work_mem', '1MB', false)":           false,
		"EXPLAIN ANALYZE SELECT * FROM t":                       false,
		"SHOW work_mem":                                         false,
		"FETCH 10 FROM c":                                       false,
		"BEGIN; SELECT * FROM t; COMMIT":                        false,
		"DECLARE c CURSOR FOR SELECT * FROM t":                  false,
	} {
		sts, err := sqlclass.Classify(sql)
		if err != nil {
			t.Fatalf("%q: %v", sql, err)
		}
		got := len(sts) > 0
		for _, st := range sts {
			got = got && onlyReads(st)
		}
		if got != want {
			t.Errorf("%q: onlyReads %v, want %v", sql, got, want)
		}
	}
}
