package recorder

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestSummarizeThrottled: a stream of connections refused before
// authentication is listed as refused, with their number, so that
// `gatehouse sessions --outcome refused` shows it.
func TestSummarizeThrottled(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	refused := event.ThrottleReport{Source: "192.0.2.7", OverRate: 40, OverConcurrency: 2}
	s := recordEvents(t, signedRecorder(store, clock, 100), clock, []sessionEvent{
		{event.TypeSessionStart, 0, event.SessionStart{ClientAddr: "192.0.2.7"}},
		{event.TypeAuthThrottled, 0, event.AuthThrottled{ThrottleReport: refused, PerMinute: 20, MaxUnauth: 64}},
		{event.TypeSessionEnd, 0, event.SessionEnd{Reason: "connections refused before authentication"}},
	})
	lines, err := store.Lines(KindSession, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	sum := Summarize(s.ID, lines)
	if sum.Refusals != 42 || sum.ClientAddr != "192.0.2.7" || !(Filter{Outcome: OutcomeRefused}).Match(sum) {
		t.Errorf("summary %+v, want 42 refusals from 192.0.2.7 matching --outcome refused", sum)
	}
}
