package recorder

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// testKey is a fixed recorder key, so that signed test data and the fuzz
// corpus stay valid.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func testPub() ed25519.PublicKey { return testKey.Public().(ed25519.PublicKey) }

// fakeClock is a Recorder.Clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func signedRecorder(store Store, clock *fakeClock, every int) *Recorder {
	return &Recorder{Store: store, Clock: clock.now, Signer: testKey, CheckpointEvents: every}
}

// sessionEvent is one event of a made-up session.
type sessionEvent struct {
	typ   event.Type
	after time.Duration
	data  any
}

// aSession is a session as the bastion and the proxy record one.
var aSession = []sessionEvent{
	{"session.start", 0, map[string]any{"client_addr": "192.0.2.7:51000", "server_addr": "192.0.2.1:2222", "client_version": "SSH-2.0-OpenSSH_9.6"}},
	{"auth.failure", 20 * time.Millisecond, map[string]any{"method": "publickey", "user": "git", "reason": "not a certificate", "key_fingerprint": "SHA256:plainkey"}},
	{"auth.success", 30 * time.Millisecond, map[string]any{
		"method": "publickey", "user": "git", "name": "alice@example.com via agent:claude-code",
		"identity":   map[string]any{"sub": "alice", "email": "alice@example.com", "agent": "claude-code", "serial": 42},
		"principals": []string{"orders:readonly"}, "key_id": "alice@example.com via agent:claude-code",
		"serial": 42, "key_fingerprint": "SHA256:alicekey",
	}},
	{"channel.open", time.Second, map[string]any{"channel": 1, "target": "orders", "roles": []string{"readonly"}, "port": 5432}},
	{"channel.refused", 100 * time.Millisecond, map[string]any{"channel": 2, "type": "direct-tcpip", "host": "billing", "port": 5432, "reason": `no grant for target "billing"`}},
	{"db.statement", 500 * time.Millisecond, map[string]any{"channel": 1, "text": "SELECT name, email\n  FROM customers LIMIT 2", "decision": "allow", "rule": "readonly", "rows": 2, "duration_ms": 3.5, "masked": []string{"email"}}},
	{"db.statement", 2 * time.Second, map[string]any{"channel": 1, "text": "DELETE FROM customers", "decision": "deny", "rule": "readonly", "error": "42501"}},
	{"request.refused", 100 * time.Millisecond, map[string]any{"channel": 3, "type": "exec", "detail": "cat /etc/passwd", "reason": "running commands is not allowed"}},
	{"channel.close", 4 * time.Second, map[string]any{"channel": 1, "bytes_to_target": 310, "bytes_from_target": 1290}},
	{"session.end", 10 * time.Millisecond, map[string]any{"reason": "client disconnected", "duration_ms": 7770, "channels": 1}},
}

// record writes aSession to a new stream of rec and closes it.
func record(t testing.TB, rec *Recorder, clock *fakeClock) *Stream {
	t.Helper()
	return recordEvents(t, rec, clock, aSession)
}

// recordEvents writes events to a new session stream of rec and closes it.
func recordEvents(t testing.TB, rec *Recorder, clock *fakeClock, events []sessionEvent) *Stream {
	t.Helper()
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		clock.advance(e.after)
		if err := s.Emit(e.typ, e.data); err != nil {
			t.Fatal(err)
		}
	}
	clock.advance(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s
}

func decodeAll(t *testing.T, lines [][]byte) []Event {
	t.Helper()
	evs, err := VerifyChain(lines)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestCheckpointEveryNEvents(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	s, err := signedRecorder(store, clock, 3).Open(KindCA)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := s.Emit("x", i); err != nil {
			t.Fatal(err)
		}
	}
	lines, _ := store.Lines(KindCA, s.ID)
	var got []string
	for _, ev := range decodeAll(t, lines) {
		if ev.Type == event.TypeCheckpoint {
			var cp event.Checkpoint
			if err := ev.DecodeData(&cp); err != nil {
				t.Fatal(err)
			}
			if cp.Seq != ev.Seq-1 || cp.ChainHead != ev.Prev || cp.Key != Fingerprint(testPub()) {
				t.Errorf("checkpoint %d = %+v", ev.Seq, cp)
			}
		}
		got = append(got, string(ev.Type))
	}
	// A due checkpoint is written before the event that would exceed the
	// count, and none after the last event: the manifest signs those.
	want := "x x x checkpoint x x x checkpoint x x x checkpoint x"
	if strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}

