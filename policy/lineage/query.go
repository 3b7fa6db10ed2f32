package lineage

import (
	"fmt"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// rows traces the rows a query returns: a SELECT, or a data-modifying
// statement's RETURNING list (in WITH, or under PREPARE, COPY, DECLARE).
func (a *analyzer) rows(s *scope, n *pg_query.Node) []col {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		return a.selectStmt(s, x.SelectStmt)
	case *pg_query.Node_InsertStmt:
		return a.insert(s, x.InsertStmt)
	case *pg_query.Node_UpdateStmt:
		return a.update(s, x.UpdateStmt)
	case *pg_query.Node_DeleteStmt:
		return a.delete(s, x.DeleteStmt)
	}
	a.notUnderstood(n)
	return []col{{o: unknownOrigin, spread: true}}
}

func (a *analyzer) selectStmt(s *scope, st *pg_query.SelectStmt) []col {
	if st == nil {
		return nil
	}
	if a.exhausted() {
		return unknownColumns(nil)
	}
	if st.WithClause != nil {
		s = s.child()
		a.with(s, st.WithClause)
	}
	var outs []col
	switch {
	case st.Op != pg_query.SetOperation_SETOP_NONE:
		outs = setOperation(a.selectStmt(s, st.Larg), a.selectStmt(s, st.Rarg))
	case len(st.ValuesLists) > 0:
		outs = a.values(s, st.ValuesLists)
	default:
		q := s.child()
		outs = a.simpleSelect(q, st)
		s = q
	}
	a.sortClause(s, st.SortClause, outs, "ORDER BY")
	a.probe(a.expr(s, st.LimitCount), "LIMIT")
	a.probe(a.expr(s, st.LimitOffset), "LIMIT")
	return outs
}

func (a *analyzer) simpleSelect(q *scope, st *pg_query.SelectStmt) []col {
	a.fromClause(q, st.FromClause)
	a.windowClause(q, st.WindowClause)
	outs := a.targets(q, st.TargetList)
	a.probe(a.expr(q, st.WhereClause), "WHERE")
	a.sortClause(q, st.GroupClause, outs, "GROUP BY")
	a.probe(a.expr(q, st.HavingClause), "HAVING")
	for _, d := range st.DistinctClause {
		if d.GetNode() != nil { // plain DISTINCT is one empty node
			a.probe(a.sortOrigin(q, d, outs, "DISTINCT ON"), "DISTINCT ON")
		}
	}
	return outs
}

// setOperation: column i of UNION, INTERSECT or EXCEPT is column i of
// either arm, named after the left arm's. Past a spread in either arm the
// columns no longer line up, so they fold into one spread fed by all.
func setOperation(l, r []col) []col {
	n := min(firstSpread(l), firstSpread(r))
	out := make([]col, 0, n+1)
	for i := range n {
		out = append(out, col{name: l[i].name, o: l[i].o.either(r[i].o)})
	}
	if n == len(l) && n == len(r) {
		return out
	}
	rest := origin{unknown: len(l) != len(r)}
	for _, c := range slices.Concat(l[n:], r[n:]) {
		rest = rest.plus(c.o.derived())
	}
	return append(out, col{o: rest, spread: true})
}

func firstSpread(cols []col) int {
	if i := slices.IndexFunc(cols, func(c col) bool { return c.spread }); i >= 0 {
		return i
	}
	return len(cols)
}

func (a *analyzer) values(s *scope, lists []*pg_query.Node) []col {
	var outs []col
	for _, l := range lists {
		for i, e := range l.GetList().GetItems() {
			o := a.expr(s, e)
			if i == len(outs) {
				outs = append(outs, col{name: fmt.Sprintf("column%d", i+1), o: o})
			} else {
				outs[i].o = outs[i].o.either(o)
			}
		}
	}
	return outs
}

func (a *analyzer) windowClause(q *scope, defs []*pg_query.Node) {
	for _, d := range defs {
		w := d.GetWindowDef()
		if w == nil {
			continue
		}
		if q.windows == nil {
			q.windows = map[string]origin{}
		}
		q.windows[w.Name] = a.windowDef(q, w)
	}
}

// windowDef is what a window feeds into the functions over it: its
// partitioning and ordering, both probing positions.
func (a *analyzer) windowDef(s *scope, w *pg_query.WindowDef) origin {
	var o origin
	if w.Refname != "" {
		o = s.window(w.Refname)
	}
	for _, p := range w.PartitionClause {
		o = o.plus(a.expr(s, p))
	}
	for _, sb := range w.OrderClause {
		o = o.plus(a.expr(s, sb.GetSortBy().GetNode()))
	}
	o = o.plus(a.expr(s, w.StartOffset)).plus(a.expr(s, w.EndOffset)).derived()
	a.probe(o, "WINDOW")
	return o
}

// sortClause probes ORDER BY and GROUP BY entries, which may name output
// columns by name or position.
func (a *analyzer) sortClause(s *scope, list []*pg_query.Node, outs []col, clause string) {
	for _, n := range list {
		if sb := n.GetSortBy(); sb != nil {
			n = sb.Node
		}
		a.probe(a.sortOrigin(s, n, outs, clause), clause)
	}
}

