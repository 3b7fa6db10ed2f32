package recorder

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// crashedStream writes a stream of n events and leaves it as a killed
// process does: open, unlocked (the file is closed), no manifest.
func crashedStream(t *testing.T, rec *Recorder, store FileStore, n int) string {
	t.Helper()
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := s.Emit("test.event", map[string]int{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	s.timer.Stop()
	s.out.(*fileAppender).f.Close()
	return s.ID
}

func TestRecoverClosesCrashedStreams(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	rec := ledgeredRecorder(t, store, newFakeClock(), 3)
	whole := crashedStream(t, rec, store, 5)
	torn := crashedStream(t, rec, store, 4)
	path := filepath.Join(store.Dir, KindSession, torn+".jsonl")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	tail := `{"v":1,"stream":"` + torn + `","seq":5,"ti` // the write the kill cut short
	f.WriteString(tail)
	f.Close()
	live, err := rec.Open(KindSession) // a stream this process still writes
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	done, err := rec.Recover(store, KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 2 {
		t.Fatalf("recovered %d streams, want the 2 crashed ones (not the live one): %+v", len(done), done)
	}
	for _, tc := range []struct {
		id        string
		events    uint64
		tornBytes int
	}{{whole, 6, 0}, {torn, 5, len(tail)}} { // a checkpoint after the third event
		rep, err := VerifyStoredWith(store, readLedgers(t, store), KindSession, tc.id, testPub())
		if err != nil {
			t.Fatalf("verify recovered %s: %v", tc.id, err)
		}
		m := rep.Manifest
		if m.EndReason != EndRecovered || m.Recovered == nil || m.Events != tc.events {
			t.Fatalf("manifest of %s = %+v, want %s with %d events", tc.id, m, EndRecovered, tc.events)
		}
		if m.Recovered.TornTailBytes != tc.tornBytes || (tc.tornBytes > 0) != (m.Recovered.TornTailSHA256 != "") {
			t.Errorf("%s: torn tail %d bytes (%q), want %d", tc.id, m.Recovered.TornTailBytes, m.Recovered.TornTailSHA256, tc.tornBytes)
		}
		if m.Recovered.Ledger != rec.marks.ID {
			t.Errorf("%s: recovered as ledger %q had it, want %s", tc.id, m.Recovered.Ledger, rec.marks.ID)
		}
		if m.Recovered.Checkpointed != 3 {
			t.Errorf("%s: %d events checkpointed before the crash, want 3", tc.id, m.Recovered.Checkpointed)
		}
	}
	if again, err := rec.Recover(store, KindSession); err != nil || len(again) != 0 {
		t.Errorf("second Recover = %v, %v; want nothing to do", again, err)
	}
}

func TestRecoverLeavesTamperingForVerify(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	rec := ledgeredRecorder(t, store, newFakeClock(), 100)
	id := crashedStream(t, rec, store, 4)
	path := filepath.Join(store.Dir, KindSession, id+".jsonl")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(data), `"i":1`, `"i":9`, 1)), 0o600)

	_, err := rec.Recover(store, KindSession)
	if err == nil || !strings.Contains(err.Error(), "not a crash's damage") {
		t.Fatalf("Recover of an edited stream = %v, want it refused", err)
	}
	if _, err := store.Manifest(KindSession, id); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an edited stream got a manifest: %v", err)
	}
}

// ledgeredRecorder is a signed recorder with a ledger, as gatehouse
// serve's.
func ledgeredRecorder(t *testing.T, store Store, clock *fakeClock, every int) *Recorder {
	t.Helper()
	rec := signedRecorder(store, clock, every)
	if err := rec.OpenLedger(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rec.CloseLedger() })
	return rec
}