func TestCheckpointEveryInterval(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	rec := signedRecorder(store, clock, 0)
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []time.Duration{0, 4 * time.Second, 5 * time.Second, time.Second, time.Minute, 0} {
		clock.advance(step)
		if err := s.Emit("x", nil); err != nil {
			t.Fatal(err)
		}
	}
	lines, _ := store.Lines(KindSession, s.ID)
	var got []string
	for _, ev := range decodeAll(t, lines) {
		got = append(got, string(ev.Type))
	}
	// At 10s the first event is 10s unsigned: a checkpoint goes before
	// the fourth. After a minute's silence, one goes before the fifth.
	want := "x x x checkpoint x checkpoint x x"
	if strings.Join(got, " ") != want {
		t.Fatalf("events %v, want %s", got, want)
	}
}

func TestCheckpointWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := FileStore{Dir: t.TempDir()}
		const interval = 20 * time.Millisecond
		rec := &Recorder{Store: store, Signer: testKey, CheckpointInterval: interval}
		s, err := rec.Open(KindSession)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.Emit("x", nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(interval - time.Nanosecond)
		synctest.Wait()
		if n := countType(t, store, s.ID, event.TypeCheckpoint); n != 0 {
			t.Fatalf("%d checkpoints before the interval, want none", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := countType(t, store, s.ID, event.TypeCheckpoint); n != 1 {
			t.Fatalf("%d checkpoints once the stream fell idle for the interval, want 1", n)
		}
		time.Sleep(time.Hour) // idle with nothing unsigned: no more
		synctest.Wait()
		if n := countType(t, store, s.ID, event.TypeCheckpoint); n != 1 {
			t.Fatalf("%d checkpoints after an idle hour, want still 1", n)
		}
	})
}

