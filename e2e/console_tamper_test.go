//go:build servers

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// tamperKind is one way of damaging a closed session's recording that
// `gatehouse verify` detects (docs/recording-format.md, "Verifying").
type tamperKind struct {
	name string
	// words are what verify's reason must hold.
	words string
	// checkpoint: the session idles past a checkpoint before it ends.
	checkpoint bool
	// damage changes the stored files of a session (path: their path
	// without extension; control: the undamaged session's) and returns
	// the 1-based line verify must name first (0 for the manifest) and
	// the seq it names there.
	damage func(t *testing.T, path string, lines [][]byte, control string) (line, seq int)
}

var tamperKinds = []tamperKind{
	{name: "edited", words: "previous-hash is not the hash of line", damage: func(t *testing.T, path string, lines [][]byte, _ string) (int, int) {
		k := lineWith(t, lines, "tamper-edited")
		lines[k] = bytes.Replace(lines[k], []byte("tamper-edited"), []byte("tamper-edixed"), 1)
		writeLines(t, path, lines)
		return k + 2, k + 1 // the next line's prev is no longer the hash of this one
	}},
	{name: "deleted", words: "an event is missing or out of order", damage: func(t *testing.T, path string, lines [][]byte, _ string) (int, int) {
		k := len(lines) / 2
		writeLines(t, path, append(lines[:k:k], lines[k+1:]...))
		return k + 1, k + 1 // the line where seq k was due holds seq k+1
	}},
	{name: "swapped", words: "an event is missing or out of order", damage: func(t *testing.T, path string, lines [][]byte, _ string) (int, int) {
		k := len(lines) / 2
		lines[k], lines[k+1] = lines[k+1], lines[k]
		writeLines(t, path, lines)
		return k + 1, k + 1
	}},
	{name: "truncated", words: "truncated", damage: func(t *testing.T, path string, lines [][]byte, _ string) (int, int) {
		writeLines(t, path, lines[:len(lines)-2])
		return len(lines) - 2, len(lines) - 3
	}},
	{name: "appended", words: "added after the stream was closed", damage: func(t *testing.T, path string, lines [][]byte, _ string) (int, int) {
		// Chained as the recorder would chain it: only the manifest
		// tells that it came after the close.
		last, err := recorder.Decode(lines[len(lines)-1])
		if err != nil {
			t.Fatal(err)
		}
		added, err := json.Marshal(recorder.Event{V: recorder.SchemaVersion, Stream: last.Stream, Seq: last.Seq + 1, Time: last.Time.Add(time.Second),
			Type: event.TypeDBStatement, Prev: recorder.LineHash(lines[len(lines)-1]), Data: json.RawMessage(`{"channel":0,"text":"SELECT 'added'"}`)})
		if err != nil {
			t.Fatal(err)
		}
		writeLines(t, path, append(lines, added))
		return len(lines) + 1, len(lines)
	}},
	{name: "torn", words: "cut short or garbled", damage: func(t *testing.T, path string, lines [][]byte, _ string) (int, int) {
		data := append(joinLines(lines), `{"v":1,"stream":"`...) // no newline: a line cut short
		writeFile(t, path+".jsonl", data)
		return len(lines) + 1, len(lines)
	}},
	{name: "last-edited", words: "the line was changed", damage: func(t *testing.T, path string, lines [][]byte, _ string) (int, int) {
		n := len(lines) - 1
		if ev, err := recorder.Decode(lines[n]); err != nil || ev.Type != event.TypeSessionEnd {
			t.Fatalf("the last line is not session.end: %s", lines[n])
		}
		edited := bytes.Replace(lines[n], []byte(`"duration_ms":`), []byte(`"duration_ms":1`), 1)
		if bytes.Equal(edited, lines[n]) {
			t.Fatalf("session.end has no duration: %s", lines[n])
		}
		lines[n] = edited
		writeLines(t, path, lines)
		return n + 1, n
	}},
	{name: "checkpoint-signature", words: "checkpoint", checkpoint: true, damage: func(t *testing.T, path string, lines [][]byte, _ string) (int, int) {
		for i, l := range lines {
			if ev, _ := recorder.Decode(l); ev.Type == event.TypeCheckpoint {
				sig := regexp.MustCompile(`"sig":"([A-Za-z0-9+/])`).FindSubmatchIndex(l)
				if sig == nil {
					t.Fatalf("checkpoint without a signature: %s", l)
				}
				flipped := byte('A')
				if l[sig[2]] == 'A' {
					flipped = 'B'
				}
				lines[i] = append(append(append([]byte{}, l[:sig[2]]...), flipped), l[sig[2]+1:]...)
				writeLines(t, path, lines)
				return i + 1, i
			}
		}
		t.Fatalf("no checkpoint in %d lines", len(lines))
		return 0, 0
	}},
	{name: "manifest-edited", words: "manifest: ", damage: func(t *testing.T, path string, _ [][]byte, _ string) (int, int) {
		m := mustRead(t, path+".manifest.json")
		edited := bytes.Replace(m, []byte(`"end_reason":"client disconnected"`), []byte(`"end_reason":"client disconnectes"`), 1)
		if bytes.Equal(edited, m) {
			t.Fatalf("the manifest has no end reason to change: %s", m)
		}
		writeFile(t, path+".manifest.json", edited)
		return 0, 0
	}},
	{name: "manifest-of-another", words: "it is the manifest of stream", damage: func(t *testing.T, path string, _ [][]byte, control string) (int, int) {
		writeFile(t, path+".manifest.json", mustRead(t, control+".manifest.json"))
		return 0, 0
	}},
	{name: "manifest-deleted", words: "it was cut and its manifest removed", damage: func(t *testing.T, path string, _ [][]byte, _ string) (int, int) {
		if err := os.Remove(path + ".manifest.json"); err != nil {
			t.Fatal(err)
		}
		return 0, 0
	}},
	{name: "copied-over", words: "is stream", damage: func(t *testing.T, path string, _ [][]byte, control string) (int, int) {
		for _, ext := range []string{".jsonl", ".manifest.json"} {
			writeFile(t, path+ext, mustRead(t, control+ext))
		}
		return 1, 0
	}},
}

