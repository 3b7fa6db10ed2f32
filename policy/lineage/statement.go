package lineage

import (
	"fmt"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// statement traces a top-level statement and returns its output columns.
func (a *analyzer) statement(n *pg_query.Node) []col {
	root := &scope{}
	switch x := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		cols := a.selectStmt(root, x.SelectStmt)
		if x.SelectStmt.IntoClause != nil {
			a.storeAll(cols, "a new table (SELECT INTO)")
			return nil
		}
		return cols
	case *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt:
		return a.rows(root, n)
	case *pg_query.Node_DeclareCursorStmt:
		return a.statement(x.DeclareCursorStmt.Query)
	case *pg_query.Node_PrepareStmt:
		return a.statement(x.PrepareStmt.Query)
	case *pg_query.Node_CopyStmt:
		return a.copy(root, x.CopyStmt)
	case *pg_query.Node_ExplainStmt:
		// The plan shows no values, but EXPLAIN ANALYZE runs the statement
		// and its row counts answer probes: what runs inside still counts.
		a.statement(x.ExplainStmt.Query)
		return []col{{name: "QUERY PLAN"}}
	case *pg_query.Node_CreateTableAsStmt:
		a.createTableAs(x.CreateTableAsStmt)
		return nil
	case *pg_query.Node_DoStmt:
		a.readsMasked = true
		a.refuse("a DO block runs code that can read masked columns out of sight; run its statements one at a time instead")
		return nil
	case *pg_query.Node_CreateFunctionStmt, *pg_query.Node_CreateTrigStmt, *pg_query.Node_RuleStmt,
		*pg_query.Node_CreateEventTrigStmt:
		// Code stored now runs later, where no statement shows what it reads.
		a.readsMasked = true
		a.refuse("masking cannot see what a %s will read when it runs; create it under a role without masking",
			statementName(n))
		return nil
	}
	a.notUnderstood(n)
	return nil
}

func (a *analyzer) createTableAs(c *pg_query.CreateTableAsStmt) {
	cols := a.statement(c.Query)
	if c.Objtype != pg_query.ObjectType_OBJECT_TABLE {
		return // a materialized view is read through its definition
	}
	if c.Query.GetExecuteStmt() != nil {
		// CREATE TABLE ... AS EXECUTE stores rows of a statement prepared
		// earlier, which this one does not show.
		a.readsMasked = true
		cols = []col{{o: unknownOrigin}}
	}
	a.storeAll(cols, "a new table (CREATE TABLE AS)")
}

func (a *analyzer) storeAll(cols []col, target string) {
	for _, c := range cols {
		a.store(c.o, target, false)
	}
}

// copy traces COPY ... TO: the query's columns, or the table's (all, or
// the listed ones). COPY FROM returns no data.
func (a *analyzer) copy(s *scope, c *pg_query.CopyStmt) []col {
	switch {
	case c.IsFrom:
		return nil
	case c.Query != nil:
		return a.rows(s, c.Query)
	case c.Relation == nil:
		return nil
	}
	it := a.rangeVar(s, c.Relation, true)
	if len(c.Attlist) == 0 {
		return it.cols
	}
	cols := make([]col, len(c.Attlist))
	for i, n := range c.Attlist {
		name := n.GetString_().GetSval()
		o, ok := it.column(name)
		if !ok {
			o = unknownOrigin
		}
		cols[i] = col{name: name, o: o}
	}
	return cols
}

// notUnderstood handles a statement lineage does not trace: it still
// notes the functions it calls, and refuses it if it names a relation
// with masked columns. Names the catalog does not know are not counted:
// they are what CREATE statements create.
func (a *analyzer) notUnderstood(n *pg_query.Node) {
	prev := a.readsMasked
	a.readsMasked = false
	a.visitNames(n.ProtoReflect())
	touched := a.readsMasked
	a.readsMasked = prev || touched
	if touched {
		a.refuse("masking cannot trace a %s, and this one names a relation with masked columns; "+
			"run it under a role without masking", statementName(n))
	}
}

