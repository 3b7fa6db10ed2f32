package lineage

import (
	"context"
	"slices"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// FuzzLineage checks that Analyze never panics, that what it reports is
// well-formed, and that it never calls Clean an output that names a
// masked column of the one table it reads.
func FuzzLineage(f *testing.F) {
	f.Add("SELECT ssn FROM customers")
	f.Add("SELECT c.email || 'x', upper(phone) FROM customers c WHERE ssn > '1'")
	f.Fuzz(func(t *testing.T, sql string) {
		opts := Options{Catalog: newFakeCatalog(), SearchPath: []string{"public"}, Masked: testMasked, DenyProbing: true}
		r, err := Analyze(context.Background(), sql, opts)
		if err != nil {
			return
		}
		checkWellFormed(t, r)
		for _, i := range namedMaskedOutputs(sql) {
			if i < len(r.Outputs) && r.Outputs[i].Kind == Clean {
				t.Fatalf("%s: output %d names a masked column but is Clean: %+v", sql, i+1, r.Outputs[i])
			}
		}
	})
}

func checkWellFormed(t *testing.T, r *Result) {
	t.Helper()
	for i, o := range r.Outputs {
		switch {
		case o.Kind == Direct && o.Column == (Column{}):
			t.Fatalf("output %d is Direct without a column", i+1)
		case o.Kind == Derived && len(o.Sources) == 0:
			t.Fatalf("output %d is Derived from nothing", i+1)
		case o.Kind == Clean && len(o.Sources) > 0:
			t.Fatalf("output %d is Clean with sources %v", i+1, o.Sources)
		case !slices.IsSortedFunc(o.Sources, compareColumns):
			t.Fatalf("output %d sources not sorted: %v", i+1, o.Sources)
		}
	}
}

// namedMaskedOutputs finds, in a plain SELECT from one table of the fake
// catalog without subqueries, the outputs whose expression names one of
// that table's masked columns.
func namedMaskedOutputs(sql string) []int {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	st := tree.Stmts[0].Stmt.GetSelectStmt()
	if st == nil || st.WithClause != nil || st.Op != pg_query.SetOperation_SETOP_NONE || len(st.FromClause) != 1 {
		return nil
	}
	rv := st.FromClause[0].GetRangeVar()
	if rv == nil || (rv.Schemaname != "" && rv.Schemaname != "public") || rv.Relname != "customers" {
		return nil
	}
	var out []int
	for i, n := range st.TargetList {
		if fields, star := columnRefFields(n.GetResTarget().GetVal()); star || len(fields) > 2 {
			return out // positions past a star are not the select list's
		}
		if namesMasked(n.ProtoReflect()) {
			out = append(out, i)
		}
	}
	return out
}

// namesMasked says whether the tree names a masked customers column and
// holds no subquery, which could bring its own columns of that name.
func namesMasked(m protoreflect.Message) bool {
	found, sub := false, false
	var visit func(m protoreflect.Message)
	visit = func(m protoreflect.Message) {
		switch x := m.Interface().(type) {
		case *pg_query.SubLink:
			sub = true
		case *pg_query.ColumnRef:
			if fields, star := columnRefFields(&pg_query.Node{Node: &pg_query.Node_ColumnRef{ColumnRef: x}}); !star && len(fields) > 0 {
				_, masked := testMasked["public.customers."+fields[len(fields)-1]]
				found = found || masked
			}
		}
		eachChild(m, visit)
	}
	visit(m)
	return found && !sub
}
