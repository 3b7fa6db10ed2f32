package recorder

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// encodeStrings are strings whose encoding/json encoding has a rule of
// its own: escapes, HTML (not escaped), JavaScript's line separators, invalid UTF-8.
var encodeStrings = []string{
	"",
	"SELECT abalance FROM pgbench_accounts WHERE aid = 1;",
	`"quoted" and \back\slashed`,
	"<script>alert('x' && 1)</script>",
	"\x00\x01\b\t\n\v\f\r\x1b\x1f \x7f",
	"line\u2028para\u2029end",
	"é ü 日本 🙂 \ufffd",
	"\xff",
	"a\xc3",            // a sequence cut short
	"\xe6\x97",         // at the end
	"\xed\xa0\x80",     // a UTF-16 surrogate
	"\xf4\x90\x80\x80", // past U+10FFFF
	"\xc0\xaf",         // overlong
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range encodeStrings {
		t.Run(strconv.Quote(s), func(t *testing.T) { checkString(t, s) })
	}
}

func checkString(t *testing.T, s string) {
	t.Helper()
	want, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendJSONString([]byte("x"), s); !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Fatalf("AppendJSONString(%q) = %s\nencoding/json gives  %s", s, got[1:], want)
	}
}

func TestAppendJSONStrings(t *testing.T) {
	for name, ss := range map[string][]string{
		"nil": nil, "empty": {}, "one": {"select"}, "several": {"public.t", "", "<&>", "\xff"},
	} {
		t.Run(name, func(t *testing.T) {
			want, _ := Marshal(ss)
			if got := AppendJSONStrings(nil, ss); !bytes.Equal(got, want) {
				t.Fatalf("AppendJSONStrings(%q) = %s, encoding/json gives %s", ss, got, want)
			}
		})
	}
}

// encodeFloats cross each of encoding/json's cutoffs between plain and
// exponent form, from both sides, and its extremes.
var encodeFloats = []float64{
	0, math.Copysign(0, -1), 0.213, 1, -1, 3.5, 100, 0.1 + 0.2,
	1e-6, math.Nextafter(1e-6, 0), 1e-7, -1e-7, 1.5e-10, 1e-100, 5e-324,
	1e20, math.Nextafter(1e21, 0), 1e21, -1e21, 1.234e22, 1e100, math.MaxFloat64,
	float64(math.MaxInt64), 9007199254740993,
}

func TestAppendJSONFloat(t *testing.T) {
	for _, f := range encodeFloats {
		checkFloat(t, f)
	}
}

func checkFloat(t *testing.T, f float64) {
	t.Helper()
	want, wantErr := json.Marshal(f)
	got, err := AppendJSONFloat(nil, f)
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("AppendJSONFloat(%v): error %v, encoding/json's %v", f, err, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("AppendJSONFloat(%v): error %q, encoding/json's %q", f, err, wantErr)
	case err == nil && !bytes.Equal(got, want):
		t.Fatalf("AppendJSONFloat(%v) = %s, encoding/json gives %s", f, got, want)
	}
}

// NaN and the infinities cannot be a statement's duration (it is whole
// microseconds), but are refused as encoding/json refuses them.
func TestAppendJSONFloatRefusesNonNumbers(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		checkFloat(t, f)
	}
}

func TestAppendEvent(t *testing.T) {
	at := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		ev   Event
	}{
		{"session start", Event{V: 1, Stream: "20261126T030000Z-6382b9c8d8b2", Time: at, Type: "session.start", Prev: GenesisHash, Data: []byte(`{"client_addr":"192.0.2.7:51000"}`)}},
		{"nanoseconds", Event{V: 1, Seq: 7, Time: at.Add(123456789), Type: "db.statement", Prev: GenesisHash, Data: []byte(`{}`)}},
		{"trailing zeros of the fraction", Event{Seq: math.MaxUint64, Time: at.Add(20 * time.Millisecond), Data: []byte(`null`)}},
		{"no data", Event{V: 1, Stream: "s", Time: at, Type: "x"}},
		{"escaped envelope", Event{V: -1, Stream: "<s>\u2028", Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Type: "\xff&", Prev: "\n", Data: []byte(`"x"`)}},
		{"year 0", Event{Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), Data: []byte(`[1,2]`)}},
		{"year 9999", Event{Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Data: []byte(`1`)}},
		{"year 10000", Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Data: []byte(`1`)}},
		{"year -1", Event{Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), Data: []byte(`1`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkEvent(t, tt.ev) })
	}
}

