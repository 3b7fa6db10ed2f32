//go:build servers

package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

func (w *world) store() recorder.FileStore {
	return recorder.FileStore{Dir: filepath.Join(w.dataDir, "recordings")}
}

// findCAEvent returns the first CA event of a type whose line contains text.
func (w *world) findCAEvent(t *testing.T, typ event.Type, text string) string {
	t.Helper()
	ids, err := w.store().List(recorder.KindCA)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		lines, err := w.store().Lines(recorder.KindCA, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines {
			if ev, err := recorder.Decode(l); err == nil && ev.Type == typ && strings.Contains(string(l), text) {
				return string(l)
			}
		}
	}
	t.Fatalf("no %s event mentioning %q in the CA recordings", typ, text)
	return ""
}

// sessionIDs lists the recorded session streams.
func (w *world) sessionIDs(t *testing.T) map[string]bool {
	t.Helper()
	ids, err := w.store().List(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// newSessionEvents waits until the sessions begun since `before` have all
// closed (session.end recorded and the manifest signed) and returns their
// events, oldest first. The manifest is written just after session.end:
// a caller that went on at session.end alone would see, for a moment, a
// session that the console and verify rightly call incomplete.
func (w *world) newSessionEvents(t *testing.T, before map[string]bool) []recorder.Event {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var events []recorder.Event
		var ids, open []string
		for id := range w.sessionIDs(t) {
			if !before[id] {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			// A stream still being written reads whole (the store leaves
			// out a line still being written): any error fails.
			evs := w.sessionEvents(t, id)
			if !w.sessionClosed(id, evs) {
				open = append(open, id)
			}
			events = append(events, evs...)
		}
		if len(ids) > 0 && len(open) == 0 {
			return events
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions %v did not all record session.end and a manifest within 15s (not yet: %v); events so far: %s", ids, open, eventTypes(events))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sessionClosed says whether a session's recording ends with session.end
// and its manifest is in the store.
func (w *world) sessionClosed(id string, evs []recorder.Event) bool {
	if len(evs) == 0 || evs[len(evs)-1].Type != "session.end" {
		return false
	}
	_, err := w.store().Manifest(recorder.KindSession, id)
	return err == nil
}

// sessionEvents reads a session's recording and checks its chain.
func (w *world) sessionEvents(t *testing.T, id string) []recorder.Event {
	t.Helper()
	lines, err := w.store().Lines(recorder.KindSession, id)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := recorder.VerifyChain(lines)
	if err != nil {
		t.Fatalf("session %s: %v", id, err)
	}
	return evs
}

// findEvent returns the first event of a type whose payload contains all texts.
func findEvent(t *testing.T, events []recorder.Event, typ event.Type, texts ...string) recorder.Event {
	t.Helper()
next:
	for _, ev := range events {
		if ev.Type != typ {
			continue
		}
		for _, s := range texts {
			if !strings.Contains(string(ev.Data), s) {
				continue next
			}
		}
		return ev
	}
	t.Fatalf("no %s event containing %q; recorded: %s", typ, texts, eventDump(events))
	return recorder.Event{}
}

func eventTypes(events []recorder.Event) string {
	var types []string
	for _, ev := range events {
		types = append(types, string(ev.Type))
	}
	return strings.Join(types, ", ")
}

func eventDump(events []recorder.Event) string {
	var b strings.Builder
	for _, ev := range events {
		b.WriteString("\n  " + string(ev.Type) + " " + string(ev.Data))
	}
	return b.String()
}

// checkAllChains verifies every recorded stream's hash chain.
func (w *world) checkAllChains(t *testing.T) {
	t.Helper()
	n := 0
	for _, kind := range []string{recorder.KindSession, recorder.KindCA} {
		ids, err := w.store().List(kind)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			lines, err := w.store().Lines(kind, id)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := recorder.VerifyChain(lines); err != nil {
				t.Errorf("%s stream %s: %v", kind, id, err)
			}
			n++
		}
	}
	if n < 2 {
		t.Fatalf("only %d recorded streams in %s", n, filepath.Join(w.dataDir, "recordings"))
	}
	if _, err := os.Stat(filepath.Join(w.dataDir, "recordings", recorder.KindSession)); err != nil {
		t.Fatal(err)
	}
}

// publishedRecorderKeys is GET /v1/recorder-keys: the key an auditor
// trusts for recordings and evidence bundles alike.
func publishedRecorderKeys(t *testing.T, w *world) []byte {
	t.Helper()
	resp, err := http.Get(w.apiURL + "/v1/recorder-keys")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/recorder-keys: %d %v\n%s", resp.StatusCode, err, body)
	}
	return body
}

// testVerifyWithPublishedKey is the auditor's path: fetch the recorder's
// public key from the API, then verify every session recording offline
// with nothing but the recordings directory and that key.
func testVerifyWithPublishedKey(t *testing.T, w *world) {
	keyFile := filepath.Join(t.TempDir(), "recorder-keys.json")
	writeFile(t, keyFile, publishedRecorderKeys(t, w))
	out := w.gatehouse("verify", "--dir", filepath.Join(w.dataDir, "recordings"), "--pubkey", keyFile, "--since", "1h")
	mustContain(t, "gatehouse verify", out, " verified, 0 incomplete, 0 failed")
	if strings.Contains(out, " 0 verified") {
		t.Fatalf("gatehouse verify checked nothing:\n%s", out)
	}
}
