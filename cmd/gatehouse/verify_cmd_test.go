package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
	"github.com/gatehouse-dev/gatehouse/recorder/stack"
)

// auditWorld is a data_dir with a recorder key and two recorded sessions:
// a clean one and one with refusals.
type auditWorld struct {
	dir, config    string
	clean, refused string // session ids
}

func newAuditWorld(t *testing.T) auditWorld {
	t.Helper()
	dir := t.TempDir()
	config := filepath.Join(dir, "gatehouse.yaml")
	yaml := "data_dir: " + dir + "\nrecording:\n  store: file\n  dir: recordings\n"
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := policy.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := openRecorder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	rec.Clock = func() time.Time { clock = clock.Add(250 * time.Millisecond); return clock }
	rec.CheckpointEvents = 3
	w := auditWorld{dir: dir, config: config}
	w.clean = recordSession(t, rec, "bob@example.com", "orders", nil)
	w.refused = recordSession(t, rec, "alice@example.com", "billing", []auditEvent{
		{event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "SELECT email FROM customers", Decision: "allow", Rule: "readonly", Outcome: "ok", Rows: 3, DurationMS: 2, Masked: []string{"email"}}},
		{event.TypeDBStatement, event.DBStatement{Channel: 1, Text: "DELETE FROM customers", Decision: "deny", Rule: "readonly", Outcome: "denied", Error: "42501"}},
		{event.TypeChannelRefused, event.ChannelRefused{Channel: 2, Type: "direct-tcpip", Host: "10.0.0.1", Port: 22, Reason: "destination is an address, not a target name"}},
	})
	return w
}

type auditEvent struct {
	typ  event.Type
	data any
}