func readLedgers(t *testing.T, store FileStore) *Ledgers {
	t.Helper()
	l, err := ReadLedgers(store, testPub())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// cutAfter keeps the first n lines of a stored stream.
func cutAfter(t *testing.T, store FileStore, id string, n int) {
	t.Helper()
	lines, err := store.Lines(KindSession, id)
	if err != nil || len(lines) <= n {
		t.Fatalf("%d lines, %v", len(lines), err)
	}
	var kept []byte
	for _, l := range lines[:n] {
		kept = append(append(kept, l...), '\n')
	}
	if err := os.WriteFile(filepath.Join(store.Dir, KindSession, id+".jsonl"), kept, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRecoveryDoesNotLaunderTruncation: a stream cut after one of its
// checkpoints, with its manifest deleted, is not closed by Recover as a
// crash's, and verify fails it, whether it had been closed (the ledger
// marked its close) or was cut while it was open (the ledger marked a
// later checkpoint), and when no ledger registers it at all.
func TestRecoveryDoesNotLaunderTruncation(t *testing.T) {
	tests := []struct {
		name   string
		closed bool
		cut    int    // lines kept: through the first checkpoint (line 5 of aSession with every 4)
		wipe   string // what is done to the ledger too: "delete", "cut" its last mark
		want   string // in verify's error
	}{
		{"closed, cut after a checkpoint", true, 5, "", "closed with"},
		{"closed, cut to nothing but the first event", true, 1, "", "closed with"},
		{"open, cut before its last durable checkpoint", false, 5, "", "truncated: ledger"},
		{"closed, cut, and the ledger deleted", true, 5, "delete", "incomplete"},
		{"closed, cut, and its close cut from the closed ledger", true, 5, "cut", "does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
			rec := ledgeredRecorder(t, store, clock, 4)
			var id string
			if tt.closed {
				id = record(t, rec, clock).ID
				os.Remove(filepath.Join(store.Dir, KindSession, id+".manifest.json"))
			} else {
				id = crashedStream(t, rec, store, 10) // checkpoints at seq 4 and 9
			}
			cutAfter(t, store, id, tt.cut)
			switch tt.wipe {
			case "delete":
				rec.CloseLedger()
				os.RemoveAll(filepath.Join(store.Dir, KindLedger))
			case "cut":
				rec.CloseLedger()
				ledger := filepath.Join(store.Dir, KindLedger, rec.marks.ID+".jsonl")
				data, _ := os.ReadFile(ledger)
				lines := SplitLines(data)
				if ev, _ := Decode(lines[len(lines)-1]); ev.Type != event.TypeStreamClosed {
					t.Fatalf("the ledger ends with %s", ev.Type)
				}
				os.WriteFile(ledger, append(bytes.Join(lines[:len(lines)-1], []byte("\n")), '\n'), 0o600)
			}
			done, err := signedRecorder(store, clock, 4).Recover(store, KindSession)
			if len(done) != 0 || err == nil {
				t.Fatalf("Recover closed %+v (%v): a cut stream laundered as a crash", done, err)
			}
			_, err = VerifyStoredWith(store, readLedgers(t, store), KindSession, id, testPub())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("verify = %v, want an error saying %q", err, tt.want)
			}
			if tt.wipe != "delete" && errors.Is(err, ErrIncomplete) {
				t.Fatalf("verify calls it incomplete, not failed: %v", err)
			}
		})
	}
}

// TestVerifyNeedsTheLedgerOfARecovery: a stream recovered as a crash
// names the ledger that showed it; without that ledger, verify cannot
// tell that only the unsigned tail was lost, and does not verify it.
func TestVerifyNeedsTheLedgerOfARecovery(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	rec := ledgeredRecorder(t, store, clock, 3)
	id := crashedStream(t, rec, store, 5)
	if done, err := rec.Recover(store, KindSession); err != nil || len(done) != 1 {
		t.Fatalf("Recover = %+v, %v", done, err)
	}
	if _, err := VerifyStoredWith(store, readLedgers(t, store), KindSession, id, testPub()); err != nil {
		t.Fatalf("verify with the ledger: %v", err)
	}
	rec.CloseLedger()
	os.RemoveAll(filepath.Join(store.Dir, KindLedger))
	_, err := VerifyStoredWith(store, readLedgers(t, store), KindSession, id, testPub())
	if err == nil || !strings.Contains(err.Error(), "not here") || !errors.Is(err, ErrIncomplete) {
		t.Fatalf("verify without the ledger = %v, want it incomplete, not verified", err)
	}
}

// TestLedgersOpened: Opened lists the streams of one kind the ledger
// registered, in opening order, each with the ledger and the seq of its
// stream.open line, whether or not the store still holds the stream.
func TestLedgersOpened(t *testing.T) {
	store := FileStore{Dir: t.TempDir()}
	rec := ledgeredRecorder(t, store, newFakeClock(), 100)
	var ids []string
	for _, kind := range []string{KindSession, KindCA, KindSession} {
		s, err := rec.Open(kind)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if kind == KindSession {
			ids = append(ids, s.ID)
		}
	}
	if err := os.Remove(filepath.Join(store.Dir, KindSession, ids[0]+".jsonl")); err != nil {
		t.Fatal(err)
	}
	ledgers, err := store.List(KindLedger)
	if err != nil || len(ledgers) != 1 {
		t.Fatalf("ledgers %v, %v", ledgers, err)
	}
	lines, err := store.Lines(KindLedger, ledgers[0])
	if err != nil {
		t.Fatal(err)
	}
	got := readLedgers(t, store).Opened(KindSession)
	if len(got) != len(ids) {
		t.Fatalf("opened %+v, want %v", got, ids)
	}
	for i, op := range got {
		ev, err := Decode(lines[op.Seq])
		if err != nil {
			t.Fatal(err)
		}
		if op.Stream != ids[i] || op.Ledger != ledgers[0] || ev.Type != event.TypeStreamOpen || !strings.Contains(string(lines[op.Seq]), ids[i]) || !op.Time.Equal(ev.Time) {
			t.Errorf("opening %d: %+v, ledger line %s", i, op, lines[op.Seq])
		}
	}
}
