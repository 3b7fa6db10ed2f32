package console

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// timeline is what /sessions/ID/timeline.json gives the replay script:
// every event of the session with its offset from the first, in the
// recorded order, as `gatehouse replay` plays them. Every string is text
// the script inserts as text (textContent); what a client chose is
// already Printable.
type timeline struct {
	Session string          `json:"session"`
	Start   string          `json:"start"`       // the first event's time, UTC
	Length  int64           `json:"duration_ms"` // the last event's offset
	Events  []timelineEvent `json:"events"`
}

// timelineEvent is one event of a replay.
type timelineEvent struct {
	Seq      uint64 `json:"seq"`
	At       string `json:"at"`        // UTC, to the millisecond
	Offset   int64  `json:"offset_ms"` // from the first event; never less than the one before
	Type     string `json:"type"`
	Text     string `json:"text"`                // the event in words (recorder.Describe), cut at maxShownText
	Decision string `json:"decision,omitempty"`  // a statement's: allow, deny, …
	Cut      int    `json:"cut_bytes,omitempty"` // the whole text's length, when Text was cut
}

// timelineOf is the replay of a session's lines. Undecodable lines are
// left out (the verification panel names them).
func timelineOf(id string, lines [][]byte) timeline {
	t := timeline{Session: id, Events: []timelineEvent{}}
	var first, last time.Time
	for _, line := range lines {
		ev, err := recorder.Decode(line)
		if err != nil {
			continue
		}
		if first.IsZero() {
			first, last, t.Start = ev.Time, ev.Time, utc(ev.Time)
		}
		if ev.Time.After(last) { // a clock stepped back does not replay backwards
			last = ev.Time
		}
		te := timelineEvent{Seq: ev.Seq, At: ev.Time.UTC().Format("2006-01-02T15:04:05.000Z"), Offset: last.Sub(first).Milliseconds(),
			Type: recorder.Printable(string(ev.Type)), Text: recorder.Describe(ev)}
		if ev.Type == event.TypeDBStatement {
			var s event.DBStatement
			if ev.DecodeData(&s) == nil {
				te.Decision = recorder.Printable(string(s.Decision))
			}
		}
		if len(te.Text) > maxShownText {
			te.Cut, te.Text = len(te.Text), cutText(te.Text, maxShownText)
		}
		t.Events = append(t.Events, te)
	}
	t.Length = last.Sub(first).Milliseconds()
	return t
}

// replayPage is /sessions/ID/replay: the page whose script
// (static/replay.js) plays the session's timeline.json at its recorded
// pace.
func (c *Console) replayPage(w http.ResponseWriter, r *http.Request, v viewer) {
	s, ok := c.readSession(w, r, v)
	if !ok {
		return
	}
	view := event.ConsoleView{Auditor: v.Auditor, Path: r.URL.Path, Rows: len(s.lines), Total: len(s.lines)}
	if !c.record(w, event.TypeConsoleView, view) {
		return
	}
	c.render(w, http.StatusOK, "replay.html", struct {
		Viewer         viewer
		ID, Page, Data string
		Events         int
	}{v, s.id, "/sessions/" + s.id, "/sessions/" + s.id + "/timeline.json", len(s.lines)})
}

// timelineJSON is /sessions/ID/timeline.json, the replay's data.
func (c *Console) timelineJSON(w http.ResponseWriter, r *http.Request, v viewer) {
	s, ok := c.readSession(w, r, v)
	if !ok {
		return
	}
	t := timelineOf(s.id, s.lines)
	view := event.ConsoleView{Auditor: v.Auditor, Path: r.URL.Path, Rows: len(t.Events), Total: len(t.Events)}
	if !c.record(w, event.TypeConsoleView, view) {
		return
	}
	body, err := json.Marshal(t) // escapes <, > and & too: inert even if sniffed
	if err != nil {
		c.unreadable(w, "the timeline of "+s.id, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if _, err := w.Write(body); err != nil {
		c.cfg.Logger.Warn("console: writing a timeline failed", "session", s.id, "error", err)
	}
}
