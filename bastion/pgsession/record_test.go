package pgsession

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestStatementRecordsEncodeAsJSON: db.decision and db.statement encode
// themselves exactly as encoding/json encodes them, field by field and
// with each omitempty.
func TestStatementRecordsEncodeAsJSON(t *testing.T) {
	full, _ := benchStatement("SELECT '<&>' || $1 -- \u2028\xff\n")
	tests := map[string]struct {
		dec dbDecision
		st  dbStatement
	}{
		"zero": {},
		"empty lists": {dbDecision{Kinds: []string{}, Relations: []string{}, Functions: []string{}},
			dbStatement{Kinds: []string{}, Relations: []string{}, Functions: []string{}, Masked: []string{}, Parameters: []any{}}},
		"every field": {
			dbDecision{Channel: 3, Text: full.Text, TextBytes: 70000, TextSHA256: "ab", Extended: true, Statement: "s1", Params: 2, Kinds: []string{"select"},
				Relations: []string{"public.t", "\"q\".r"}, Functions: []string{"pg_catalog.now"}, Decision: "allow", Rule: "r"},
			dbStatement{Channel: 3, Text: full.Text, TextBytes: 70000, TextSHA256: "ab", Extended: true, Statement: "s1", Portal: "p", Params: 5,
				Parameters: recordedParameters([]pgwire.Parameter{{Value: []byte("<a>")}, {}, {Value: []byte{0xff}}, {Value: []byte{1}, Binary: true}, {Value: []byte{}}}),
				Kinds:      []string{"select"}, Relations: []string{"public.t"}, Functions: []string{"f"}, Decision: "deny", Rule: "r",
				Outcome: "error", SkippedAlso: 3, Rows: -1, Tag: "SELECT 0", Bytes: math.MaxInt64, DurationMS: 1234.567, Error: "42501",
				Masked: []string{"email: mask_email (column public.users.email)"}},
		},
		"negative":      {dbDecision{Channel: -1, Params: -1}, dbStatement{Channel: math.MinInt, Rows: math.MinInt64, Bytes: -1, DurationMS: -0.001}},
		"tiny duration": {st: dbStatement{DurationMS: 1e-7}},
		"huge duration": {st: dbStatement{DurationMS: 1e21}},
		"pgbench":       {full, dbStatement{}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			checkRecordJSON(t, tt.dec)
			checkRecordJSON(t, tt.st)
		})
	}
	// A field added to a record but not to its AppendJSON is caught only
	// if a case sets it.
	requireEveryField(t, tests["every field"].dec)
	requireEveryField(t, tests["every field"].st)
}

func requireEveryField(t *testing.T, rec any) {
	t.Helper()
	v := reflect.ValueOf(rec)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("the every-field case leaves %T.%s unset", rec, v.Type().Field(i).Name)
		}
	}
}

// checkRecordJSON compares a record's AppendJSON with recorder.Marshal,
// errors included.
func checkRecordJSON(t *testing.T, rec interface{ AppendJSON([]byte) ([]byte, error) }) {
	t.Helper()
	want, wantErr := recorder.Marshal(rec)
	got, err := rec.AppendJSON([]byte("x"))
	switch {
	case (err != nil) != (wantErr != nil):
		t.Fatalf("%+v: error %v, encoding/json's %v", rec, err, wantErr)
	case err == nil && (got[0] != 'x' || !bytes.Equal(got[1:], want)):
		t.Fatalf("AppendJSON gives %s\nencoding/json gives %s", got[1:], want)
	}
}

// A duration is whole microseconds and cannot be NaN or infinite, but if
// one were, the record is refused as encoding/json would refuse it.
func TestStatementRecordRefusesNonNumbers(t *testing.T) {
	for _, d := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := (dbStatement{DurationMS: d}).AppendJSON(nil); err == nil {
			t.Errorf("duration %v encoded", d)
		}
	}
}

// FuzzStatementRecord holds db.decision's and db.statement's encoders to
// encoding/json's for any text, names, lists, numbers and bind values;
// testdata/fuzz/FuzzStatementRecord holds the seeds.
func FuzzStatementRecord(f *testing.F) {
	f.Add("SELECT 1", "s1", "select,public.t", 1, int64(1), 0.213, true, []byte("héllo\x00\xff"))
	f.Fuzz(func(t *testing.T, text, name, list string, channel int, n int64, ms float64, extended bool, value []byte) {
		lists := fuzzLists(list)
		dec := dbDecision{Channel: channel, Text: text, Extended: extended, Statement: name, Params: int(n),
			Kinds: lists[0], Relations: lists[1], Functions: lists[2], Decision: event.Decision(text), Rule: name}
		checkRecordJSON(t, dec)
		st := dbStatement{Channel: channel, Text: text, Extended: extended, Statement: name, Portal: text, Params: channel,
			Parameters: fuzzParameters(value), Kinds: lists[0], Relations: lists[1], Functions: lists[2], Decision: event.Decision(name),
			Rule: text, Outcome: name, Rows: n, Tag: text, Bytes: -n, DurationMS: ms, Error: name, Masked: lists[3]}
		checkRecordJSON(t, st)
	})
}

