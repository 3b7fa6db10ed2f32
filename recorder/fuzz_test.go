package recorder

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// FuzzVerifyChain feeds arbitrary recordings to the verifier: it must never
// panic, and whatever it accepts must be a well-formed chain.
func FuzzVerifyChain(f *testing.F) {
	f.Add([]byte(`{"v":1,"stream":"s","seq":0,"time":"2026-11-26T03:00:00Z","type":"x","prev":"` + GenesisHash + `"}`))
	f.Add([]byte("{}\n{}"))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := bytes.Split(data, []byte("\n"))
		events, err := VerifyChain(lines)
		if err == nil && len(events) != len(lines) {
			t.Fatalf("accepted %d lines but returned %d events", len(lines), len(events))
		}
		for i, ev := range events {
			if ev.Seq != uint64(i) {
				t.Fatalf("accepted event %d with seq %d", i, ev.Seq)
			}
		}
	})
}

// FuzzVerify feeds arbitrary streams and manifests to Verify with the
// test key trusted. It must never panic; a problem must be a *VerifyError
// naming a line that exists; and what it accepts must be wholly signed.
// testdata/fuzz/FuzzVerify holds signed recordings to mutate.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(""), []byte(nil))
	f.Add([]byte("{}"), []byte(`{"manifest":{},"key":"","sig":""}`))
	f.Fuzz(func(t *testing.T, stream, manifest []byte) {
		lines := SplitLines(stream)
		rep, err := Verify(lines, manifest, testPub())
		if err != nil {
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			if ve.Line < 0 || ve.Line > len(lines) {
				t.Fatalf("line %d of %d: %v", ve.Line, len(lines), err)
			}
			return
		}
		if rep.Manifest == nil || rep.Events != len(lines) || rep.Signed != len(lines) {
			t.Fatalf("accepted %d lines with report %+v", len(lines), rep)
		}
		if rep.Manifest.Events != uint64(len(lines)) {
			t.Fatalf("accepted a manifest of %d events for %d lines", rep.Manifest.Events, len(lines))
		}
	})
}

// FuzzAppendJSON holds the hand-written encoders to encoding/json byte
// for byte: strings (any bytes, valid UTF-8 or not), floats (NaN and the
// infinities must be refused alike), string lists and whole events.
// testdata/fuzz/FuzzAppendJSON holds the seeds.
func FuzzAppendJSON(f *testing.F) {
	f.Add("SELECT 1", 0.213, uint64(7), 1, int64(1795662000), int64(123456789))
	f.Fuzz(func(t *testing.T, s string, x float64, seq uint64, v int, sec, nsec int64) {
		checkString(t, s)
		checkFloat(t, x)
		for _, ss := range [][]string{nil, {}, strings.Split(s, ",")} {
			want, _ := Marshal(ss)
			if got := AppendJSONStrings(nil, ss); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSONStrings(%q) = %s, encoding/json gives %s", ss, got, want)
			}
		}
		ev := Event{V: v, Stream: s, Seq: seq, Time: time.Unix(sec, nsec).UTC(), Type: event.Type(s), Prev: s}
		checkEvent(t, ev)
		ev.Data, _ = Marshal(map[string]any{"s": s, "seq": seq})
		checkEvent(t, ev)
	})
}

// FuzzParsePublicKeys: whatever an auditor passes as --pubkey, the parser
// must not panic, and every key it returns must be usable.
func FuzzParsePublicKeys(f *testing.F) {
	f.Add([]byte(FormatPublicKey(testPub())))
	f.Add([]byte(`{"keys":[{"public_key":"` + FormatPublicKey(testPub()) + `"}]}`))
	f.Add([]byte("AAAAC3NzaC1lZDI1NTE5AAAAIA=="))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParsePublicKeys(data)
		for _, k := range keys {
			if len(k) != 32 {
				t.Fatalf("returned a %d-byte key (err %v)", len(k), err)
			}
		}
	})
}

// TestFuzzCorpus keeps the signed seeds in testdata/fuzz/FuzzVerify
// valid as the format evolves; -update writes them afresh.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzVerify")
	if *update {
		writeFuzzSeeds(t, dir)
	}
	for _, name := range []string{"signed-session", "signed-empty-stream"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("%v (go test -run TestFuzzCorpus -update writes it)", err)
		}
		args := bytes.SplitN(data, []byte("\n"), 4)
		if len(args) < 3 {
			t.Fatalf("%s: not a fuzz corpus file", name)
		}
		stream, err1 := unquoteBytes(args[1])
		manifest, err2 := unquoteBytes(args[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", name, err1, err2)
		}
		if _, err := Verify(SplitLines(stream), manifest, testPub()); err != nil {
			t.Errorf("seed %s no longer verifies: %v", name, err)
		}
	}
}

func writeFuzzSeeds(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	store, clock := FileStore{Dir: t.TempDir()}, newFakeClock()
	session := record(t, signedRecorder(store, clock, 4), clock)
	empty, err := signedRecorder(store, clock, 4).Open(KindSession)
	if err != nil || empty.Close() != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"signed-session": session.ID, "signed-empty-stream": empty.ID} {
		stream, _ := os.ReadFile(filepath.Join(store.Dir, KindSession, id+".jsonl"))
		manifest, _ := store.Manifest(KindSession, id)
		seed := "go test fuzz v1\n[]byte(" + strconv.Quote(string(stream)) + ")\n[]byte(" + strconv.Quote(string(manifest)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
		if name == "signed-session" {
			writeChainSeed(t, filepath.Join(filepath.Dir(dir), "FuzzVerifyChain"), stream)
		}
	}
}

func writeChainSeed(t *testing.T, dir string, stream []byte) {
	t.Helper()
	seed := "go test fuzz v1\n[]byte(" + strconv.Quote(string(bytes.TrimSuffix(stream, []byte("\n")))) + ")\n"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signed-session"), []byte(seed), 0o644); err != nil {
		t.Fatal(err)
	}
}

// unquoteBytes reads a []byte("…") line of a fuzz corpus file.
func unquoteBytes(line []byte) ([]byte, error) {
	s := string(bytes.TrimSuffix(bytes.TrimPrefix(line, []byte("[]byte(")), []byte(")")))
	u, err := strconv.Unquote(s)
	return []byte(u), err
}
