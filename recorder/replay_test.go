package recorder

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("output differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func TestReplayTimeline(t *testing.T) {
	r := newRecording(t)
	events := decodeAll(t, r.lines)
	var waits []time.Duration
	var out bytes.Buffer
	rp := Replay{Speed: 2, Wait: func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}}
	if err := rp.Run(context.Background(), &out, events); err != nil {
		t.Fatal(err)
	}
	golden(t, "replay.golden", out.Bytes())
	var total, want time.Duration
	for _, w := range waits {
		total += w
	}
	for _, e := range aSession {
		want += e.after
	}
	if total != want/2 {
		t.Fatalf("waited %s in all, want %s (half of %s at speed 2)", total, want/2, want)
	}
}

func TestReplayStopsWithContext(t *testing.T) {
	r := newRecording(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := (Replay{}).Run(ctx, &out, decodeAll(t, r.lines)); err == nil {
		t.Fatal("replay ran on after its context ended")
	}
}

func TestDescribeUnknownEvent(t *testing.T) {
	ev := Event{Type: "cert.issued", Data: []byte(`{"serial":7}`)}
	if got := Describe(ev); got != `cert.issued {"serial":7}` {
		t.Fatalf("Describe = %q", got)
	}
	ev = Event{Type: "channel.open", Data: []byte(`"not an object"`)}
	if got := Describe(ev); got != `channel.open "not an object"` {
		t.Fatalf("Describe = %q", got)
	}
}

// TestDescribeCutText: a statement whose text was cut to its first bytes
// says so in the timeline, with the whole text's length and hash.
func TestDescribeCutText(t *testing.T) {
	got := Describe(Event{Type: "db.statement", Data: []byte(`{"channel":1,"text":"SELECT 'aaa","text_bytes":70000,"text_sha256":"ab12","decision":"allow"}`)})
	if want := "channel 1: ALLOW SELECT 'aaa … [cut: 70000 bytes in all, sha256 ab12]"; got != want {
		t.Fatalf("Describe = %q, want %q", got, want)
	}
}
