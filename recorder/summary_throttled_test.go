package recorder

import (
	"encoding/json"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestSummarizeThrottled: a stream of connections refused before
// authentication is listed as refused, with their number, so that
// `gatehouse sessions --outcome refused` shows it.
func TestSummarizeThrottled(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	s, err := signedRecorder(store, clock, 100).Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []struct {
		typ  event.Type
		data string
	}{
		{"session.start", `{"client_addr":"192.0.2.7"}`},
		{"auth.throttled", `{"source":"192.0.2.7","over_rate":40,"over_concurrency":2}`},
		{"session.end", `{"reason":"connections refused before authentication"}`},
	} {
		if err := s.Emit(ev.typ, json.RawMessage(ev.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	lines, err := store.Lines(KindSession, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	sum := Summarize(s.ID, lines)
	if sum.Refusals != 42 || sum.ClientAddr != "192.0.2.7" || !(Filter{Outcome: OutcomeRefused}).Match(sum) {
		t.Errorf("summary %+v, want 42 refusals from 192.0.2.7 matching --outcome refused", sum)
	}
}