// TestConsoleTamperKinds: sessions recorded through the real binary, each
// then damaged in a different way that `gatehouse verify` detects, while
// the console runs and has indexed them verified. For each, verify names
// it failed; its page shows FAILED with verify's own words and, where
// verify names a line, the same first failing sequence number; and the
// overview lists it under "verification failed". An undamaged session
// stays verified everywhere.
func TestConsoleTamperKinds(t *testing.T) {
	requireTools(t, "ssh", "psql")
	since := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	w := newWorldWith(t, erin)
	alice := testLoginAuthCode(t, w)
	record := func(name string, checkpoint bool) string {
		t.Helper()
		return w.runSession(t, w.sshConfig(alice), "gatehouse", func(port int) {
			if out, err := psql(t, port, "SELECT 'tamper-"+name+"'"); err != nil {
				t.Fatalf("psql: %v\n%s", err, out)
			}
			if checkpoint {
				time.Sleep(recorder.DefaultCheckpointInterval + time.Second) // the idle checkpoint signs it
			}
			if out, err := psql(t, port, "SELECT 'after "+name+"'"); err != nil {
				t.Fatalf("psql: %v\n%s", err, out)
			}
		})
	}
	control := record("control", false)
	ids := map[string]string{}
	for _, k := range tamperKinds {
		ids[k.name] = record(k.name, k.checkpoint)
	}
	period := "/?since=" + url.QueryEscape(since.Format(time.RFC3339)) + "&until=" + url.QueryEscape(time.Now().UTC().Add(time.Hour).Format(time.RFC3339))

	base, _, stop := w.startConsole(t)
	defer stop()
	get := consolePages(t, w.consoleLogin(t, base, erin), base)
	before := html.UnescapeString(get(period))
	sessions := overviewCount(t, before, "sessions")
	if n := overviewCount(t, before, "verified"); sessions < len(tamperKinds)+1 || n != sessions || overviewCount(t, before, "failed") != 0 {
		t.Fatalf("before any damage the overview counts %d sessions, %d verified, %d failed; want every one of at least %d verified",
			sessions, n, overviewCount(t, before, "failed"), len(tamperKinds)+1)
	}

	controlPath := w.closedSession(t, control)
	lineOf, seqOf := map[string]int{}, map[string]int{}
	for _, k := range tamperKinds {
		path := w.closedSession(t, ids[k.name])
		lines, err := w.store().Lines(recorder.KindSession, ids[k.name])
		if err != nil {
			t.Fatal(err)
		}
		lineOf[k.name], seqOf[k.name] = k.damage(t, path, lines, controlPath)
	}

	reasons := map[string]string{}
	for _, k := range tamperKinds {
		id := ids[k.name]
		out, err := exec.Command(w.bin, "verify", "--config", w.cfgPath, id).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.HasPrefix(string(out), "FAILED      "+id+"  ") {
			t.Errorf("%s: gatehouse verify %s: %v, want FAILED and exit 1\n%s", k.name, id, err, out)
			continue
		}
		reason, _, _ := strings.Cut(strings.TrimPrefix(string(out), "FAILED      "+id+"  "), "\n")
		mustContain(t, k.name+": gatehouse verify", reason, k.words)
		if line := lineOf[k.name]; line > 0 {
			mustContain(t, k.name+": gatehouse verify", reason, fmt.Sprintf("line %d (seq %d)", line, seqOf[k.name]))
		} else if strings.Contains(reason, " (seq ") {
			t.Errorf("%s: verify names a line of a damaged manifest: %s", k.name, reason)
		}
		reasons[k.name] = reason
	}
	if out, err := exec.Command(w.bin, "verify", "--config", w.cfgPath, control).CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "OK") {
		t.Errorf("the undamaged session: gatehouse verify: %v\n%s", err, out)
	}

	for _, k := range tamperKinds {
		page := html.UnescapeString(get("/sessions/" + ids[k.name]))
		mustContain(t, k.name+": the session page", page, "Verification: FAILED", reasons[k.name])
		if line := lineOf[k.name]; line > 0 {
			mustContain(t, k.name+": the session page", page, fmt.Sprintf("First failing sequence number: %d (line %d)", seqOf[k.name], line))
		} else {
			mustNotContain(t, k.name+": the session page", page, "First failing sequence number")
		}
	}
	mustContain(t, "the undamaged session's page", get("/sessions/"+control), "Verification: verified")

	// The index reads an edited recording again within its interval;
	// the overview lists from it.
	var exceptions map[string]string
	for deadline := time.Now().Add(3 * policy.DefaultConsoleIndexEvery); ; time.Sleep(250 * time.Millisecond) {
		exceptions = overviewExceptions(get(period))
		if len(failedAmong(exceptions, ids)) == len(ids) || time.Now().After(deadline) {
			break
		}
	}
	for _, k := range tamperKinds {
		id := ids[k.name]
		if got := exceptions[id]; !strings.HasPrefix(got, "verification failed|"+id+": ") {
			t.Errorf("%s: the overview's exception for %s is %q, want verification failed", k.name, id, got)
		}
	}
	if got, ok := exceptions[control]; ok {
		t.Errorf("the undamaged session is an exception: %q", got)
	}
	after := get(period)
	if f, v := overviewCount(t, after, "failed"), overviewCount(t, after, "verified"); f != len(tamperKinds) || v != sessions-f || overviewCount(t, after, "incomplete") != 0 {
		t.Errorf("the overview counts %d failed, %d verified, %d incomplete; want %d, %d, 0", f, v, overviewCount(t, after, "incomplete"), len(tamperKinds), sessions-len(tamperKinds))
	}
}

