package s3store

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/syncbuf"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// pruneNow is the time the pruning tests prune at; markers are dated
// relative to it.
var pruneNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// spoolFiles are the names a stream has in the spool once uploaded.
var spoolFiles = []string{".jsonl", ".manifest.json", ProgressSuffix, UploadedSuffix}

// recordCA writes and closes a CA stream in the spool.
func recordCA(t *testing.T, rec *recorder.Recorder) string {
	t.Helper()
	return recordOne(t, rec, recorder.KindCA)
}

// recordOne writes and closes a stream of kind, of one event, in the
// spool.
func recordOne(t *testing.T, rec *recorder.Recorder, kind string) string {
	t.Helper()
	s, err := rec.Open(kind)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Emit("cert.issued", map[string]any{"serial": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// markUploaded gives a closed stream the files an upload leaves (its
// progress and its marker), the marker dated age before pruneNow.
func markUploaded(t *testing.T, spool recorder.FileStore, kind, id string, age time.Duration) {
	t.Helper()
	base := filepath.Join(spool.Dir, kind, id)
	if err := os.WriteFile(base+ProgressSuffix, []byte(`{"chunks":1,"offset":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeMarker(base+UploadedSuffix, "s3://bucket/prefix/\n"); err != nil {
		t.Fatal(err)
	}
	at := pruneNow.Add(-age)
	if err := os.Chtimes(base+UploadedSuffix, at, at); err != nil {
		t.Fatal(err)
	}
}

// remaining lists which of a stream's spool files are still there.
func remaining(spool recorder.FileStore, kind, id string) []string {
	var out []string
	for _, suffix := range spoolFiles {
		if exists(filepath.Join(spool.Dir, kind, id+suffix)) {
			out = append(out, suffix)
		}
	}
	return out
}

// TestPruneAfterKeep: a stream is removed, every file of it, once its
// marker is older than its kind's keep time, and not before (the
// console's activity streams too); a stream without a marker is never
// removed, however old; a kind KeepUploaded does not name is kept.
func TestPruneAfterKeep(t *testing.T) {
	spool := recorder.FileStore{Dir: t.TempDir()}
	rec, _ := newRecorder(t, spool)
	const day = 24 * time.Hour
	tests := []struct {
		name   string
		kind   string
		marked time.Duration // marker age; -1: no marker
		gone   bool
	}{
		{"session past keep", recorder.KindSession, day + time.Minute, true},
		{"session exactly at keep", recorder.KindSession, day, true},
		{"session within keep", recorder.KindSession, day - time.Minute, false},
		{"session never uploaded", recorder.KindSession, -1, false},
		{"ca within its own keep", recorder.KindCA, 2*day - time.Minute, false},
		{"ca past its own keep", recorder.KindCA, 2*day + time.Minute, true},
		{"console past keep", recorder.KindConsole, day + time.Minute, true},
		{"console within keep", recorder.KindConsole, day - time.Minute, false},
		{"console never uploaded (a console still writing it)", recorder.KindConsole, -1, false},
	}
	ids := make([]string, len(tests))
	for i, tt := range tests {
		if tt.kind == recorder.KindSession {
			ids[i] = recordSession(t, rec, 2)
		} else {
			ids[i] = recordOne(t, rec, tt.kind)
		}
		if tt.marked >= 0 {
			markUploaded(t, spool, tt.kind, ids[i], tt.marked)
		} else {
			// Old files do not make a stream uploaded: only a marker does.
			old := pruneNow.Add(-100 * day)
			for _, suffix := range spoolFiles[:2] {
				os.Chtimes(filepath.Join(spool.Dir, tt.kind, ids[i]+suffix), old, old)
			}
		}
	}

	if n, err := (&Uploader{Spool: spool}).Prune(pruneNow); n != 0 || err != nil {
		t.Fatalf("Prune without KeepUploaded = %d, %v; want nothing removed", n, err)
	}
	up := &Uploader{Spool: spool, KeepUploaded: map[string]time.Duration{recorder.KindSession: day, recorder.KindCA: 2 * day,
		recorder.KindConsole: day}}
	n, err := up.Prune(pruneNow)
	if err != nil || n != 4 {
		t.Fatalf("Prune = %d, %v; want 4 removed", n, err)
	}
	for i, tt := range tests {
		left := remaining(spool, tt.kind, ids[i])
		switch {
		case tt.gone && len(left) > 0:
			t.Errorf("%s: %v left in the spool, want none", tt.name, left)
		case !tt.gone && tt.marked >= 0 && len(left) != len(spoolFiles):
			t.Errorf("%s: only %v left, want every file kept", tt.name, left)
		case !tt.gone && tt.marked < 0 && len(left) != 2:
			t.Errorf("%s: only %v left, want its stream and manifest kept", tt.name, left)
		}
	}
	if n, err := up.Prune(pruneNow); n != 0 || err != nil {
		t.Errorf("second Prune = %d, %v; want nothing more", n, err)
	}
}

// TestPruneSkipsOpenStreams: a stream the Uploader has in hand is never
// removed, even with a marker (which an open stream does not normally
// have) and a keep time of zero.
func TestPruneSkipsOpenStreams(t *testing.T) {
	spool := recorder.FileStore{Dir: t.TempDir()}
	up := &Uploader{Spool: spool, KeepUploaded: map[string]time.Duration{recorder.KindSession: 0}}
	rec, _ := newRecorder(t, up.Store())
	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Emit("session.start", map[string]string{}); err != nil {
		t.Fatal(err)
	}
	markUploaded(t, spool, recorder.KindSession, s.ID, time.Hour)
	if n, err := up.Prune(pruneNow); n != 0 || err != nil {
		t.Fatalf("Prune = %d, %v; want the open stream kept", n, err)
	}
	if !exists(filepath.Join(spool.Dir, recorder.KindSession, s.ID+".jsonl")) {
		t.Fatal("the open stream's file was removed")
	}
}

// TestPruneCrashAtEachStep: a pass cut short after any of its steps
// leaves a stream that Scan does not queue for upload again, that crash
// recovery leaves alone, and that the next pass removes.
func TestPruneCrashAtEachStep(t *testing.T) {
	for step := 1; step < len(pruneOrder); step++ {
		t.Run(strings.Join(pruneOrder[:step], "+")+" removed", func(t *testing.T) {
			spool := recorder.FileStore{Dir: t.TempDir()}
			rec, _ := newRecorder(t, spool)
			id := recordSession(t, rec, 2)
			markUploaded(t, spool, recorder.KindSession, id, time.Hour)
			for _, suffix := range pruneOrder[:step] {
				if err := os.Remove(filepath.Join(spool.Dir, recorder.KindSession, id+suffix)); err != nil {
					t.Fatal(err)
				}
			}
			left := remaining(spool, recorder.KindSession, id)

			up := &Uploader{Spool: spool, KeepUploaded: map[string]time.Duration{recorder.KindSession: time.Minute}}
			if n, err := up.Scan(); n != 0 || err != nil || up.Pending() != 0 {
				t.Errorf("Scan = %d, %v, %d pending; want nothing queued", n, err, up.Pending())
			}
			if done, err := rec.Recover(spool, recorder.KindSession); len(done) != 0 || err != nil {
				t.Errorf("Recover = %v, %v; want nothing recovered", done, err)
			}
			if got := remaining(spool, recorder.KindSession, id); !equalStrings(got, left) {
				t.Errorf("after Scan and Recover the spool has %v, want %v untouched", got, left)
			}
			if n, err := up.Prune(pruneNow); n != 1 || err != nil {
				t.Errorf("next Prune = %d, %v; want the stream finished", n, err)
			}
			if got := remaining(spool, recorder.KindSession, id); len(got) != 0 {
				t.Errorf("after the next pass %v are left", got)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// TestPruneGoesOnAfterError: a stream whose files cannot all be removed
// is named in the error and left, with its marker, for the next pass;
// the other streams are removed all the same.
func TestPruneGoesOnAfterError(t *testing.T) {
	spool := recorder.FileStore{Dir: t.TempDir()}
	rec, _ := newRecorder(t, spool)
	stuck, other := recordSession(t, rec, 1), recordSession(t, rec, 1)
	for _, id := range []string{stuck, other} {
		markUploaded(t, spool, recorder.KindSession, id, time.Hour)
	}
	// A non-empty directory where the manifest was cannot be removed.
	manifest := filepath.Join(spool.Dir, recorder.KindSession, stuck+".manifest.json")
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(manifest, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	up := &Uploader{Spool: spool, KeepUploaded: map[string]time.Duration{recorder.KindSession: time.Minute}}
	n, err := up.Prune(pruneNow)
	if n != 1 || err == nil || !strings.Contains(err.Error(), stuck) {
		t.Fatalf("Prune = %d, %v; want 1 removed and an error naming %s", n, err, stuck)
	}
	if left := remaining(spool, recorder.KindSession, other); len(left) != 0 {
		t.Errorf("the other stream left %v", left)
	}
	if left := remaining(spool, recorder.KindSession, stuck); !equalStrings(left, []string{".manifest.json", ProgressSuffix, UploadedSuffix}) {
		t.Errorf("the stuck stream left %v, want its manifest, progress and marker", left)
	}

	os.RemoveAll(manifest)
	if n, err := up.Prune(pruneNow); n != 1 || err != nil {
		t.Errorf("Prune once the manifest can go = %d, %v; want the stream finished", n, err)
	}
}

// TestRunPrunes: Run prunes the spool when it starts (and logs how many
// streams it removed, once), and ends with its context.
func TestRunPrunes(t *testing.T) {
	spool := recorder.FileStore{Dir: t.TempDir()}
	rec, _ := newRecorder(t, spool)
	id := recordSession(t, rec, 1)
	markUploaded(t, spool, recorder.KindSession, id, 0)
	os.Chtimes(filepath.Join(spool.Dir, recorder.KindSession, id+UploadedSuffix), time.Now(), time.Now())

	var logs syncbuf.Buffer
	up := &Uploader{Spool: spool, KeepUploaded: map[string]time.Duration{recorder.KindSession: 0},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); up.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for len(remaining(spool, recorder.KindSession, id)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Run did not prune: %v left", remaining(spool, recorder.KindSession, id))
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	if got := logs.String(); strings.Count(got, "removed streams uploaded") != 1 || !strings.Contains(got, "count=1") {
		t.Errorf("log:\n%s\nwant one INFO line with count=1", got)
	}
}
