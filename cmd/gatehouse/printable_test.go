package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// hostile is text an agent controls, made to rewrite the auditor's
// terminal: erase the line, return to its start, print a fake ALLOW,
// reverse what follows, hide characters.
const hostile = "x\x1b[1A\x1b[2K\r\nALLOW\u202e\u2066\u200b\x07\x9b\xff\ttab"

// TestAuditOutputIsPrintable: replay, sessions and verify show what the
// client chose (statement text, SSH version, identity, host name, end
// reason) with every control, bidirectional and invisible character
// escaped, so that no line of theirs can be forged or hidden.
func TestAuditOutputIsPrintable(t *testing.T) {
	w := newAuditWorld(t)
	rec := w.recorder(t)
	id := recordSession(t, rec, "alice"+hostile, "billing", []auditEvent{
		{"session.start", map[string]any{"client_addr": "127.0.0.1:1", "client_version": "SSH-2.0-" + hostile}},
		{"db.statement", map[string]any{"channel": 1, "text": "DELETE FROM t" + hostile, "decision": "deny", "error": "42501"}},
		{"channel.refused", map[string]any{"channel": 2, "type": "direct-tcpip", "host": "orders" + hostile, "port": 5432, "reason": "unknown target"}},
		{"request.refused", map[string]any{"type": "exec", "detail": hostile, "reason": "no"}},
		{"x.unknown", map[string]any{"free": hostile}},
	})
	for _, args := range [][]string{
		{"replay", "--config", w.config, "--no-wait", id},
		{"sessions", "--config", w.config},
		{"verify", "--config", w.config, id},
	} {
		out, code, err := runAudit(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d, %v\n%s", args, code, err, out)
		}
		checkTerminalSafe(t, args[0], out)
		if !strings.Contains(out, `\x1b[2K`) {
			t.Errorf("%s does not show the escape sequence as text:\n%s", args[0], out)
		}
	}
	// The error of a failed verification quotes the recording too.
	if err := recorder.Printable(printableError{errString(hostile)}.Error()); strings.ContainsRune(err, '\x1b') {
		t.Errorf("printableError kept ESC: %q", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// checkTerminalSafe fails if out holds anything but visible characters,
// ASCII spaces and the newlines that end its own lines.
func checkTerminalSafe(t *testing.T, cmd, out string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		for _, r := range line {
			if !unicode.IsPrint(r) || unicode.Is(unicode.Cf, r) || r == '\ufffd' {
				t.Errorf("%s: line %d holds %U: %q", cmd, i+1, r, line)
				break
			}
		}
	}
	if strings.Count(out, "ALLOW") > 0 && strings.Contains(out, "\nALLOW") {
		t.Errorf("%s: a forged line begins ALLOW:\n%s", cmd, out)
	}
}

// recorder is the audit world's recorder, opened again.
func (w auditWorld) recorder(t *testing.T) *recorder.Recorder {
	t.Helper()
	cfg, err := policy.Load(w.config)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := openRecorder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// unreadable is an audit source whose one session cannot be read, as a
// bucket missing a chunk of it.
type unreadable struct {
	auditSource
	id string
}

func (u unreadable) Lines(kind, id string) ([][]byte, error) {
	if id == u.id {
		return nil, errString("chunk 000001 is missing")
	}
	return u.auditSource.Lines(kind, id)
}

// TestSessionsListsPastAnUnreadableSession: one session that cannot be
// read is listed as UNREADABLE, and every other session still is.
func TestSessionsListsPastAnUnreadableSession(t *testing.T) {
	w := newAuditWorld(t)
	store := recorder.FileStore{Dir: filepath.Join(w.dir, "recordings")}
	var out strings.Builder
	if err := listSessions(&out, unreadable{store, w.clean}, recorder.Filter{}, time.Hour, recorder.Trust()); err != nil {
		t.Fatalf("sessions failed for one unreadable session: %v", err)
	}
	if !strings.Contains(out.String(), w.refused) || !strings.Contains(out.String(), "UNREADABLE: chunk 000001 is missing") {
		t.Fatalf("sessions:\n%s", out.String())
	}
}
