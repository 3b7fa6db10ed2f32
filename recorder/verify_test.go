package recorder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// recording is one stored, signed session and the paths of its files.
type recording struct {
	store            FileStore
	id               string
	lines            [][]byte // as written
	stream, manifest string   // file paths
}

func newRecording(t *testing.T) recording {
	t.Helper()
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	s := record(t, signedRecorder(store, clock, 4), clock)
	lines, err := store.Lines(KindSession, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(store.Dir, KindSession)
	return recording{store: store, id: s.ID, lines: lines,
		stream: filepath.Join(dir, s.ID+".jsonl"), manifest: filepath.Join(dir, s.ID+".manifest.json")}
}

// Line numbers of newRecording's stream (checkpoints every 4 events):
//
//	1 session.start  2 auth.failure  3 auth.success  4 channel.open
//	5 checkpoint     6 channel.refused  7 db.statement  8 db.statement
//	9 request.refused  10 checkpoint  11 channel.close  12 session.end
const recordingLines = 12

func (r recording) writeLines(t *testing.T, lines [][]byte) {
	t.Helper()
	data := append(bytes.Join(lines, []byte("\n")), '\n')
	if err := os.WriteFile(r.stream, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (r recording) readManifest(t *testing.T) (signedManifest, Manifest) {
	t.Helper()
	data, err := os.ReadFile(r.manifest)
	if err != nil {
		t.Fatal(err)
	}
	var sm signedManifest
	var m Manifest
	if err := json.Unmarshal(data, &sm); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(sm.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	return sm, m
}

func (r recording) writeManifest(t *testing.T, sm signedManifest) {
	t.Helper()
	data, err := json.Marshal(sm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.manifest, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func clone(lines [][]byte) [][]byte {
	out := make([][]byte, len(lines))
	for i := range lines {
		out[i] = bytes.Clone(lines[i])
	}
	return out
}

// rechain rewrites lines[from:] as a forger who knows the format but not
// the key would: seq and prev made consistent again.
func rechain(t *testing.T, lines [][]byte, from int) [][]byte {
	t.Helper()
	prev := GenesisHash
	if from > 0 {
		prev = LineHash(lines[from-1])
	}
	for i := from; i < len(lines); i++ {
		ev, err := Decode(lines[i])
		if err != nil {
			t.Fatal(err)
		}
		ev.Seq, ev.Prev = uint64(i), prev
		if ev.Type == event.TypeCheckpoint { // keep the old signature; it is all a forger has
			var cp event.Checkpoint
			if err := ev.DecodeData(&cp); err != nil {
				t.Fatal(err)
			}
			cp.Seq, cp.ChainHead = ev.Seq-1, prev
			if ev.Data, err = json.Marshal(cp); err != nil {
				t.Fatal(err)
			}
		}
		if lines[i], err = json.Marshal(ev); err != nil {
			t.Fatal(err)
		}
		prev = LineHash(lines[i])
	}
	return lines
}

// resign replaces the manifest with m signed by key (nil: unsigned).
func resign(t *testing.T, r recording, m Manifest, key ed25519.PrivateKey) {
	t.Helper()
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sm := signedManifest{Manifest: body}
	if key != nil {
		sm.Key = Fingerprint(key.Public().(ed25519.PublicKey))
		sm.Sig = mustSign(key, ManifestMessage(body))
	}
	r.writeManifest(t, sm)
}

func mustSign(key ed25519.PrivateKey, msg []byte) string {
	s := &signer{key: key, fp: Fingerprint(key.Public().(ed25519.PublicKey))}
	sig, err := s.sign(msg)
	if err != nil {
		panic(err)
	}
	return sig
}

func TestVerifyIntact(t *testing.T) {
	r := newRecording(t)
	if len(r.lines) != recordingLines {
		t.Fatalf("%d lines, want %d", len(r.lines), recordingLines)
	}
	rep, err := VerifyStored(r.store, KindSession, r.id, testPub())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != recordingLines || rep.Checkpoints != 2 || rep.Manifest == nil {
		t.Fatalf("report %+v", rep)
	}
}

// TestVerifyDetectsTampering is the list: each change to a
// file-store recording makes Verify fail and name where.
func TestVerifyDetectsTampering(t *testing.T) {
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		tamper     func(t *testing.T, r recording)
		wantLine   int // 0: the manifest
		want       string
		incomplete bool
	}{
		{"edit a field", func(t *testing.T, r recording) {
			l := clone(r.lines)
			l[6] = bytes.Replace(l[6], []byte(`"rows":2`), []byte(`"rows":0`), 1)
			r.writeLines(t, l)
		}, 8, "not the hash of line 7", false},
		{"edit a field and rewrite the chain after it", func(t *testing.T, r recording) {
			l := clone(r.lines)
			l[6] = bytes.Replace(l[6], []byte(`"decision":"deny"`), []byte(`"decision":"allow"`), 1)
			if bytes.Equal(l[6], r.lines[6]) {
				l[7] = bytes.Replace(l[7], []byte(`"decision":"deny"`), []byte(`"decision":"allow"`), 1)
			}
			r.writeLines(t, rechain(t, l, 6))
		}, 10, "checkpoint signature by SHA256:", false},
		{"edit the last line", func(t *testing.T, r recording) {
			l := clone(r.lines)
			l[11] = bytes.Replace(l[11], []byte("client disconnected"), []byte("client disconnectex"), 1)
			r.writeLines(t, l)
		}, 12, "chain head", false},
		{"delete a line", func(t *testing.T, r recording) {
			l := clone(r.lines)
			r.writeLines(t, append(l[:6], l[7:]...))
		}, 7, "sequence 7 where 6", false},
		{"delete a line and renumber", func(t *testing.T, r recording) {
			l := clone(r.lines)
			r.writeLines(t, rechain(t, append(l[:6], l[7:]...), 6))
		}, 9, "checkpoint signature by SHA256:", false},
		{"swap two lines", func(t *testing.T, r recording) {
			l := clone(r.lines)
			l[6], l[7] = l[7], l[6]
			r.writeLines(t, l)
		}, 7, "sequence 7 where 6", false},
		{"truncate", func(t *testing.T, r recording) {
			r.writeLines(t, clone(r.lines)[:9])
		}, 9, "truncated", false},
		{"truncate mid-line", func(t *testing.T, r recording) {
			data, _ := os.ReadFile(r.stream)
			os.WriteFile(r.stream, data[:len(data)-20], 0o600)
		}, 12, "cut short", false},
		{"append an event", func(t *testing.T, r recording) {
			l := clone(r.lines)
			l = append(l, bytes.Clone(l[6]))
			r.writeLines(t, rechain(t, l, 12))
		}, 13, "added after the stream was closed", false},
		{"replace the manifest, signed with another key", func(t *testing.T, r recording) {
			_, m := r.readManifest(t)
			resign(t, r, m, otherKey)
		}, 0, "not a trusted recorder key", false},
		{"truncate and replace the manifest, signed with another key", func(t *testing.T, r recording) {
			r.writeLines(t, clone(r.lines)[:9])
			_, m := r.readManifest(t)
			m.Events, m.LastSeq, m.ChainHead = 9, 8, LineHash(r.lines[8])
			resign(t, r, m, otherKey)
		}, 0, "not a trusted recorder key", false},
		{"replace the manifest, unsigned", func(t *testing.T, r recording) {
			_, m := r.readManifest(t)
			resign(t, r, m, nil)
		}, 0, "not signed", false},
		{"edit the manifest", func(t *testing.T, r recording) {
			sm, _ := r.readManifest(t)
			sm.Manifest = bytes.Replace(sm.Manifest, []byte("client disconnected"), []byte("idle timeout"), 1)
			r.writeManifest(t, sm)
		}, 0, "does not verify", false},
		{"forge a checkpoint signature", func(t *testing.T, r recording) {
			l := clone(r.lines)
			ev, _ := Decode(l[4])
			var cp event.Checkpoint
			ev.DecodeData(&cp)
			cp.Sig = mustSign(otherKey, CheckpointMessage(ev.Stream, cp.Seq, cp.ChainHead))
			ev.Data, _ = json.Marshal(cp)
			l[4], _ = json.Marshal(ev)
			r.writeLines(t, rechain(t, l, 4))
		}, 5, "does not verify", false},
		{"remove the manifest", func(t *testing.T, r recording) {
			os.Remove(r.manifest)
		}, 12, "not closed", true},
		{"truncate and remove the manifest", func(t *testing.T, r recording) {
			r.writeLines(t, clone(r.lines)[:9])
			os.Remove(r.manifest)
		}, 9, "cover the first 4", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecording(t)
			tt.tamper(t, r)
			_, err := VerifyStored(r.store, KindSession, r.id, testPub())
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *VerifyError", err)
			}
			if ve.Line != tt.wantLine || !strings.Contains(ve.Error(), tt.want) || ve.Incomplete != tt.incomplete ||
				errors.Is(err, ErrIncomplete) != tt.incomplete {
				t.Fatalf("err = %v (line %d, incomplete %v), want line %d %q, incomplete %v", err, ve.Line, ve.Incomplete, tt.wantLine, tt.want, tt.incomplete)
			}
		})
	}
}

// TestVerifyDetectsSwappedRecordings: a whole recording, manifest and
// all, copied over another is the other stream, not this one.
func TestVerifyDetectsSwappedRecordings(t *testing.T) {
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	rec := signedRecorder(store, clock, 0)
	a, b := record(t, rec, clock), record(t, rec, clock)
	dir := filepath.Join(store.Dir, KindSession)
	for _, suffix := range []string{".jsonl", ".manifest.json"} {
		data, err := os.ReadFile(filepath.Join(dir, b.ID+suffix))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, a.ID+suffix), data, 0o600)
	}
	if _, err := VerifyStored(store, KindSession, a.ID, testPub()); err == nil || !strings.Contains(err.Error(), "is stream "+b.ID) {
		t.Fatalf("err = %v", err)
	}
	// The same with the manifest removed: not merely incomplete.
	os.Remove(filepath.Join(dir, a.ID+".manifest.json"))
	if _, err := VerifyStored(store, KindSession, a.ID, testPub()); err == nil || errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "is stream "+b.ID) {
		t.Fatalf("without its manifest: err = %v", err)
	}
	// Only the manifest copied over: it is another stream's.
	c := record(t, rec, clock)
	data, _ := os.ReadFile(filepath.Join(dir, b.ID+".manifest.json"))
	os.WriteFile(filepath.Join(dir, c.ID+".manifest.json"), data, 0o600)
	if _, err := VerifyStored(store, KindSession, c.ID, testPub()); err == nil || !strings.Contains(err.Error(), "manifest of stream "+b.ID) {
		t.Fatalf("err = %v", err)
	}
}

func TestVerifyNeedsAKey(t *testing.T) {
	r := newRecording(t)
	if _, err := VerifyStored(r.store, KindSession, r.id); err == nil {
		t.Fatal("verified without a key")
	}
}

func TestVerifyAcceptsRotatedKeys(t *testing.T) {
	r := newRecording(t)
	other, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := VerifyStored(r.store, KindSession, r.id, other, testPub()); err != nil {
		t.Fatal(err)
	}
}