var exceptionRow = regexp.MustCompile(`<tr><td>([^<]*)</td><td>([^<]*)</td><td><a href="/sessions/([^"]*)">open</a></td></tr>`)

// overviewExceptions are the overview's exceptions by the session each
// links to: its kind and text, joined by "|".
func overviewExceptions(page string) map[string]string {
	out := map[string]string{}
	for _, m := range exceptionRow.FindAllStringSubmatch(page, -1) {
		out[html.UnescapeString(m[3])] = html.UnescapeString(m[1]) + "|" + html.UnescapeString(m[2])
	}
	return out
}

// failedAmong are the sessions of ids that exceptions lists as failed.
func failedAmong(exceptions, ids map[string]string) []string {
	var failed []string
	for _, id := range ids {
		if strings.HasPrefix(exceptions[id], "verification failed|") {
			failed = append(failed, id)
		}
	}
	return failed
}

// lineWith is the index of the first line holding text.
func lineWith(t *testing.T, lines [][]byte, text string) int {
	t.Helper()
	for i, l := range lines {
		if bytes.Contains(l, []byte(text)) {
			return i
		}
	}
	t.Fatalf("no line holds %q", text)
	return 0
}

// writeLines replaces the stream at path (without extension) with lines.
func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	writeFile(t, path+".jsonl", joinLines(lines))
}
