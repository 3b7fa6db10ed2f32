package pgwire

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// maskFirst is a Results that rewrites the first column to "x" + value
// and notes it, and tells what it was asked.
type maskFirst struct{ asked []Result }

func (m *maskFirst) results(r Result) *RowRewrite {
	m.asked = append(m.asked, r)
	return &RowRewrite{
		Columns: []ColumnRewrite{func(dst, v []byte) ([]byte, bool) { return append(append(dst, 'x'), v...), false }},
		Notes:   []string{"n: masked"},
	}
}

func startMasked(t *testing.T, m *maskFirst, events *eventLog) *testClient {
	f := newFakeUpstream(t)
	cfg := baseConfig(t, f)
	authorize := cfg.Authorize
	cfg.Authorize = func(ctx context.Context, s Startup) (*Upstream, error) {
		up, err := authorize(ctx, s)
		up.Results = m.results
		return up, err
	}
	cfg.Inspect = func(ctx context.Context, q Query) Verdict { return Verdict{Allow: true, Detail: "detail of " + q.SQL} }
	cfg.Observe = events.observe
	return startSession(t, context.Background(), cfg)
}

func TestResultsSimpleQuery(t *testing.T) {
	checkLeaks(t)
	var m maskFirst
	var events eventLog
	c := startMasked(t, &m, &events)
	c.send(&pgproto3.Query{String: "SELECT n FROM t"})
	want := []string{"T", "D:x1", "D:x2", "C:SELECT 2", "Z:I"}
	if got := c.untilReady(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(m.asked) != 1 || m.asked[0].Detail != "detail of SELECT n FROM t" || len(m.asked[0].Fields) != 1 {
		t.Fatalf("Results was asked %+v", m.asked)
	}
	if evs := events.all(); len(evs) != 1 || !slices.Equal(evs[0].Rewritten, []string{"n: masked"}) {
		t.Fatalf("events %+v", evs)
	}
}

// TestResultsExtended: the client never describes its portal; gatehouse
// does, and the client sees none of it, only masked rows.
func TestResultsExtended(t *testing.T) {
	checkLeaks(t)
	var m maskFirst
	var events eventLog
	c := startMasked(t, &m, &events)
	c.send(&pgproto3.Parse{Name: "s", Query: "SELECT n FROM t"}, &pgproto3.Bind{PreparedStatement: "s"},
		&pgproto3.Execute{}, &pgproto3.Sync{})
	want := []string{"1", "2", "D:x1", "C:SELECT 1", "Z:I"}
	if got := c.untilReady(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(m.asked) != 1 || m.asked[0].Detail != "detail of SELECT n FROM t" {
		t.Fatalf("Results was asked %+v", m.asked)
	}
	if evs := events.all(); len(evs) != 1 || !slices.Equal(evs[0].Rewritten, []string{"n: masked"}) {
		t.Fatalf("events %+v", evs)
	}
	// The client's own Describe is answered as usual.
	c.send(&pgproto3.Bind{PreparedStatement: "s"}, &pgproto3.Describe{ObjectType: 'P'}, &pgproto3.Execute{}, &pgproto3.Sync{})
	want = []string{"2", "T", "D:x1", "C:SELECT 1", "Z:I"}
	if got := c.untilReady(); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestResultsUnknownPortal: rows of a portal gatehouse did not see made
// (a cursor a function opened) are described by the database before the
// Execute, and Results is told it has no source for them.
func TestResultsUnknownPortal(t *testing.T) {
	checkLeaks(t)
	var m maskFirst
	var events eventLog
	c := startMasked(t, &m, &events)
	c.send(&pgproto3.Execute{Portal: "cur"}, &pgproto3.Sync{})
	want := []string{"D:x1", "C:SELECT 1", "Z:I"}
	got := c.untilReady()
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if len(m.asked) != 1 || m.asked[0].Detail != nil {
		t.Fatalf("Results was asked %+v, want once with no detail", m.asked)
	}
}

func TestRowRewriterReusesBuffers(t *testing.T) {
	var w rowRewriter
	rw := &RowRewrite{Columns: []ColumnRewrite{
		nil,
		func(dst, v []byte) ([]byte, bool) { return append(dst, "****"...), false },
		func(dst, v []byte) ([]byte, bool) { return append(dst, "partial"...), true },
		func(dst, v []byte) ([]byte, bool) { return append(dst, v[len(v)-1]), false },
		func(dst, v []byte) ([]byte, bool) { return append(dst, "x"...), false },
	}}
	row := &pgproto3.DataRow{Values: [][]byte{[]byte("1"), []byte("secret"), []byte("gone"), []byte("1234"), nil}}
	check := func(msg pgproto3.BackendMessage) {
		t.Helper()
		got := encodedRow(t, msg)
		if len(got.Values) != 5 || string(got.Values[0]) != "1" || string(got.Values[1]) != "****" || got.Values[2] != nil ||
			string(got.Values[3]) != "4" || got.Values[4] != nil {
			t.Fatalf("rewritten %q", got.Values)
		}
	}
	check(w.rewrite(rw, row))
	buf := []byte("earlier messages")
	allocs := testing.AllocsPerRun(100, func() {
		out, _ := w.rewrite(rw, row).Encode(buf[:0])
		buf = out
	})
	if allocs != 0 {
		t.Errorf("%v allocations per row, want 0", allocs)
	}
	short := &pgproto3.DataRow{Values: [][]byte{[]byte("a")}}
	if got := encodedRow(t, w.rewrite(rw, short)); len(got.Values) != 1 || got.Values[0] != nil {
		t.Fatalf("a row of another width was not answered all NULL: %q", got.Values)
	}
}

// TestRewrittenRowAppends: a rewritten row is encoded after what the
// output buffer already holds, with the lengths of its message and values
// right, as pgproto3 reads them back.
func TestRewrittenRowAppends(t *testing.T) {
	var w rowRewriter
	grow := func(dst, v []byte) ([]byte, bool) { return append(append(dst, v...), v...), false }
	rw := &RowRewrite{Columns: []ColumnRewrite{grow, nil}}
	row := &pgproto3.DataRow{Values: [][]byte{[]byte("ab"), []byte("")}}
	prefix := []byte("Zxyz")
	out, err := w.rewrite(rw, row).Encode(append([]byte{}, prefix...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("what was before the row changed: %q", out)
	}
	want, _ := (&pgproto3.DataRow{Values: [][]byte{[]byte("abab"), []byte("")}}).Encode(nil)
	if !bytes.Equal(out[len(prefix):], want) {
		t.Fatalf("encoded %x, want %x", out[len(prefix):], want)
	}
}

// encodedRow encodes msg and reads it back as the client would.
func encodedRow(t *testing.T, msg pgproto3.BackendMessage) *pgproto3.DataRow {
	t.Helper()
	b, err := msg.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 'D' || int(binary.BigEndian.Uint32(b[1:])) != len(b)-1 {
		t.Fatalf("not a DataRow of %d bytes: %x", len(b), b)
	}
	var got pgproto3.DataRow
	if err := got.Decode(b[5:]); err != nil {
		t.Fatal(err)
	}
	return &got
}

// BenchmarkRowRewrite: the rewrite of a 6-column row with 2 columns
// rewritten (a copy each) as it is encoded for the client, without the
// masks' own work; BenchmarkRowEncode is the same row passed unchanged.
func BenchmarkRowRewrite(b *testing.B) {
	var w rowRewriter
	keep := func(dst, v []byte) ([]byte, bool) { return append(dst, v...), false }
	rw := &RowRewrite{Columns: []ColumnRewrite{nil, nil, keep, nil, keep, nil}}
	row := benchRow()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = w.rewrite(rw, row).Encode(buf[:0])
	}
}

func BenchmarkRowEncode(b *testing.B) {
	row := benchRow()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = row.Encode(buf[:0])
	}
}

func benchRow() *pgproto3.DataRow {
	return &pgproto3.DataRow{Values: [][]byte{[]byte("123456"), []byte("name 123456"), []byte("person123456@example.com"),
		[]byte("Lima"), []byte("4000000000123456"), []byte("1234.56")}}
}