func recordSession(t *testing.T, rec *recorder.Recorder, who, target string, middle []auditEvent) string {
	t.Helper()
	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	events := []auditEvent{
		{event.TypeSessionStart, event.SessionStart{ClientAddr: "127.0.0.1:50000", ServerAddr: "127.0.0.1:2222"}},
		{event.TypeAuthSuccess, event.AuthSuccess{Method: "publickey", Name: who, Principals: []string{target + ":readonly"},
			KeyFacts: event.KeyFacts{KeyID: who, Serial: 77, KeyFingerprint: "SHA256:k"}}},
		{event.TypeChannelOpen, event.ChannelOpen{Channel: 1, Target: target, Roles: []string{"readonly"}, Port: 5432}},
	}
	events = append(events, middle...)
	events = append(events, auditEvent{event.TypeChannelClose, event.ChannelClose{Channel: 1}},
		auditEvent{event.TypeSessionEnd, event.SessionEnd{Reason: "client disconnected", Channels: 1}})
	for _, e := range events {
		if err := s.Emit(e.typ, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func (w auditWorld) stream(id string) string {
	return filepath.Join(w.dir, "recordings", recorder.KindSession, id+".jsonl")
}

// runAudit runs the command line and returns its output and exit status.
func runAudit(t *testing.T, args ...string) (string, int, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	code := 0
	var ee exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
	case err != nil:
		code = 1
	}
	return out.String(), code, err
}

func TestVerifyCommand(t *testing.T) {
	w := newAuditWorld(t)
	out, code, err := runAudit(t, "verify", "--config", w.config, w.clean)
	if code != 0 || !strings.Contains(out, "OK") || !strings.Contains(out, "bob@example.com, certificate serial 77") {
		t.Fatalf("verify: exit %d, %v\n%s", code, err, out)
	}
	// Offline: the recordings directory and the key `recorder pubkey` prints,
	// flags after the session.
	pub, code, err := runAudit(t, "recorder", "pubkey", "--config", w.config)
	if code != 0 || !strings.HasPrefix(pub, "ssh-ed25519 ") {
		t.Fatalf("recorder pubkey: exit %d, %v: %s", code, err, pub)
	}
	keyFile := filepath.Join(t.TempDir(), "recorder.pub")
	os.WriteFile(keyFile, []byte(pub), 0o644)
	dir := filepath.Join(w.dir, "recordings")
	for _, key := range []string{strings.TrimSpace(pub), keyFile} {
		if out, code, err := runAudit(t, "verify", w.refused, "--dir", dir, "--pubkey", key); code != 0 {
			t.Fatalf("verify --dir --pubkey %s: exit %d, %v\n%s", key, code, err, out)
		}
	}
	out, code, err = runAudit(t, "verify", "--config", w.config, "--since", "2026-11-26T00:00:00Z")
	if code != 0 || !strings.Contains(out, "2 verified, 0 incomplete, 0 failed") {
		t.Fatalf("verify --since: exit %d, %v\n%s", code, err, out)
	}
}

func TestVerifyCommandFailures(t *testing.T) {
	w := newAuditWorld(t)
	data, _ := os.ReadFile(w.stream(w.refused))
	os.WriteFile(w.stream(w.refused), bytes.Replace(data, []byte(`"rows":3`), []byte(`"rows":0`), 1), 0o600)
	_, code, err := runAudit(t, "verify", "--config", w.config, w.refused)
	if code != 1 || !strings.Contains(err.Error(), "line 6 (seq 5)") {
		t.Fatalf("tampered: exit %d, %v", code, err)
	}
	os.Remove(strings.TrimSuffix(w.stream(w.clean), ".jsonl") + ".manifest.json")
	_, code, err = runAudit(t, "verify", "--config", w.config, w.clean)
	if code != exitIncomplete || !strings.Contains(err.Error(), "not closed") {
		t.Fatalf("no manifest: exit %d, %v", code, err)
	}
	// --since names the first problem, the tampering before the incompleteness.
	out, code, err := runAudit(t, "verify", "--config", w.config, "--since", "2026-11-26T00:00:00Z")
	if code != 1 || !strings.Contains(out, "0 verified, 1 incomplete, 1 failed") || !strings.Contains(err.Error(), w.refused) {
		t.Fatalf("verify --since: exit %d, %v\n%s", code, err, out)
	}
	for _, args := range [][]string{
		{"verify", w.clean},                              // nowhere to look
		{"verify", "--dir", w.dir, w.clean},              // no key
		{"verify", "--config", w.config},                 // nothing to verify
		{"verify", "--config", w.config, "--since", "x"}, // bad time
	} {
		if _, code, err := runAudit(t, args...); code != 2 {
			t.Errorf("%v: exit %d, %v; want a usage error", args, code, err)
		}
	}
}

func TestReplayCommand(t *testing.T) {
	w := newAuditWorld(t)
	out, code, err := runAudit(t, "replay", "--config", w.config, "--no-wait", w.refused)
	if code != 0 {
		t.Fatalf("replay: exit %d, %v\n%s", code, err, out)
	}
	for _, want := range []string{
		"who:       alice@example.com (certificate serial 77, key SHA256:k)",
		"recording: verified: sessions:",
		"+00:00:00.000  session.start",
		"ALLOW (rule readonly) SELECT email FROM customers → 3 rows, 2 ms, masked email",
		// As the bastion records a denial: no rows, no time in the database.
		"DENY (rule readonly) DELETE FROM customers → 0 rows, 0 ms, error 42501",
		"REFUSED: destination is an address, not a target name",
		"session ended: client disconnected",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("replay output lacks %q:\n%s", want, out)
		}
	}
	data, _ := os.ReadFile(w.stream(w.refused))
	os.WriteFile(w.stream(w.refused), bytes.Replace(data, []byte(`"rows":3`), []byte(`"rows":0`), 1), 0o600)
	out, code, _ = runAudit(t, "replay", "--config", w.config, "--no-wait", w.refused)
	if code != 1 || !strings.Contains(out, "FAILED VERIFICATION") {
		t.Fatalf("replay of a tampered recording: exit %d\n%s", code, out)
	}
}

func TestSessionsFilters(t *testing.T) {
	w := newAuditWorld(t)
	tests := []struct {
		args []string
		want []string
	}{
		{nil, []string{w.clean, w.refused}},
		{[]string{"--outcome", "refused"}, []string{w.refused}},
		{[]string{"--outcome", "clean"}, []string{w.clean}},
		{[]string{"--outcome", "open"}, nil},
		{[]string{"--target", "orders"}, []string{w.clean}},
		{[]string{"--since", "2026-11-26T00:00:00Z", "--until", "2026-11-27T00:00:00Z"}, []string{w.clean, w.refused}},
		{[]string{"--until", "2026-11-26T00:00:00Z"}, nil},
		{[]string{"--since", "2026-11-27T00:00:00Z"}, nil},
		{[]string{"--decision", "allow"}, []string{w.refused}},
		{[]string{"--decision", "deny"}, []string{w.refused}},
		{[]string{"--denials", "yes"}, []string{w.refused}},
		{[]string{"--denials", "no"}, []string{w.clean}},
		{[]string{"--masked", "yes"}, []string{w.refused}},
		{[]string{"--masked", "no"}, []string{w.clean}},
		{[]string{"--verification", "verified"}, []string{w.clean, w.refused}},
		{[]string{"--verification", "failed"}, nil},
		{[]string{"--human", "nobody@example.com"}, nil},
		{[]string{"--role", "readonly"}, nil}, // a principal is not a database session
		{[]string{"--denials", "no", "--masked", "no", "--verification", "verified"}, []string{w.clean}},
	}
	for _, tt := range tests {
		out, code, err := runAudit(t, append([]string{"sessions", "--config", w.config}, tt.args...)...)
		if code != 0 {
			t.Fatalf("sessions %v: exit %d, %v", tt.args, code, err)
		}
		for _, id := range []string{w.clean, w.refused} {
			if strings.Contains(out, id) != auditListed(tt.want, id) {
				t.Errorf("sessions %v: listing of %s wrong:\n%s", tt.args, id, out)
			}
		}
	}
	for _, bad := range [][]string{{"--outcome", "weird"}, {"--decision", "allowed"}, {"--denials", "true"}, {"--masked", "1"},
		{"--verification", "ok"}} {
		if _, code, err := runAudit(t, append([]string{"sessions", "--config", w.config}, bad...)...); code != 2 || !strings.Contains(fmt.Sprint(err), bad[0]) {
			t.Errorf("%v: exit %d (%v), want 2 naming the flag", bad, code, err)
		}
	}
	if _, code, _ := runAudit(t, "sessions", "--dir", filepath.Join(w.dir, "recordings"), "--verification", "verified"); code != 2 {
		t.Errorf("--verification without keys: exit %d, want 2", code)
	}
	data, _ := os.ReadFile(w.stream(w.refused))
	os.WriteFile(w.stream(w.refused), bytes.Replace(data, []byte(`"rows":3`), []byte(`"rows":0`), 1), 0o600)
	for verification, want := range map[string]string{"failed": w.refused, "verified": w.clean} {
		out, code, err := runAudit(t, "sessions", "--config", w.config, "--verification", verification)
		if other := map[string]string{w.refused: w.clean, w.clean: w.refused}[want]; code != 0 || !strings.Contains(out, want) || strings.Contains(out, other) {
			t.Errorf("--verification %s after an edit: exit %d (%v)\n%s", verification, code, err, out)
		}
	}
}

func auditListed(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRecoveredSessionReported: a session a crash cut short (it ended,
// but the process died before its manifest and the ledger's mark of its
// close were written, and its last line is torn) is closed when the
// server's recorder opens, and verify and sessions say how it ended.
func TestRecoveredSessionReported(t *testing.T) {
	w := newAuditWorld(t)
	id := w.serverSession(t)
	os.Remove(strings.TrimSuffix(w.stream(id), ".jsonl") + ".manifest.json")
	w.dropLastLedgerLine(t) // the mark of its close, never written
	data, _ := os.ReadFile(w.stream(id))
	os.WriteFile(w.stream(id), data[:len(data)-10], 0o600) // the last write, torn
	w.restart(t)
	out, code, err := runAudit(t, "verify", "--config", w.config, id)
	if code != 0 {
		t.Fatalf("verify of the recovered session: exit %d, %v\n%s", code, err, out)
	}
	for _, want := range []string{"ended: " + recorder.EndRecovered, "ABNORMAL END", "a torn last line of"} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output does not say %q:\n%s", want, out)
		}
	}
	out, _, err = runAudit(t, "sessions", "--config", w.config)
	if err != nil || !strings.Contains(out, recorder.EndRecovered) {
		t.Errorf("sessions: %v\n%s", err, out)
	}
}

// TestVerifyFailsALaunderedTruncation: a closed session cut after one of
// its checkpoints, its manifest deleted, is not recovered as a crash at
// the next start, and verify and replay fail it, naming the ledger that
// saw it closed.
func TestVerifyFailsALaunderedTruncation(t *testing.T) {
	w := newAuditWorld(t)
	id := w.launderedTruncation(t)
	out, code, err := runAudit(t, "verify", "--config", w.config, id)
	if code != 1 || !strings.Contains(out, "records the stream closed with") {
		t.Fatalf("verify of a cut, closed session: exit %d, %v\n%s", code, err, out)
	}
	out, code, _ = runAudit(t, "replay", "--config", w.config, "--no-wait", id)
	if code != 1 || !strings.Contains(out, "FAILED VERIFICATION") {
		t.Fatalf("replay of a cut, closed session: exit %d\n%s", code, out)
	}
}

// launderedTruncation records a closed session, cuts it back to its
// first checkpoint, deletes its manifest and restarts the server (which
// recovers what looks like a crash), and returns its id.
func (w auditWorld) launderedTruncation(t *testing.T) string {
	t.Helper()
	id := w.serverSession(t)
	os.Remove(strings.TrimSuffix(w.stream(id), ".jsonl") + ".manifest.json")
	data, _ := os.ReadFile(w.stream(id))
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(w.stream(id), []byte(strings.Join(lines[:4], "")), 0o600) // through the first checkpoint
	w.restart(t)
	return id
}

// serverSession records a session with the recorder of gatehouse serve,
// ledger included, and returns its id.
func (w auditWorld) serverSession(t *testing.T) string {
	t.Helper()
	rec := w.restart(t)
	rec.CheckpointEvents = 3
	id := recordSession(t, rec.Recorder, "carol@example.com", "orders", []auditEvent{
		{"db.statement", map[string]any{"channel": 1, "text": "SELECT 1", "decision": "allow"}},
	})
	// The server "dies" here: its journal's lock is released, as the
	// process's end releases it, and the journal is gone, as it is once
	// its segments are recycled (or, for the lines these tests remove,
	// because they were never written): what the tests then cut from the
	// files is not completed from it.
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(recorder.JournalDir(recorder.FileStore{Dir: filepath.Join(w.dir, "recordings")})); err != nil {
		t.Fatal(err)
	}
	return id
}

// restart opens the server's recorder, as gatehouse serve does at start:
// streams a crash left open are recovered.
func (w auditWorld) restart(t *testing.T) *stack.Stack {
	t.Helper()
	cfg, err := policy.Load(w.config)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := openServerRecorder(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.CloseLedger() })
	return rec
}

// dropLastLedgerLine removes the last mark of the only ledger.
func (w auditWorld) dropLastLedgerLine(t *testing.T) {
	t.Helper()
	ledgers, _ := filepath.Glob(filepath.Join(w.dir, "recordings", recorder.KindLedger, "*.jsonl"))
	if len(ledgers) != 1 {
		t.Fatalf("ledgers %v, want one", ledgers)
	}
	data, _ := os.ReadFile(ledgers[0])
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	os.WriteFile(ledgers[0], []byte(strings.Join(lines[:len(lines)-1], "")), 0o600)
}
