package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestBuildCompleteness: with a ledger, four sessions opened in the
// period: one kept whole, one deleted from the store, one whose manifest
// was deleted, one still open. The counts say so and each difference is
// an exception; the open one is marked open at the period's end.
func TestBuildCompleteness(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	src := recorder.FileStore{Dir: t.TempDir()}
	now := periodFrom.Add(9 * time.Hour)
	r := &recorder.Recorder{Store: src, Signer: key, Clock: func() time.Time { now = now.Add(time.Second); return now }}
	if err := r.OpenLedger(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 4 {
		s, err := r.Open(recorder.KindSession)
		if err != nil {
			t.Fatal(err)
		}
		emit(t, s, event.TypeSessionStart, event.SessionStart{ClientAddr: "192.0.2.1:5000"})
		emit(t, s, event.TypeAuthSuccess, event.AuthSuccess{Name: "alice@example.com", KeyFacts: event.KeyFacts{KeyID: "alice@example.com"}})
		if i < 3 {
			emit(t, s, event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected"})
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		} else if err := s.Sync(); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	if err := r.CloseLedger(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(src.Dir, recorder.KindSession)
	for _, name := range []string{ids[1] + ".jsonl", ids[1] + ".manifest.json", ids[2] + ".manifest.json"} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{Scope: Scope{From: periodFrom, To: periodTo}, Lag: time.Minute, Keys: []ed25519.PublicKey{pub}, Signer: key,
		Now: periodTo.Add(time.Hour)}
	f := &fixture{src: src}
	files := unzip(t, f.build(t, opts))

	counts := map[string]string{}
	for _, row := range population(t, files, "completeness") {
		counts[row["count"].(string)] = fmt.Sprint(row["value"])
	}
	want := map[string]string{"store": "3", "manifests": "1", "ledgers": "4", "bundle": "3", "open_at_end": "1"}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("count %s is %s, want %s (all: %v)", k, counts[k], v, counts)
		}
	}
	ex := population(t, files, "exceptions")
	expect(t, "missing", rowWhere(t, ex, "session", ids[1]), map[string]string{"kind": exMissing})
	var kinds []string
	for _, e := range ex {
		if e["session"] == ids[2] {
			kinds = append(kinds, e["kind"].(string))
		}
	}
	if len(kinds) != 2 || kinds[0] != exFailed || kinds[1] != exNoManifest {
		t.Errorf("the session without its manifest: exceptions %v, want failed and no manifest", kinds)
	}
	expect(t, "the open session", rowWhere(t, population(t, files, "sessions"), "session", ids[3]),
		map[string]string{"open": "true", "open_at_end": "true"})
	expect(t, "a closed session", rowWhere(t, population(t, files, "sessions"), "session", ids[0]),
		map[string]string{"open": "false", "open_at_end": "false"})
}

func emit(t *testing.T, s *recorder.Stream, typ event.Type, data any) {
	t.Helper()
	if err := s.Emit(typ, data); err != nil {
		t.Fatal(err)
	}
}
