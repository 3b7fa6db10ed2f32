package recorder

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// halfLines cuts a stream's bytes into the writes of a writer whose every
// write but the last ends in the middle of a line, as a journaled
// stream's one write per commit looks to a reader while the kernel is
// still copying it.
func halfLines(data []byte) [][]byte {
	var writes [][]byte
	from := 0 // where the next write starts
	for line := 0; line < len(data); {
		end := line + bytes.IndexByte(data[line:], '\n') + 1
		mid := (line + end) / 2
		writes = append(writes, data[from:mid])
		from, line = mid, end
	}
	return append(writes, data[from:])
}

// TestReadingAStreamWhileItIsWritten: a reader of an open stream (the
// console, `gatehouse sessions`, `verify` on the spool) reads a chain
// that verifies at every moment, however the writer's writes fall
// across lines; once the stream is closed it reads all of it.
func TestReadingAStreamWhileItIsWritten(t *testing.T) {
	r := newRecording(t)
	whole, manifest := readFile(t, r.stream), readFile(t, r.manifest)
	store := FileStore{Dir: t.TempDir()}
	dir := filepath.Join(store.Dir, KindSession)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, r.id+".jsonl"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	writes := halfLines(whole)
	written := make(chan struct{}) // one token a write, for the reader to read after it
	closed := make(chan error, 1)
	stop := make(chan struct{}) // the reader failed
	defer close(stop)
	go func() {
		defer close(written)
		for _, w := range writes {
			if _, err := f.Write(w); err != nil {
				closed <- err
				return
			}
			select {
			case written <- struct{}{}:
			case <-stop:
				f.Close()
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
		err := f.Close()
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, r.id+".manifest.json"), manifest, 0o600)
		}
		closed <- err
	}()
	reads, longest := 0, 0
	for range written { // a read after every write, while the writer sleeps
		lines, err := store.Lines(KindSession, r.id)
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		if _, err := VerifyChain(lines); err != nil {
			t.Fatalf("read %d, while the stream is written: %v", reads, err)
		}
		reads, longest = reads+1, max(longest, len(lines))
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if reads < len(writes) {
		t.Fatalf("%d reads, fewer than the %d writes", reads, len(writes))
	}
	rep, err := VerifyStored(store, KindSession, r.id, testPub())
	if err != nil {
		t.Fatalf("closed: %v", err)
	}
	if rep.Events != recordingLines {
		t.Fatalf("closed: %d events, want %d", rep.Events, recordingLines)
	}
	t.Logf("%d writes, %d reads, up to %d lines seen while open", len(writes), reads, longest)
}

// TestLinesKeepsAClosedStreamsLastFragment: only an open stream's last
// line may be one still being written. A closed stream (its manifest is
// written after its file is whole) that ends in part of a line was cut or
// added to, and verify says so.
func TestLinesKeepsAClosedStreamsLastFragment(t *testing.T) {
	tests := []struct {
		name     string
		closed   bool
		fragment string
		want     int    // lines Lines returns
		verify   string // VerifyStored's error, "" for none
	}{
		{"open, whole lines", false, "", recordingLines, "not closed"},
		{"open, part of a line", false, `{"v":1,"seq":12,"ty`, recordingLines, "not closed"},
		{"closed, whole lines", true, "", recordingLines, ""},
		{"closed, part of a line", true, `{"v":1,"seq":12,"ty`, recordingLines + 1, "line 13"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecording(t)
			if !tt.closed {
				if err := os.Remove(r.manifest); err != nil {
					t.Fatal(err)
				}
			}
			appendTo(t, r.stream, tt.fragment)
			lines, err := r.store.Lines(KindSession, r.id)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != tt.want {
				t.Fatalf("%d lines, want %d", len(lines), tt.want)
			}
			_, err = VerifyStored(r.store, KindSession, r.id, testPub())
			if tt.verify == "" && err != nil || tt.verify != "" && (err == nil || !strings.Contains(err.Error(), tt.verify)) {
				t.Fatalf("verify: %v, want %q", err, tt.verify)
			}
		})
	}
}

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// closedDuringRead is newRecording's stream still open, its last line
// half written, in a store whose first read of the stream's file closes
// it (finishes the line, writes the manifest) once the file is read.
func closedDuringRead(t *testing.T) (recording, FileStore) {
	t.Helper()
	r := newRecording(t)
	whole, manifest := readFile(t, r.stream), readFile(t, r.manifest)
	cut := len(whole) - 20 // in the last line
	if err := errors.Join(os.Remove(r.manifest), os.WriteFile(r.stream, whole[:cut], 0o600)); err != nil {
		t.Fatal(err)
	}
	store, once := r.store, false
	store.readStream = func(path string) ([]byte, error) {
		data, err := os.ReadFile(path)
		if !once {
			once = true
			appendTo(t, r.stream, string(whole[cut:]))
			if err := os.WriteFile(r.manifest, manifest, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return data, err
	}
	return r, store
}

// TestLinesLooksForTheManifestFirst: a stream closed while its file is
// being read was open when the read began, and may end in part of a line
// the closing completed; only a manifest found before the read says the
// file read is whole.
func TestLinesLooksForTheManifestFirst(t *testing.T) {
	r, store := closedDuringRead(t)
	lines, err := store.Lines(KindSession, r.id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyChain(lines); err != nil {
		t.Fatalf("a stream closed during the read: %v", err)
	}
	if len(lines) != recordingLines-1 {
		t.Fatalf("%d lines, want the %d whole before the read", len(lines), recordingLines-1)
	}
	// Read again, it is closed and whole.
	if _, err := VerifyStored(store, KindSession, r.id, testPub()); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyLooksForTheManifestFirst: verify reads a stream closed while
// it is read as the open stream it was (incomplete), not as lines short
// of the manifest written after them.
func TestVerifyLooksForTheManifestFirst(t *testing.T) {
	r, store := closedDuringRead(t)
	rep, err := VerifyStored(store, KindSession, r.id, testPub())
	if !errors.Is(err, ErrIncomplete) || rep.Events != recordingLines-1 {
		t.Fatalf("verify: %v, %d events; want incomplete, %d events", err, rep.Events, recordingLines-1)
	}
	if _, err := VerifyStored(store, KindSession, r.id, testPub()); err != nil {
		t.Fatalf("verified again: %v", err)
	}
}