// checkEvent compares appendEvent with Marshal for an event whose
// Data is compact JSON (what Marshal gives a payload), including the
// payload it reports.
func checkEvent(t *testing.T, ev Event) {
	t.Helper()
	want, wantErr := Marshal(ev)
	line, payload, err := appendEvent(nil, &ev, rawPayload(ev.Data))
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("%+v: error %v, encoding/json's %v", ev, err, wantErr)
	case err == nil && !bytes.Equal(line, want):
		t.Fatalf("appendEvent = %s\nencoding/json gives %s", line, want)
	case err == nil && !bytes.Equal(payload, ev.Data):
		t.Fatalf("payload %q, want %q", payload, ev.Data)
	}
}

// TestAppendEventRecordings: the lines of a recording written by
// encoding/json (the signed fuzz seed) come out of appendEvent byte for
// byte, so recordings written before and after it chain alike.
func TestAppendEventRecordings(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerify", "signed-session"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := unquoteBytes(bytes.SplitN(data, []byte("\n"), 3)[1])
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range SplitLines(stream) {
		ev, err := Decode(line)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		got, _, err := appendEvent(nil, &ev, rawPayload(ev.Data))
		if err != nil || !bytes.Equal(got, line) {
			t.Fatalf("line %d re-encoded as %s (%v)\nwas %s", i, got, err, line)
		}
	}
}

// lines is a Store of one stream, which keeps a copy of each line.
type lines struct{ got [][]byte }

func (l *lines) Create(kind, id string) (Appender, error) { return l, nil }

func (l *lines) Append(line []byte) error {
	l.got = append(l.got, bytes.Clone(line))
	return nil
}

func (l *lines) Finish([]byte) error { return nil }

// selfEncoded is a payload that encodes itself.
type selfEncoded struct{ Text string }

func (p selfEncoded) AppendJSON(dst []byte) ([]byte, error) {
	return append(AppendJSONString(append(dst, `{"text":`...), p.Text), '}'), nil
}

// TestStreamLines: what a Stream writes, through both encoders and its
// own checkpoints, is what encoding/json writes, and a valid chain.
func TestStreamLines(t *testing.T) {
	out := &lines{}
	tick := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)
	clock := func() time.Time { tick = tick.Add(1234567 * time.Nanosecond); return tick }
	rec := &Recorder{Store: out, Clock: clock, Signer: testKey, CheckpointEvents: 3, CheckpointInterval: time.Hour}
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i, text := range append(encodeStrings, "long "+string(bytes.Repeat([]byte("x"), 2*maxKeptLine))) {
		var data any = map[string]any{"i": i, "text": text}
		if i%2 == 0 {
			data = selfEncoded{Text: text}
		}
		if err := s.Emit("x", data); err != nil {
			t.Fatal(err)
		}
	}
	for i, line := range out.got {
		ev, err := Decode(line)
		if err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want, _ := Marshal(ev); !bytes.Equal(line, want) {
			t.Fatalf("line %d: %s\nencoding/json gives %s", i, line, want)
		}
	}
	if _, err := VerifyChain(out.got); err != nil {
		t.Fatal(err)
	}
}