func countType(t *testing.T, store FileStore, id string, typ event.Type) int {
	t.Helper()
	lines, err := store.Lines(KindSession, id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range decodeAll(t, lines) {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

func TestManifest(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	opened := clock.now()
	s := record(t, signedRecorder(store, clock, 4), clock)
	path := filepath.Join(store.Dir, KindSession, s.ID+".manifest.json")
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("manifest file: %v, %v", info, err)
	}
	rep, err := VerifyStored(store, KindSession, s.ID, testPub())
	if err != nil {
		t.Fatal(err)
	}
	m := rep.Manifest
	lines, _ := store.Lines(KindSession, s.ID)
	n := uint64(len(lines))
	wantID := ManifestIdentity{Name: "alice@example.com via agent:claude-code", Agent: "claude-code",
		KeyID: "alice@example.com via agent:claude-code", Serial: 42, KeyFingerprint: "SHA256:alicekey"}
	switch {
	case m.Stream != s.ID || m.Kind != KindSession || m.V != SchemaVersion:
		t.Errorf("names: %+v", m)
	case m.Identity == nil || *m.Identity != wantID:
		t.Errorf("identity %+v", m.Identity)
	case m.Events != n || m.FirstSeq != 0 || m.LastSeq != n-1 || m.ChainHead != LineHash(lines[n-1]):
		t.Errorf("extent: %+v (%d lines)", m, n)
	case m.Counts["db.statement"] != 2 || m.Counts[string(event.TypeCheckpoint)] != 2 || m.Counts["session.end"] != 1:
		t.Errorf("counts %v", m.Counts)
	case m.EndReason != "client disconnected" || m.Error != "":
		t.Errorf("end %q, error %q", m.EndReason, m.Error)
	case !m.Start.Equal(opened) || !m.End.Equal(clock.now()):
		t.Errorf("times %s–%s", m.Start, m.End)
	}
	if rep.Checkpoints != 2 || rep.Signed != int(n) || rep.Events != int(n) || len(rep.Keys) != 1 {
		t.Errorf("report %+v", rep)
	}
}

func TestEmptyStreamManifest(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	s, err := signedRecorder(store, clock, 0).Open(KindCA)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyStored(store, KindCA, s.ID, testPub())
	if err != nil {
		t.Fatal(err)
	}
	if m := rep.Manifest; m.Events != 0 || m.ChainHead != GenesisHash || m.EndReason != "closed" {
		t.Fatalf("manifest %+v", m)
	}
}

func TestUnsignedRecorder(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	s := record(t, &Recorder{Store: store, Clock: clock.now, CheckpointEvents: 2}, clock)
	if n := countType(t, store, s.ID, event.TypeCheckpoint); n != 0 {
		t.Errorf("%d checkpoints without a Signer", n)
	}
	_, err := VerifyStored(store, KindSession, s.ID, testPub())
	var ve *VerifyError
	if !errors.Is(err, ErrIncomplete) || !errors.As(err, &ve) || ve.Line != len(aSession) {
		t.Fatalf("err = %v, want incomplete at the last line", err)
	}
}

func TestEmitRefusesCheckpointType(t *testing.T) {
	s, err := signedRecorder(FileStore{Dir: t.TempDir()}, newFakeClock(), 0).Open(KindCA)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Emit(event.TypeCheckpoint, event.Checkpoint{}); err == nil {
		t.Fatal("Emit accepted a forged checkpoint")
	}
}

func TestSignerMustBeEd25519(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Recorder{Store: FileStore{Dir: t.TempDir()}, Signer: k}).Open(KindCA); err == nil {
		t.Fatal("Open accepted an ECDSA signer")
	}
	if _, err := SignerPublicKey(k); err == nil || !strings.Contains(err.Error(), "must be Ed25519") {
		t.Fatalf("SignerPublicKey of an ECDSA signer: %v", err)
	}
}

// brokenAppender fails every Append after the first ok.
type brokenAppender struct {
	Appender
	ok int
}

func (a *brokenAppender) Append(line []byte) error {
	if a.ok == 0 {
		return errors.New("disk full")
	}
	a.ok--
	return a.Appender.Append(line)
}

type brokenStore struct {
	FileStore
	ok int
}

func (s brokenStore) Create(kind, id string) (Appender, error) {
	a, err := s.FileStore.Create(kind, id)
	return &brokenAppender{Appender: a, ok: s.ok}, err
}

func TestFailedAppendStopsTheStream(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	rec := signedRecorder(brokenStore{FileStore: store, ok: 2}, clock, 0)
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for i, wantErr := range []bool{false, false, true, true} {
		if err := s.Emit("x", i); (err != nil) != wantErr {
			t.Fatalf("Emit %d: %v", i, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyStored(store, KindSession, s.ID, testPub())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Manifest.Error, "disk full") || rep.Manifest.Events != 2 {
		t.Fatalf("manifest %+v", rep.Manifest)
	}
}

// TestSignedMessages pins the signed bytes docs/recording-format.md
// documents, so that they can be rebuilt by hand.
func TestSignedMessages(t *testing.T) {
	got := string(CheckpointMessage("20261126T030000Z-0a0b0c0d0e0f", 41, GenesisHash))
	want := "gatehouse-recorder checkpoint v1\n20261126T030000Z-0a0b0c0d0e0f\n41\n" + GenesisHash + "\n"
	if got != want {
		t.Errorf("checkpoint message %q", got)
	}
	if got := string(ManifestMessage([]byte(`{"v":1}`))); got != "gatehouse-recorder manifest v1\n{\"v\":1}" {
		t.Errorf("manifest message %q", got)
	}
}

func TestManifestFileIsReadable(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	s := record(t, signedRecorder(store, clock, 0), clock)
	data, err := store.Manifest(KindSession, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Manifest Manifest
		Key, Sig string
	}
	if err := json.Unmarshal(data, &file); err != nil || file.Manifest.Stream != s.ID || file.Key == "" || file.Sig == "" {
		t.Fatalf("manifest file %s: %v", data, err)
	}
}
