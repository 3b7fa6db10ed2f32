package sqlclass

import (
	"go/ast"
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// allKinds is every kind sqlclass reports.
var allKinds = []string{
	kindSelect, kindInsert, kindUpdate, kindDelete, kindMerge, kindCopyFrom, kindCopyTo,
	kindDDL, kindTruncate, kindGrant, kindExplain, kindShow, kindSet, kindTransaction,
	kindCall, kindDo, kindPrepare, kindExecute, kindListenNotify, kindVacuumAnalyze,
	kindDropDatabase, kindAlterSystem, kindSetRole, kindOther,
}

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
	for _, name := range append(slices.Clone(walkerHandled), deliberatelyOther...) {
		if !known[name] {
			t.Errorf("%s is no parse-tree node", name)
		}
	}
}

// TestKindsMatchPolicy keeps sqlclass's kinds and policy.StatementKinds
// the same list, reading policy's source: sqlclass imports no gatehouse
// package and policy must not import this cgo package.
func TestKindsMatchPolicy(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "../rules.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var policyKinds []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "StatementKinds" {
			return true
		}
		for _, e := range vs.Values[0].(*ast.CompositeLit).Elts {
			s, err := strconv.Unquote(e.(*ast.BasicLit).Value)
			if err != nil {
				t.Fatal(err)
			}
			if s != "all" {
				policyKinds = append(policyKinds, s)
			}
		}
		return false
	})
	if !slices.Equal(policyKinds, allKinds) {
		t.Errorf("policy.StatementKinds (without all) = %q\nsqlclass kinds = %q", policyKinds, allKinds)
	}
	for name, kinds := range nodeKinds {
		for _, k := range kinds {
			if !slices.Contains(allKinds, k) {
				t.Errorf("nodeKinds[%s] has unknown kind %q", name, k)
			}
		}
	}
}
