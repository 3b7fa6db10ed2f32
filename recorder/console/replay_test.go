package console

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// line is one encoded event, unsigned: timelineOf reads only what replay
// shows.
func line(t *testing.T, seq uint64, at time.Time, typ event.Type, data any) []byte {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(recorder.Event{V: 1, Stream: "S", Seq: seq, Time: at, Type: typ, Data: raw})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTimelineOf: each event's offset is its time since the first, never
// going back when the clock did; a statement carries its decision; text
// is as `gatehouse replay` describes it, controls escaped; a long one is
// cut with its length; an undecodable line is left out.
func TestTimelineOf(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.FixedZone("X", 3600))
	long := "SELECT '" + strings.Repeat("x", 2*maxShownText) + "'"
	lines := [][]byte{
		line(t, 0, t0, event.TypeSessionStart, event.SessionStart{ClientAddr: "10.0.0.1:5000"}),
		line(t, 1, t0.Add(1500*time.Millisecond), event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "SELECT '\u202e\x1b[2J'", Decision: event.Deny, Rule: "no-pii"}),
		[]byte(`{"v":1,"seq":`),
		line(t, 3, t0.Add(time.Second), event.TypeDBStatement, event.DBStatement{Channel: 1, Text: long, Decision: event.Allow}),
		line(t, 4, t0.Add(61*time.Second), event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected"}),
	}
	got := timelineOf("S", lines)
	if got.Session != "S" || got.Start != "2026-12-05T08:00:00Z" || got.Length != 61000 || len(got.Events) != 4 {
		t.Fatalf("timeline %+v", got)
	}
	for i, want := range []struct {
		seq      uint64
		at       string
		offset   int64
		typ, dec string
		has      string
	}{
		{0, "2026-12-05T08:00:00.000Z", 0, "session.start", "", "connection from 10.0.0.1:5000"},
		{1, "2026-12-05T08:00:01.500Z", 1500, "db.statement", "deny", `DENY (rule no-pii) SELECT '\u202e\x1b[2J'`},
		{3, "2026-12-05T08:00:01.000Z", 1500, "db.statement", "allow", "ALLOW"},
		{4, "2026-12-05T08:01:01.000Z", 61000, "session.end", "", "client disconnected"},
	} {
		e := got.Events[i]
		if e.Seq != want.seq || e.At != want.at || e.Offset != want.offset || e.Type != want.typ || e.Decision != want.dec || !strings.Contains(e.Text, want.has) {
			t.Errorf("event %d: %+v, want %+v", i, e, want)
		}
		if strings.ContainsAny(e.Text, "\u202e\x1b") {
			t.Errorf("event %d holds raw controls: %q", i, e.Text)
		}
	}
	if e := got.Events[2]; len(e.Text) > maxShownText || e.Cut <= maxShownText {
		t.Errorf("the long statement: %d bytes shown, cut_bytes %d", len(e.Text), e.Cut)
	}
	if empty := timelineOf("S", nil); empty.Events == nil || empty.Length != 0 {
		t.Errorf("no lines: %+v (events must be a list, not null)", empty)
	}
}

// TestReplayRoutes: the replay page loads only the console's own script,
// with no inline script; timeline.json is JSON with no raw markup or
// controls, one entry per event; the script inserts text only; and both
// views are recorded.
func TestReplayRoutes(t *testing.T) {
	f := newFixture(t, 0)
	id := f.recordStatements(f.withKey(), attacks[0], attacks[3], attacks...)
	c := f.loggedIn(auditorClaims)

	page := f.get(c, "/sessions/"+id+"/replay")
	if page.StatusCode != http.StatusOK || strings.Count(page.body, "<script") != 1 ||
		!strings.Contains(page.body, `<script src="/static/replay.js"></script>`) ||
		!strings.Contains(page.body, `data-timeline="/sessions/`+id+`/timeline.json"`) {
		t.Fatalf("the replay page: %d\n%s", page.StatusCode, page.body)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self';") || !strings.Contains(csp, "connect-src 'self';") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}

	resp := f.get(c, "/sessions/"+id+"/timeline.json")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("timeline.json: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, bad := range []string{"<", ">", "\u202e", "\u200b", "\x1b", "\u3164"} {
		if strings.Contains(resp.body, bad) {
			t.Errorf("timeline.json holds %q raw", bad)
		}
	}
	var tl timeline
	if err := json.Unmarshal([]byte(resp.body), &tl); err != nil {
		t.Fatal(err)
	}
	lines, _ := f.store.Lines(recorder.KindSession, id)
	statements := 0
	for _, e := range tl.Events {
		if e.Type == string(event.TypeDBStatement) {
			statements++
		}
	}
	if len(tl.Events) != len(lines) || statements != len(attacks) || tl.Session != id {
		t.Errorf("timeline of %d events (%d statements), want %d events (%d statements)", len(tl.Events), statements, len(lines), len(attacks))
	}

	script := f.get(c, "/static/replay.js")
	if script.StatusCode != http.StatusOK || !strings.HasPrefix(script.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("replay.js: %d %q", script.StatusCode, script.Header.Get("Content-Type"))
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function(", "setTimeout(\"", "setTimeout('"} {
		if strings.Contains(script.body, bad) {
			t.Errorf("replay.js uses %s", bad)
		}
	}

	var paths []string
	for _, v := range f.activity.of(event.TypeConsoleView) {
		paths = append(paths, v.(event.ConsoleView).Path)
	}
	for _, want := range []string{"/sessions/" + id + "/replay", "/sessions/" + id + "/timeline.json"} {
		if !strings.Contains(strings.Join(paths, " "), want) {
			t.Errorf("views recorded %q, want %s", paths, want)
		}
	}
}
