package sqlclass

import (
	"slices"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// walkerHandled are the statement types walk.go judges by their contents.
var walkerHandled = []string{
	"SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "ExplainStmt",
	"CopyStmt", "VariableSetStmt", "DiscardStmt", "DropStmt", "PrepareStmt", "ExecuteStmt", "DoStmt",
	"TransactionStmt",
}

// deliberatelyOther fit no kind: a policy must allow "other" (or "all").
var deliberatelyOther = []string{
	"LockStmt",       // LOCK TABLE: an ACCESS EXCLUSIVE lock stalls production
	"LoadStmt",       // LOAD: loads a shared library into the backend
	"CheckPointStmt", // CHECKPOINT: forces I/O on the whole server
	"ReturnStmt",     // only inside SQL function bodies
	"PLAssignStmt",   // only inside PL/pgSQL
}

// TestEveryStatementTypeConsidered fails when a pg_query upgrade brings a
// statement type nobody has placed: it would silently be "other".
func TestEveryStatementTypeConsidered(t *testing.T) {
	node := (&pg_query.Node{}).ProtoReflect().Descriptor()
	known := map[string]bool{}
	fields := node.Fields()
	for i := range fields.Len() {
		md := fields.Get(i).Message()
		if md == nil {
			continue
		}
		name := string(md.Name())
		known[name] = true
		if !strings.HasSuffix(name, "Stmt") || name == "RawStmt" || name == "SetOperationStmt" {
			continue // RawStmt wraps a statement; SetOperationStmt is post-analysis only
		}
		_, tabled := nodeKinds[name]
		if !tabled && !slices.Contains(walkerHandled, name) && !slices.Contains(deliberatelyOther, name) {
			t.Errorf("statement type %s has no kind: add it to nodeKinds or deliberatelyOther", name)
		}
	}
	for name := range nodeKinds {
		if !known[name] {
			t.Errorf("nodeKinds names %s, which is no parse-tree node", name)
		}
	}
	// The commands gatehouse decides by must be nodes a pg_query upgrade
	// still has, or the decisions would silently never match.
	for _, c := range []Command{SelectCommand, ExecuteCommand, FetchCommand} {
		if !known[string(c)] {
			t.Errorf("command %s is no parse-tree node", c)
		}
	}
	for _, name := range append(slices.Clone(walkerHandled), deliberatelyOther...) {
		if !known[name] {
			t.Errorf("%s is no parse-tree node", name)
		}
	}
}

// TestNodeKindsAreKnown keeps nodeKinds to the kinds a policy can name.
func TestNodeKindsAreKnown(t *testing.T) {
	for name, kinds := range nodeKinds {
		for _, k := range kinds {
			if !slices.Contains(sqlkind.Known, k) {
				t.Errorf("nodeKinds[%s] has unknown kind %q", name, k)
			}
		}
	}
}