// fuzzLists makes lists of every shape from one string: nil, empty, and
// its comma-separated parts.
func fuzzLists(s string) [4][]string {
	parts := strings.Split(s, ",")
	if s == "" {
		return [4][]string{nil, {}, parts, nil}
	}
	return [4][]string{parts, parts[1:], nil, parts}
}

// fuzzParameters makes bind values of every kind from one value: none
// kept when it is empty, else it as text and as binary, a NULL and an
// empty string.
func fuzzParameters(v []byte) []any {
	if len(v) == 0 {
		return nil
	}
	return recordedParameters([]pgwire.Parameter{{Value: v}, {Value: v, Binary: true}, {}, {Value: []byte{}}})
}

// BenchmarkRecordStatementEvents is the recorder's share of one allowed
// pgbench -S statement: its db.decision (Emit) and its db.statement
// (EmitLazy), encoded, hash-chained and signed at checkpoints, into a
// store that keeps nothing, so that only the CPU is measured.
func BenchmarkRecordStatementEvents(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	rec := &recorder.Recorder{Store: recorder.Discard{}, Signer: key}
	s, err := rec.Open(recorder.KindSession)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := mrand.New(mrand.NewPCG(1, 2))
	for b.Loop() {
		text := fmt.Sprintf("SELECT abalance FROM pgbench_accounts WHERE aid = %d;", 1+r.IntN(1_000_000))
		dec, st := benchStatement(text)
		if err := s.Emit(event.TypeDBDecision, dec); err != nil {
			b.Fatal(err)
		}
		if err := s.EmitLazy(event.TypeDBStatement, st); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStatement is the pair of records of one pgbench -S statement.
func benchStatement(text string) (dbDecision, dbStatement) {
	kinds, rels := []string{"select"}, []string{"public.pgbench_accounts"}
	dec := dbDecision{Channel: 1, Text: text, Kinds: kinds, Relations: rels, Decision: "allow", Rule: "allow:select"}
	st := dbStatement{Channel: 1, Text: text, Kinds: kinds, Relations: rels, Decision: "allow", Rule: "allow:select",
		Outcome: "ok", Rows: 1, Tag: "SELECT 1", Bytes: 40, DurationMS: 0.213}
	return dec, st
}

// maxStatementRecord is the largest db.statement payload a client can
// make gatehouse write (docs/recording-format.md, "Bounds").
const maxStatementRecord = 2 << 20

// TestStatementRecordIsBounded: a client that sends the largest of
// everything (a 16 MiB statement of control characters, each escaped as
// six bytes; huge names; thousands of long bind values, relations and
// masked columns) gets a record below maxStatementRecord, holding the
// whole text's length and hash, that reads back and verifies.
func TestStatementRecordIsBounded(t *testing.T) {
	worst := strings.Repeat("\x01", pgwire.DefaultMaxMessageSize)
	entry := strings.Repeat("\x01", 4<<10)
	list := make([]string, 1000)
	kinds := make([]sqlkind.Kind, 1000)
	params := make([]pgwire.Parameter, 1000)
	for i := range list {
		list[i] = entry
		kinds[i] = sqlkind.Kind(entry)
		params[i] = pgwire.Parameter{Value: []byte(entry)}
	}
	ev := pgwire.StatementEvent{SQL: worst, Extended: true, StatementName: worst, Portal: worst, ParamCount: len(params),
		Parameters: params, Rewritten: list, Outcome: pgwire.OutcomeOK,
		Detail: &statementDetail{Kinds: kinds, Relations: list, Functions: list, Rule: worst, Allow: true}}
	rec := statementRecord(1, ev)
	payload, err := rec.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(payload) > maxStatementRecord {
		t.Fatalf("a db.statement of %d bytes, more than %d", len(payload), maxStatementRecord)
	}
	sum := sha256.Sum256([]byte(worst))
	if rec.TextBytes != len(worst) || rec.TextSHA256 != hex.EncodeToString(sum[:]) || len(rec.Text) != maxRecordedText {
		t.Fatalf("text of %d bytes recorded as %d bytes, text_bytes %d", len(worst), len(rec.Text), rec.TextBytes)
	}
	store := recorder.FileStore{Dir: t.TempDir()}
	_, priv, _ := ed25519.GenerateKey(nil)
	s, err := (&recorder.Recorder{Store: store, Signer: priv}).Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Emit(event.TypeDBStatement, rec); err != nil || s.Close() != nil {
		t.Fatal(err)
	}
	if _, err := recorder.VerifyStored(store, recorder.KindSession, s.ID, priv.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
}

// TestStatementTextCut: a text longer than maxRecordedText is cut at a
// character, never inside one; a shorter one is kept whole.
func TestStatementTextCut(t *testing.T) {
	text, n, sum := recordedText("SELECT 1")
	if text != "SELECT 1" || n != 0 || sum != "" {
		t.Fatalf("a short text recorded as %q, %d, %q", text, n, sum)
	}
	long := strings.Repeat("x", maxRecordedText-1) + "日本"
	text, n, _ = recordedText(long)
	if text != long[:maxRecordedText-1] || n != len(long) {
		t.Fatalf("cut to %d bytes, text_bytes %d", len(text), n)
	}
}

// TestObserveRecordsOutcome: each statement's outcome is recorded as
// db.statement through RecordOutcome (its decision was durable before it
// ran, so the outcome is not waited for), logged at debug when allowed
// and as a warning when denied.
func TestObserveRecordsOutcome(t *testing.T) {
	tests := []struct {
		name     string
		ev       pgwire.StatementEvent
		decision event.Decision
		level    slog.Level
	}{
		{"allowed", pgwire.StatementEvent{SQL: "SELECT 1", Outcome: pgwire.OutcomeOK, Detail: &statementDetail{Allow: true}}, "allow", slog.LevelDebug},
		{"denied", pgwire.StatementEvent{SQL: "DELETE FROM t", Outcome: pgwire.OutcomeDenied, Detail: &statementDetail{}}, "deny", slog.LevelWarn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := &memConn{}
			// Config.Statement hears of the outcome too (metrics).
			var heard []string
			p := &Proxy{cfg: Config{Statement: func(decision string, took time.Duration) {
				heard = append(heard, fmt.Sprint(decision, " ", took))
			}}}
			tt.ev.Duration = 3 * time.Millisecond
			(&pgSession{p: p, conn: conn, channel: 4}).observe(tt.ev)
			if want := []string{string(tt.decision) + " 3ms"}; !slices.Equal(heard, want) {
				t.Errorf("Config.Statement heard %q, want %q", heard, want)
			}
			if len(conn.events) != 1 {
				t.Fatalf("recorded %d events, want 1", len(conn.events))
			}
			got := conn.events[0]
			rec, _ := got.data.(dbStatement)
			if !got.outcome || got.typ != event.TypeDBStatement || rec.Channel != 4 || rec.Text != tt.ev.SQL || rec.Decision != tt.decision || got.level != tt.level {
				t.Errorf("recorded %+v, want an outcome %s of channel 4, %q, decision %s, at %v", got, event.TypeDBStatement, tt.ev.SQL, tt.decision, tt.level)
			}
		})
	}
}

// TestStatementRecordSharesTheDecisionsKinds: a statement's kinds are made
// into the record's strings once, for its decision, and its outcome's
// record reuses them: recording the outcome of an allowed statement
// allocates nothing of its own.
func TestStatementRecordSharesTheDecisionsKinds(t *testing.T) {
	s := policySession(t, "reader")
	v := s.inspect(context.Background(), pgwire.Query{SQL: "SELECT abalance FROM pgbench_accounts WHERE aid = 7"})
	d := v.Detail.(*statementDetail)
	dec := s.decisionRecord(pgwire.Query{SQL: "SELECT abalance FROM pgbench_accounts WHERE aid = 7"}, d)
	ev := pgwire.StatementEvent{SQL: "SELECT abalance FROM pgbench_accounts WHERE aid = 7", Outcome: pgwire.OutcomeOK, Detail: d}
	var rec dbStatement
	if allocs := testing.AllocsPerRun(100, func() { rec = statementRecord(1, ev) }); allocs != 0 {
		t.Errorf("the outcome's record allocates %.0f times, want 0", allocs)
	}
	if !slices.Equal(rec.Kinds, []string{"select"}) || !slices.Equal(dec.Kinds, rec.Kinds) {
		t.Errorf("kinds: decision %q, outcome %q, want [select] in both", dec.Kinds, rec.Kinds)
	}
}
