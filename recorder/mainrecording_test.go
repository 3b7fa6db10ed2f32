package recorder

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMainSessionReadsAlike: a session recorded by the bastion as it was
// before the recording format became package recorder/event
// (testdata/main-session, written through a real SSH connection, signed
// with testKey) still verifies, replays and summarises exactly as it did
// then (testdata/main-session.*.golden, written by that code), and its
// payloads give the same manifest identity when recorded again.
func TestMainSessionReadsAlike(t *testing.T) {
	lines, manifest := readFixture(t, "main-session")
	rep, err := Verify(lines, manifest, testPub())
	if err != nil {
		t.Fatalf("a recording written before recorder/event no longer verifies: %v", err)
	}
	events := decodeAll(t, lines)
	var out bytes.Buffer
	noWait := func(context.Context, time.Duration) error { return nil }
	if err := (Replay{Wait: noWait}).Run(context.Background(), &out, events); err != nil {
		t.Fatal(err)
	}
	golden(t, "main-session.replay.golden", out.Bytes())
	sum := Summarize(rep.Stream, lines)
	golden(t, "main-session.summary.golden", fmt.Appendf(nil, "%+v\n", sum))

	again := rerecord(t, events)
	want, got := rep.Manifest, again
	if fmt.Sprint(*want.Identity) != fmt.Sprint(*got.Identity) || want.EndReason != got.EndReason || fmt.Sprint(want.Counts) != fmt.Sprint(got.Counts) {
		t.Fatalf("recorded again, the manifest says %+v %q %v; the original %+v %q %v",
			*got.Identity, got.EndReason, got.Counts, *want.Identity, want.EndReason, want.Counts)
	}
}

func readFixture(t *testing.T, name string) (lines [][]byte, manifest []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name, "session.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err = os.ReadFile(filepath.Join("testdata", name, "session.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	return SplitLines(data), manifest
}

// rerecord emits events' payloads, as they stand, on a new stream and
// returns its manifest.
func rerecord(t *testing.T, events []Event) *Manifest {
	t.Helper()
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	var payloads []sessionEvent
	for _, ev := range events {
		payloads = append(payloads, sessionEvent{ev.Type, 0, json.RawMessage(ev.Data)})
	}
	s := recordEvents(t, signedRecorder(store, clock, 1000), clock, payloads)
	lines, err := store.Lines(KindSession, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(store.Dir, KindSession, s.ID+".manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(lines, manifest, testPub())
	if err != nil {
		t.Fatal(err)
	}
	return rep.Manifest
}
