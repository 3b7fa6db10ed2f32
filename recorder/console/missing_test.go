package console

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestMissingSessionUploadGrace: a session a ledger registers that the
// store lacks is "not uploaded yet", with its age, until UploadGrace has
// passed since it opened, and "missing from the store" from then on; with
// no grace (the directory store) it is missing at once.
func TestMissingSessionUploadGrace(t *testing.T) {
	f := newFixture(t, 0)
	key := f.withKey()
	opened := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	clock := opened
	rec := &recorder.Recorder{Store: f.store, Signer: key, Clock: func() time.Time { return clock }}
	if err := rec.OpenLedger(); err != nil {
		t.Fatal(err)
	}
	id := recordShortSession(t, rec)
	if err := rec.CloseLedger(); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".jsonl", ".manifest.json"} {
		if err := os.Remove(filepath.Join(f.store.Dir, recorder.KindSession, id+ext)); err != nil {
			t.Fatal(err)
		}
	}
	const grace = 10 * time.Minute
	for _, tc := range []struct {
		name      string
		grace     time.Duration
		now       time.Time
		kind, has string
	}{
		{"just opened", grace, opened, exUploading, "(0s ago)"},
		{"a nanosecond before the grace ends", grace, opened.Add(grace - time.Nanosecond), exUploading, "(10m0s ago)"},
		{"when the grace ends", grace, opened.Add(grace), exMissing, "but the store does not hold it"},
		{"long after", grace, opened.Add(24 * time.Hour), exMissing, "but the store does not hold it"},
		{"no grace (directory store)", 0, opened, exMissing, "but the store does not hold it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.console.cfg.UploadGrace = tc.grace
			f.console.cfg.Clock = func() time.Time { return tc.now }
			ex, err := f.console.missingSessions(recorder.Filter{Since: opened.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if len(ex) != 1 || ex[0].Kind != tc.kind || !strings.HasPrefix(ex[0].Detail, id+": opened ") ||
				!strings.Contains(ex[0].Detail, tc.has) {
				t.Fatalf("exceptions %+v, want one %q holding %q", ex, tc.kind, tc.has)
			}
		})
	}
}

// recordShortSession records a session of one session.start through rec,
// which registers it in rec's ledger, and returns its id.
func recordShortSession(t *testing.T, rec *recorder.Recorder) string {
	t.Helper()
	st, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Emit(event.TypeSessionStart, event.SessionStart{ClientAddr: "10.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return st.ID
}
