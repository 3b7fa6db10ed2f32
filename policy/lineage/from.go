package lineage

import (
	"fmt"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// statsRelations show sampled column values (most_common_vals,
// histogram_bounds) of every column the reader may select, masked ones
// included, so reading them reads masked data.
var statsRelations = []string{"pg_statistic", "pg_stats", "pg_stats_ext", "pg_stats_ext_exprs", "pg_statistic_ext_data"}

func (a *analyzer) fromClause(s *scope, items []*pg_query.Node) {
	for _, n := range items {
		s.top = append(s.top, a.fromItem(s, n))
	}
}

// fromItem adds the name-space items of one FROM entry to s and returns
// the item that `*` expands.
func (a *analyzer) fromItem(s *scope, n *pg_query.Node) *nsItem {
	var it *nsItem
	switch x := n.GetNode().(type) {
	case *pg_query.Node_RangeVar:
		it = a.rangeVar(s, x.RangeVar, true)
	case *pg_query.Node_RangeSubselect:
		cols := a.rows(s.child(), x.RangeSubselect.Subquery)
		it = &nsItem{cols: renamed(cols, x.RangeSubselect.Alias)}
		it.name = aliasName(x.RangeSubselect.Alias, "")
	case *pg_query.Node_RangeFunction:
		it = a.rangeFunction(s, x.RangeFunction)
	case *pg_query.Node_JoinExpr:
		return a.join(s, x.JoinExpr)
	case *pg_query.Node_RangeTableSample:
		// TABLESAMPLE picks rows; the columns are the relation's.
		return a.fromItem(s, x.RangeTableSample.Relation)
	case *pg_query.Node_RangeTableFunc:
		it = a.computedItem(s, n, x.RangeTableFunc.Alias)
	case *pg_query.Node_JsonTable:
		it = a.computedItem(s, n, x.JsonTable.Alias)
	default:
		// Not a FROM item this package knows: fail closed.
		a.readsMasked = true
		it = &nsItem{cols: []col{{o: unknownOrigin, spread: true}}}
	}
	it.relVisible, it.colsVisible = true, true
	s.items = append(s.items, it)
	return it
}

// computedItem is XMLTABLE or JSON_TABLE: columns computed from the
// expressions inside.
func (a *analyzer) computedItem(s *scope, n *pg_query.Node, al *pg_query.Alias) *nsItem {
	o := a.generic(s, n).derived()
	return &nsItem{name: aliasName(al, ""), cols: []col{{o: o, spread: true}}}
}

// rangeVar resolves a relation name to a WITH query or a catalog relation.
// notFoundMasked says whether a name the catalog cannot resolve might hide
// masked columns (it cannot when the statement creates the name).
func (a *analyzer) rangeVar(s *scope, rv *pg_query.RangeVar, notFoundMasked bool) *nsItem {
	it := &nsItem{name: aliasName(rv.Alias, rv.Relname)}
	if rv.Schemaname == "" && rv.Catalogname == "" {
		if cols, ok := s.cte(rv.Relname); ok {
			it.cols = renamed(cols, rv.Alias)
			return it
		}
	}
	if rv.Alias == nil {
		it.schema = rv.Schemaname
	}
	rel, err := a.opts.Catalog.Relation(a.ctx, a.opts.SearchPath, rv.Schemaname, rv.Relname)
	switch {
	case isNotFound(err):
		a.readsMasked = a.readsMasked || notFoundMasked
		it.cols = []col{{o: unknownOrigin, spread: true}}
		return it
	case err != nil:
		a.fail(fmt.Errorf("lineage: resolve relation %s: %w", qualifiedName(rv.Schemaname, rv.Relname), err))
		it.cols = []col{{o: unknownOrigin, spread: true}}
		return it
	}
	if rv.Alias == nil && it.schema == "" {
		// An unqualified reference still answers to schema.table.column.
		it.schema = rel.Schema
	}
	it.cols = renamed(a.relationColumns(rel), rv.Alias)
	it.table = rel.Kind == Table || rel.Kind == ForeignTable
	return it
}

func (a *analyzer) relationColumns(rel Relation) []col {
	if rel.Schema == "pg_catalog" && slices.Contains(statsRelations, rel.Name) {
		a.readsMasked = true
		return unknownColumns(rel.Columns)
	}
	if rel.Kind == View || rel.Kind == MaterializedView {
		return a.viewColumns(rel)
	}
	cols := make([]col, len(rel.Columns))
	for i, name := range rel.Columns {
		c := Column{Schema: rel.Schema, Table: rel.Name, Name: name}
		o := origin{direct: true, column: c}
		if key, ok := a.maskedColumn(rel, name); ok {
			o.masked = []Column{key}
			a.readsMasked = true
		}
		cols[i] = col{name: name, o: o}
	}
	return cols
}

// viewColumns traces a view's columns through its definition, so a view
// is masked by what it reads.
func (a *analyzer) viewColumns(rel Relation) []col {
	key := Name{rel.Schema, rel.Name}
	if cols, ok := a.views[key]; ok {
		return cols
	}
	cols := a.expandView(rel)
	a.views[key] = cols
	return cols
}

func (a *analyzer) expandView(rel Relation) []col {
	if a.viewDepth >= a.opts.MaxViewDepth {
		a.readsMasked = true
		return unknownColumns(rel.Columns)
	}
	tree, err := pg_query.Parse(rel.Definition)
	if err != nil || len(tree.Stmts) != 1 {
		a.readsMasked = true
		return unknownColumns(rel.Columns)
	}
	// The definition names everything outside pg_catalog in full, and
	// means what it meant when the view was made, not what the session's
	// search_path would make of it.
	saved := a.opts.SearchPath
	a.opts.SearchPath = nil
	a.viewDepth++
	a.operators(tree.Stmts[0].Stmt.ProtoReflect())
	defined := a.rows(&scope{}, tree.Stmts[0].Stmt)
	a.viewDepth--
	a.opts.SearchPath = saved
	if len(defined) != len(rel.Columns) || slices.ContainsFunc(defined, func(c col) bool { return c.spread }) {
		a.readsMasked = true
		return unknownColumns(rel.Columns)
	}
	cols := make([]col, len(defined))
	for i, c := range defined {
		cols[i] = col{name: rel.Columns[i], o: c.o}
	}
	return cols
}

func unknownColumns(names []string) []col {
	cols := make([]col, len(names))
	for i, n := range names {
		cols[i] = col{name: n, o: unknownOrigin}
	}
	if len(cols) == 0 {
		cols = []col{{o: unknownOrigin, spread: true}}
	}
	return cols
}

// rangeFunction is a function in FROM: its columns are computed from its
// arguments. Without a column definition list the text does not say how
// many there are, so the columns past the alias's names are a spread.
func (a *analyzer) rangeFunction(s *scope, rf *pg_query.RangeFunction) *nsItem {
	var o origin
	defs := rf.Coldeflist
	untyped := len(rf.Functions) == 0 && len(defs) == 0 // some columns are not listed
	for _, f := range rf.Functions {
		items := f.GetList().GetItems()
		if len(items) > 0 {
			// How many rows it returns may be a value of its arguments
			// (generate_series(1, ascii(ssn))), as with LIMIT.
			arg := a.expr(s, items[0])
			a.probe(arg, "FROM function")
			o = o.plus(arg)
		}
		if len(items) > 1 && len(items[1].GetList().GetItems()) > 0 {
			defs = append(defs, items[1].GetList().GetItems()...)
		} else if len(rf.Coldeflist) == 0 {
			untyped = true
		}
	}
	o = o.derived()
	it := &nsItem{name: aliasName(rf.Alias, "")}
	for _, d := range defs {
		it.cols = append(it.cols, col{name: d.GetColumnDef().GetColname(), o: o})
	}
	if untyped {
		it.cols = append(it.cols, col{o: o, spread: true})
	}
	if it.name == "" && len(rf.Functions) == 1 {
		// A function's single column is named after the function.
		if items := rf.Functions[0].GetList().GetItems(); len(items) > 0 {
			it.name = funcName(items[0].GetFuncCall())
		}
	}
	if rf.Ordinality {
		it.cols = append(it.cols, col{name: "ordinality"})
	}
	it.cols = renamed(it.cols, rf.Alias)
	return it
}

func funcName(fc *pg_query.FuncCall) string {
	if fc == nil || len(fc.Funcname) == 0 {
		return ""
	}
	return fc.Funcname[len(fc.Funcname)-1].GetString_().GetSval()
}

func aliasName(al *pg_query.Alias, def string) string {
	if al != nil {
		return al.Aliasname
	}
	return def
}

// renamed applies an alias's column names to the first columns. Names
// meant for a spread rename the spread's first columns, so the spread
// stays after them.
func renamed(cols []col, al *pg_query.Alias) []col {
	if al == nil || len(al.Colnames) == 0 {
		return cols
	}
	out := slices.Clone(cols)
	for i, n := range al.Colnames {
		name := n.GetString_().GetSval()
		switch {
		case i < len(out) && !out[i].spread:
			out[i].name = name
		case i < len(out):
			out = slices.Insert(out, i, col{name: name, o: out[i].o})
		default:
			return out
		}
	}
	return out
}