// TestEventReadsTheClockOnce: the clock is read once an event, the
// checkpoint that falls due before it included (the event and the
// checkpoint share the reading), and the lines still verify.
func TestEventReadsTheClockOnce(t *testing.T) {
	clock := newFakeClock()
	reads := 0
	out := &lines{}
	rec := &Recorder{Store: out, Signer: testKey, CheckpointEvents: 4, Clock: func() time.Time {
		reads++
		return clock.now()
	}}
	s, err := rec.Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	reads = 0
	const events = 20
	for i := range events {
		if err := s.Emit("test.event", i); err != nil {
			t.Fatal(err)
		}
	}
	if reads != events {
		t.Errorf("%d events (with %d checkpoints) read the clock %d times, want %d", events, events/4, reads, events)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyChain(out.got); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkStreamEmit is the envelope's cost: one event with a payload
// encoded by encoding/json, chained into a store that keeps nothing.
func BenchmarkStreamEmit(b *testing.B) {
	rec := &Recorder{Store: Discard{}, Clock: func() time.Time { return time.Date(2026, 11, 26, 3, 0, 0, 123456789, time.UTC) }}
	s, err := rec.Open(KindSession)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := struct {
		Channel int    `json:"channel"`
		Reason  string `json:"reason"`
	}{1, "client disconnected"}
	for b.Loop() {
		if err := s.Emit("channel.close", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSONString(b *testing.B) {
	s := "SELECT abalance FROM pgbench_accounts WHERE aid = 123456; -- a statement of plain ASCII"
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		buf = AppendJSONString(buf[:0], s)
	}
}

// TestLinesAreGreppable: a statement's <, > and & are written as they
// are, so that `grep 'id > 2'` finds the statement in the recording.
func TestLinesAreGreppable(t *testing.T) {
	const text = "SELECT id FROM t WHERE id > 2 AND a < b && c"
	for name, data := range map[string]any{"self-encoded": selfEncoded{Text: text}, "encoding/json": map[string]string{"text": text}} {
		t.Run(name, func(t *testing.T) {
			out := &lines{}
			s, err := (&Recorder{Store: out, Signer: testKey}).Open(KindSession)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Emit("db.statement", data); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(out.got[0], []byte(text)) {
				t.Fatalf("the line does not hold %q as it is: %s", text, out.got[0])
			}
		})
	}
}

// TestHTMLEscapedRecordingVerifies: a recording written before the
// encoder stopped escaping <, > and & (testdata/html-escaped, with
// \u003e and a signed manifest) still verifies, and reads back alike.
func TestHTMLEscapedRecordingVerifies(t *testing.T) {
	store := FileStore{Dir: "testdata"}
	const id = "html-escaped"
	lines, err := os.ReadFile(filepath.Join(store.Dir, id, "session.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(lines, []byte(`id \u003e 2`)) {
		t.Fatal("the golden recording is not HTML-escaped any more")
	}
	manifest, err := os.ReadFile(filepath.Join(store.Dir, id, "session.manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(SplitLines(lines), manifest, testPub())
	if err != nil {
		t.Fatalf("an HTML-escaped recording no longer verifies: %v", err)
	}
	events, _ := VerifyChain(SplitLines(lines))
	var st struct{ Text string }
	if err := events[1].DecodeData(&st); err != nil || st.Text != "SELECT id FROM t WHERE id > 2 AND a < b && c" {
		t.Fatalf("text %q (%v)", st.Text, err)
	}
	if rep.Manifest.Events != 5 {
		t.Fatalf("manifest of %d events", rep.Manifest.Events)
	}
}

// TestChainingAllocatesNothing: a self-encoded event is encoded, hashed
// and chained into a store that keeps nothing without an allocation; the
// chain head is a string only when a checkpoint, mark or manifest needs
// one.
func TestChainingAllocatesNothing(t *testing.T) {
	s, err := (&Recorder{Store: Discard{}, Clock: func() time.Time { return time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC) }}).Open(KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var data any = selfEncoded{Text: "SELECT abalance FROM pgbench_accounts WHERE aid = 42"}
	if n := testing.AllocsPerRun(100, func() {
		if err := s.EmitLazy("db.statement", data); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%.1f allocations per event, want 0", n)
	}
}