func (a *analyzer) sortOrigin(s *scope, n *pg_query.Node, outs []col, clause string) origin {
	if c := n.GetAConst(); c != nil && c.GetIval() != nil {
		if i := int(c.GetIval().Ival); i >= 1 && i <= len(outs) {
			return outs[i-1].o
		}
	}
	ref := n.GetColumnRef()
	if ref == nil || len(ref.Fields) != 1 || ref.Fields[0].GetString_() == nil {
		return a.expr(s, n)
	}
	// A bare name is an output column in ORDER BY and DISTINCT ON, and an
	// input column first in GROUP BY (PostgreSQL's
	// findTargetlistEntrySQL92).
	name := ref.Fields[0].GetString_().Sval
	if clause == "GROUP BY" {
		if o, ok := s.unqualified(name); ok {
			return o
		}
	}
	for _, c := range outs {
		if !c.spread && c.name == name {
			return c.o
		}
	}
	return a.expr(s, n)
}

// targets traces a select or RETURNING list, expanding `*` and `t.*`.
func (a *analyzer) targets(s *scope, list []*pg_query.Node) []col {
	var outs []col
	for _, n := range list {
		rt := n.GetResTarget()
		if rt == nil {
			continue
		}
		if fields, star := columnRefFields(rt.Val); star {
			outs = append(outs, a.expandStar(s, fields)...)
			continue
		}
		if ind := rt.Val.GetAIndirection(); ind != nil && endsInStar(ind) {
			outs = append(outs, a.expandRow(s, ind)...)
			continue
		}
		name := rt.Name
		if name == "" {
			name = figureName(rt.Val)
		}
		outs = append(outs, col{name: name, o: a.expr(s, rt.Val)})
	}
	return outs
}

func (a *analyzer) expandStar(s *scope, qual []string) []col {
	if len(qual) == 0 {
		var cols []col
		for _, it := range s.top {
			cols = append(cols, it.cols...)
		}
		return cols
	}
	if it := s.relation(qual); it != nil {
		return it.cols
	}
	return []col{{o: unknownOrigin, spread: true}}
}

func endsInStar(ind *pg_query.A_Indirection) bool {
	return len(ind.Indirection) > 0 && ind.Indirection[len(ind.Indirection)-1].GetAStar() != nil
}

// expandRow is `(c).*` or `(c.*).*`: the columns of the row c, or of a
// composite value, which the text does not name.
func (a *analyzer) expandRow(s *scope, ind *pg_query.A_Indirection) []col {
	if fields, star := columnRefFields(ind.Arg); len(ind.Indirection) == 1 && len(fields) == 1 {
		it := s.wholeRow(fields[0])
		if star {
			it = s.relation(fields)
		}
		if it != nil {
			return it.cols
		}
	}
	return []col{{o: a.expr(s, ind.Arg).derived(), spread: true}}
}

// with binds each WITH query's columns in s. A recursive query is traced
// until its columns' origins stop growing: they only ever gain sources,
// and there are finitely many.
func (a *analyzer) with(s *scope, w *pg_query.WithClause) {
	s.ctes = map[string][]col{}
	for _, n := range w.Ctes {
		cte := n.GetCommonTableExpr()
		if cte == nil {
			continue
		}
		alias := &pg_query.Alias{Colnames: cte.Aliascolnames}
		st := cte.Ctequery.GetSelectStmt()
		if !w.Recursive || st == nil || st.Op == pg_query.SetOperation_SETOP_NONE {
			s.ctes[cte.Ctename] = renamed(a.rows(s, cte.Ctequery), alias)
		} else {
			s.ctes[cte.Ctename] = renamed(a.selectStmt(s, st.Larg), alias)
			a.recursive(s, cte.Ctename, st, alias)
		}
		s.ctes[cte.Ctename] = searchCycle(s.ctes[cte.Ctename], cte)
	}
}

// searchCycle adds the columns SEARCH and CYCLE append to a recursive
// query: the sequence, mark and path are built from the listed columns'
// values (the path is an array of them).
func searchCycle(cols []col, cte *pg_query.CommonTableExpr) []col {
	listed := func(names []*pg_query.Node) origin {
		var o origin
		for _, n := range names {
			c := nsItem{cols: cols}
			v, ok := c.column(n.GetString_().GetSval())
			if !ok {
				v = unknownOrigin
			}
			o = o.plus(v.derived())
		}
		return o
	}
	if sc := cte.SearchClause; sc != nil {
		cols = append(cols, col{name: sc.SearchSeqColumn, o: listed(sc.SearchColList)})
	}
	if cc := cte.CycleClause; cc != nil {
		o := listed(cc.CycleColList)
		cols = append(cols, col{name: cc.CycleMarkColumn, o: o}, col{name: cc.CyclePathColumn, o: o})
	}
	return cols
}

func (a *analyzer) recursive(s *scope, name string, st *pg_query.SelectStmt, alias *pg_query.Alias) {
	for range 32 {
		prev := s.ctes[name]
		next := renamed(a.selectStmt(s, st), alias)
		if len(next) != len(prev) {
			break // an error in PostgreSQL; no point iterating
		}
		if sameColumns(prev, next) {
			return
		}
		s.ctes[name] = setOperation(prev, next)
	}
	s.ctes[name] = unknownColumns(nil)
}

func sameColumns(a, b []col) bool {
	for i := range a {
		if !a[i].o.equal(a[i].o.either(b[i].o)) {
			return false
		}
	}
	return true
}
