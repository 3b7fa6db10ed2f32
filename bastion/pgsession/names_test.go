package pgsession

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy/lineage"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
)

// TestNameEffects: every statement that creates, closes, uses or may
// replace a cursor or prepared statement is told to pgwire, in its place
// in the string, and a DECLARE or PREPARE carries the lineage of its own
// statement alone.
func TestNameEffects(t *testing.T) {
	sql := "SELECT 1; DECLARE c CURSOR WITH HOLD FOR SELECT email || '' FROM customers; CLOSE c; CLOSE ALL; FETCH 2 FROM c; MOVE 1 IN c; " +
		"PREPARE p AS SELECT 1; EXECUTE p; DEALLOCATE p; DEALLOCATE ALL; DISCARD ALL; DISCARD PLANS; DO 'begin end'; CALL pr()"
	stmts, err := sqlclass.Classify(sql)
	if err != nil {
		t.Fatal(err)
	}
	derived := []lineage.Output{{Name: "x", Kind: lineage.Derived}}
	outputs := make([][]lineage.Output, len(stmts))
	outputs[1] = derived
	d := &statementDetail{Allow: true}
	d.masking.Store(&maskingDetail{readsMasked: true, outputs: outputs})
	got := nameEffects(stmts, d)
	want := []pgwire.NameEffect{
		{},
		{Op: pgwire.DeclareCursor, Name: "c", Hold: true},
		{Op: pgwire.CloseCursor, Name: "c"},
		{Op: pgwire.CloseCursor, All: true},
		{Op: pgwire.FetchCursor, Name: "c"},
		{Op: pgwire.FetchCursor, Name: "c"},
		{Op: pgwire.PrepareStatement, Name: "p"},
		{Op: pgwire.ExecuteStatement, Name: "p"},
		{Op: pgwire.DeallocateStatement, Name: "p"},
		{Op: pgwire.DeallocateStatement, All: true},
		{Op: pgwire.DiscardAll},
		{},
		{Op: pgwire.NamesUnknown},
		{Op: pgwire.NamesUnknown},
	}
	if len(got) != len(want) {
		t.Fatalf("%d effects for %d statements", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Op != w.Op || g.Name != w.Name || g.All != w.All || g.Hold != w.Hold {
			t.Errorf("statement %d (%s): %+v, want %+v", i, stmts[i].Text, g, w)
		}
	}
	src, ok := got[1].Source.(*statementDetail)
	if !ok || got[1].SQL != stmts[1].Text {
		t.Fatalf("DECLARE: SQL %q, Source %#v", got[1].SQL, got[1].Source)
	}
	if md := src.masking.Load(); md == nil || !md.readsMasked || len(md.outputs) != 1 || md.outputs[0][0].Kind != lineage.Derived {
		t.Errorf("DECLARE's source does not carry its own lineage: %+v", md)
	}
	if _, ok := got[6].Source.(*statementDetail); !ok {
		t.Errorf("PREPARE has no source: %#v", got[6].Source)
	}
	if nameEffects(stmts[:1], d) != nil {
		t.Error("a string that touches no name has effects")
	}
}
