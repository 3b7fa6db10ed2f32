package pgwire

import "testing"

// TestNamespace: what each change does to the names, and that only a name
// gatehouse knows exactly gives its rows a source.
func TestNamespace(t *testing.T) {
	declare := func(name string, hold bool) NameEffect {
		return NameEffect{Op: DeclareCursor, Name: name, Hold: hold, SQL: "DECLARE " + name, Source: "src " + name}
	}
	tests := []struct {
		name   string
		steps  func(n *namespace)
		effect NameEffect // the use whose source is checked
		want   any
	}{
		{"a declared cursor", func(n *namespace) { n.apply(declare("c", false)) },
			NameEffect{Op: FetchCursor, Name: "c"}, "src c"},
		{"closed", func(n *namespace) { n.apply(declare("c", false)); n.apply(NameEffect{Op: CloseCursor, Name: "c"}) },
			NameEffect{Op: FetchCursor, Name: "c"}, nil},
		{"CLOSE ALL", func(n *namespace) { n.apply(declare("c", false)); n.apply(NameEffect{Op: CloseCursor, All: true}) },
			NameEffect{Op: FetchCursor, Name: "c"}, nil},
		{"its transaction ended", func(n *namespace) { n.apply(declare("c", false)); n.idle() },
			NameEffect{Op: FetchCursor, Name: "c"}, nil},
		{"WITH HOLD, committed", func(n *namespace) { n.apply(declare("c", true)); n.idle() },
			NameEffect{Op: FetchCursor, Name: "c"}, "src c"},
		{"WITH HOLD, in a transaction that failed", func(n *namespace) { n.apply(declare("c", true)); n.txnFailed = true; n.idle() },
			NameEffect{Op: FetchCursor, Name: "c"}, nil},
		{"WITH HOLD, rolled back", func(n *namespace) { n.apply(declare("c", true)); n.rolledBack(); n.idle() },
			NameEffect{Op: FetchCursor, Name: "c"}, nil},
		{"WITH HOLD of an earlier transaction survives a rollback", func(n *namespace) {
			n.apply(declare("c", true))
			n.idle()
			n.rolledBack()
			n.idle()
		}, NameEffect{Op: FetchCursor, Name: "c"}, "src c"},
		{"after DO", func(n *namespace) { n.apply(declare("c", true)); n.apply(NameEffect{Op: NamesUnknown}) },
			NameEffect{Op: FetchCursor, Name: "c"}, nil},
		{"a bound portal keeps its statement", func(n *namespace) {
			n.apply(NameEffect{Op: PrepareStatement, Name: "p", Source: "src p"})
			n.portals["c"] = &portal{stmt: n.statements["p"]}
			n.apply(NameEffect{Op: DeallocateStatement, Name: "p"})
		}, NameEffect{Op: FetchCursor, Name: "c"}, "src p"},
		{"a prepared statement", func(n *namespace) { n.apply(NameEffect{Op: PrepareStatement, Name: "p", Source: "src p"}) },
			NameEffect{Op: ExecuteStatement, Name: "p"}, "src p"},
		{"deallocated", func(n *namespace) {
			n.apply(NameEffect{Op: PrepareStatement, Name: "p", Source: "src p"})
			n.apply(NameEffect{Op: DeallocateStatement, Name: "p"})
		}, NameEffect{Op: ExecuteStatement, Name: "p"}, nil},
		{"DEALLOCATE ALL", func(n *namespace) {
			n.apply(NameEffect{Op: PrepareStatement, Name: "p", Source: "src p"})
			n.apply(NameEffect{Op: DeallocateStatement, All: true})
		}, NameEffect{Op: ExecuteStatement, Name: "p"}, nil},
		{"DISCARD ALL", func(n *namespace) {
			n.apply(NameEffect{Op: PrepareStatement, Name: "p", Source: "src p"})
			n.apply(NameEffect{Op: DiscardAll})
		}, NameEffect{Op: ExecuteStatement, Name: "p"}, nil},
		{"a prepared statement outlives its transaction", func(n *namespace) {
			n.apply(NameEffect{Op: PrepareStatement, Name: "p", Source: "src p"})
			n.rolledBack()
			n.idle()
		}, NameEffect{Op: ExecuteStatement, Name: "p"}, "src p"},
		{"a prepared statement after CALL", func(n *namespace) {
			n.apply(NameEffect{Op: PrepareStatement, Name: "p", Source: "src p"})
			n.apply(NameEffect{Op: NamesUnknown})
		}, NameEffect{Op: ExecuteStatement, Name: "p"}, nil},
		{"never made", func(n *namespace) {}, NameEffect{Op: FetchCursor, Name: "c"}, nil},
		{"not a name: its own detail", func(n *namespace) {}, NameEffect{}, "own"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := newNamespace()
			tt.steps(&n)
			if got := n.rowsSource(tt.effect, "own"); got != tt.want {
				t.Fatalf("rowsSource = %v, want %v", got, tt.want)
			}
		})
	}
}
