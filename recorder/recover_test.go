package recorder

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// crashedStream writes a stream of n events and leaves it as a killed
// process does: open, unlocked (the file is closed), no manifest.
func crashedStream(t *testing.T, rec *Recorder, store FileStore, n int) string {
	t.Helper()
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Emit("test.event", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	s.timer.Stop()
	s.out.(*fileAppender).f.Close()
	return s.ID
}

func TestRecoverClosesCrashedStreams(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	rec := signedRecorder(store, newFakeClock(), 3)
	whole := crashedStream(t, rec, store, 5)
	torn := crashedStream(t, rec, store, 4)
	path := filepath.Join(store.Dir, KindSession, torn+".jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	tail := `{"v":1,"stream":"` + torn + `","seq":5,"ti` // the write the kill cut short
	f.WriteString(tail)
	f.Close()
	live, err := rec.Open(KindSession) // a stream this process still writes
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	done, err := rec.Recover(store, KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 {
		t.Fatalf("recovered %d streams, want the 2 crashed ones (not the live one): %+v", len(done), done)
	}
	for _, tc := range []struct {
		id        string
		events    uint64
		tornBytes int
	}{{whole, 6, 0}, {torn, 5, len(tail)}} { // a checkpoint after the third event
		rep, err := VerifyStored(store, KindSession, tc.id, testPub())
		if err != nil {
			t.Fatalf("verify recovered %s: %v", tc.id, err)
		}
		m := rep.Manifest
		if m.EndReason != EndRecovered || m.Recovered == nil || m.Events != tc.events {
			t.Fatalf("manifest of %s = %+v, want %s with %d events", tc.id, m, EndRecovered, tc.events)
		}
		if m.Recovered.TornTailBytes != tc.tornBytes || (tc.tornBytes > 0) != (m.Recovered.TornTailSHA256 != "") {
			t.Errorf("%s: torn tail %d bytes (%q), want %d", tc.id, m.Recovered.TornTailBytes, m.Recovered.TornTailSHA256, tc.tornBytes)
		}
		if m.Recovered.Checkpointed != 3 {
			t.Errorf("%s: %d events checkpointed before the crash, want 3", tc.id, m.Recovered.Checkpointed)
		}
	}
	if again, err := rec.Recover(store, KindSession); err != nil || len(again) != 0 {
		t.Errorf("second Recover = %v, %v; want nothing to do", again, err)
	}
}

func TestRecoverLeavesTamperingForVerify(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	rec := signedRecorder(store, newFakeClock(), 100)
	id := crashedStream(t, rec, store, 4)
	path := filepath.Join(store.Dir, KindSession, id+".jsonl")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), `"i":1`, `"i":9`, 1)), 0o600)

	_, err := rec.Recover(store, KindSession)
	if err == nil || !strings.Contains(err.Error(), "not a crash's damage") {
		t.Fatalf("Recover of an edited stream = %v, want it refused", err)
	}
	if _, err := store.Manifest(KindSession, id); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an edited stream got a manifest: %v", err)
	}
}
