package pgsession

import (
	"slices"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy/lineage"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// nameEffects tells pgwire what each statement of an allowed string does
// to the session's cursors and prepared statements, so that rows coming
// from a name are masked by what the server holds under it when they
// come, not by what gatehouse last saw there (pgwire.NameOp). nil when no
// statement touches a name.
func nameEffects(stmts []sqlclass.Statement, d *statementDetail) []pgwire.NameEffect {
	var out []pgwire.NameEffect
	for i, st := range stmts {
		e := nameEffect(st)
		if e.Op == pgwire.DeclareCursor || e.Op == pgwire.PrepareStatement {
			e.SQL, e.Source = st.Text, d.statementSource(i, st)
		}
		if e.Op == pgwire.NamesUntouched {
			continue
		}
		if out == nil {
			out = make([]pgwire.NameEffect, len(stmts))
		}
		out[i] = e
	}
	return out
}

func nameEffect(st sqlclass.Statement) pgwire.NameEffect {
	n := st.Names
	switch {
	case n.Op == sqlclass.Declare:
		return pgwire.NameEffect{Op: pgwire.DeclareCursor, Name: n.Name, Hold: n.Hold}
	case n.Op == sqlclass.Close:
		return pgwire.NameEffect{Op: pgwire.CloseCursor, Name: n.Name, All: n.All}
	case n.Op == sqlclass.Fetch:
		return pgwire.NameEffect{Op: pgwire.FetchCursor, Name: n.Name}
	case n.Op == sqlclass.Prepare:
		return pgwire.NameEffect{Op: pgwire.PrepareStatement, Name: n.Name}
	case n.Op == sqlclass.Deallocate:
		return pgwire.NameEffect{Op: pgwire.DeallocateStatement, Name: n.Name, All: n.All}
	case n.Op == sqlclass.Discard:
		return pgwire.NameEffect{Op: pgwire.DiscardAll}
	case st.Command == sqlclass.ExecuteCommand && len(st.Executes) == 1:
		return pgwire.NameEffect{Op: pgwire.ExecuteStatement, Name: st.Executes[0]}
	case slices.Contains(st.Kinds, sqlkind.Do) || slices.Contains(st.Kinds, sqlkind.Call):
		// Code out of sight may open, close or prepare anything.
		return pgwire.NameEffect{Op: pgwire.NamesUnknown}
	}
	return pgwire.NameEffect{}
}

// statementSource is the detail of statement i of the string alone, as
// pgwire hands it to Results (statement 0) for rows of the cursor it
// declares or the statement it prepares, and to the record of Executes
// of them.
func (d *statementDetail) statementSource(i int, st sqlclass.Statement) *statementDetail {
	src := &statementDetail{Kinds: st.Kinds, Relations: st.Relations, Functions: st.Functions, Allow: d.Allow, Rule: d.Rule, readsOnly: d.readsOnly}
	if md := d.masking.Load(); md != nil {
		// Traced under md.gen's search_path: Results trusts it under that
		// path only (a cursor keeps its plan, so this errs on masking).
		own := &maskingDetail{gen: md.gen, readsMasked: md.readsMasked}
		if i < len(md.outputs) {
			own.outputs = [][]lineage.Output{md.outputs[i]}
		}
		src.masking.Store(own)
	}
	return src
}