func (a *analyzer) visitNames(m protoreflect.Message) {
	switch x := m.Interface().(type) {
	case *pg_query.RangeVar:
		a.rangeVar(&scope{}, x, false)
		return
	case *pg_query.FuncCall:
		a.function(stringsOf(x.Funcname))
	}
	eachChild(m, a.visitNames)
}

func statementName(n *pg_query.Node) string {
	m := n.ProtoReflect()
	if fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0)); fd != nil {
		return string(fd.Message().Name())
	}
	return "statement"
}

func (a *analyzer) insert(s *scope, ins *pg_query.InsertStmt) []col {
	if ins.WithClause != nil {
		s = s.child()
		a.with(s, ins.WithClause)
	}
	target := a.target(s, ins.Relation)
	var src []col
	if ins.SelectStmt != nil {
		src = a.rows(s.child(), ins.SelectStmt)
	}
	names := insertColumns(ins, target)
	excluded := &nsItem{name: "excluded", relVisible: true}
	for i, c := range src {
		if i >= len(names) || c.spread {
			a.store(c.o, fmt.Sprintf("column %d of %s", i+1, target.name), false)
			continue
		}
		a.storeColumn(target, names[i], c.o)
		excluded.cols = append(excluded.cols, col{name: names[i], o: c.o})
	}
	q := s.child()
	q.items, q.top = []*nsItem{target}, []*nsItem{target}
	if oc := ins.OnConflictClause; oc != nil {
		q.items = append(q.items, excluded)
		a.assignments(q, target, oc.TargetList)
		a.probe(a.expr(q, oc.WhereClause), "ON CONFLICT")
		q.items = q.items[:1]
	}
	return a.targets(q, ins.ReturningList)
}

func insertColumns(ins *pg_query.InsertStmt, target *nsItem) []string {
	var names []string
	for _, n := range ins.Cols {
		names = append(names, n.GetResTarget().GetName())
	}
	if len(ins.Cols) > 0 {
		return names
	}
	for _, c := range target.cols {
		if !c.spread {
			names = append(names, c.name)
		}
	}
	return names
}

func (a *analyzer) update(s *scope, up *pg_query.UpdateStmt) []col {
	if up.WithClause != nil {
		s = s.child()
		a.with(s, up.WithClause)
	}
	q := s.child()
	target := a.target(q, up.Relation)
	a.fromClause(q, up.FromClause)
	a.assignments(q, target, up.TargetList)
	a.probe(a.expr(q, up.WhereClause), "WHERE")
	return a.targets(q, up.ReturningList)
}

func (a *analyzer) delete(s *scope, d *pg_query.DeleteStmt) []col {
	if d.WithClause != nil {
		s = s.child()
		a.with(s, d.WithClause)
	}
	q := s.child()
	a.target(q, d.Relation)
	a.fromClause(q, d.UsingClause)
	a.probe(a.expr(q, d.WhereClause), "WHERE")
	return a.targets(q, d.ReturningList)
}

// target adds the relation a statement writes to s.
func (a *analyzer) target(s *scope, rv *pg_query.RangeVar) *nsItem {
	it := a.rangeVar(s, rv, true)
	it.relVisible, it.colsVisible = true, true
	s.items = append(s.items, it)
	s.top = append(s.top, it)
	return it
}

// assignments traces SET col = value of UPDATE and ON CONFLICT DO UPDATE.
func (a *analyzer) assignments(s *scope, target *nsItem, list []*pg_query.Node) {
	for _, n := range list {
		if rt := n.GetResTarget(); rt != nil {
			a.storeColumn(target, rt.Name, a.expr(s, rt.Val))
		}
	}
}

func (a *analyzer) storeColumn(target *nsItem, name string, o origin) {
	tc, ok := target.column(name)
	a.store(o, target.name+"."+name, ok && len(tc.masked) > 0)
}
