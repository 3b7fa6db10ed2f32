package lineage

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// join adds a JOIN's items to s the way PostgreSQL's
// transformFromClauseItem does: with an alias the join hides its inputs;
// without one the inputs answer qualified names and the join answers
// unqualified ones, merged USING columns first.
func (a *analyzer) join(s *scope, j *pg_query.JoinExpr) *nsItem {
	first := len(s.items)
	left := a.fromItem(s, j.Larg)
	right := a.fromItem(s, j.Rarg)
	using := usingNames(j, left, right)
	it := &nsItem{colsVisible: true}
	var merged []col
	for _, name := range using {
		lo, ro := usingColumn(left, name), usingColumn(right, name)
		a.probe(lo, "JOIN")
		a.probe(ro, "JOIN")
		merged = append(merged, col{name: name, o: mergedUsing(j.Jointype, lo, ro)})
	}
	it.cols = slices.Concat(merged, without(left.cols, using), without(right.cols, using))
	if j.Quals != nil {
		// ON sees both inputs by name, whatever the join is called.
		a.probe(a.expr(s, j.Quals), "JOIN")
	}
	if j.Alias != nil {
		it.name, it.relVisible = j.Alias.Aliasname, true
		it.cols = renamed(it.cols, j.Alias)
		s.items = s.items[:first]
	} else {
		for _, child := range s.items[first:] {
			child.colsVisible = false
		}
		if j.JoinUsingAlias != nil {
			s.items = append(s.items, &nsItem{name: j.JoinUsingAlias.Aliasname, cols: merged, relVisible: true})
		}
	}
	s.items = append(s.items, it)
	return it
}

// usingColumn is a join input's column of a USING list, Unknown when
// the input has none (an error in PostgreSQL, but not one to trust).
func usingColumn(it *nsItem, name string) origin {
	if o, ok := it.column(name); ok {
		return o
	}
	return unknownOrigin
}

// mergedUsing is the origin of a USING column: the left input's for
// inner and left joins, the right's for right joins, either for full.
func mergedUsing(t pg_query.JoinType, lo, ro origin) origin {
	switch t {
	case pg_query.JoinType_JOIN_RIGHT:
		return ro
	case pg_query.JoinType_JOIN_FULL:
		return lo.derived().plus(ro.derived())
	default:
		return lo
	}
}

func usingNames(j *pg_query.JoinExpr, left, right *nsItem) []string {
	var names []string
	if j.IsNatural {
		for _, c := range left.cols {
			if c.spread {
				continue
			}
			if slices.ContainsFunc(right.cols, func(r col) bool { return !r.spread && r.name == c.name }) {
				names = append(names, c.name)
			}
		}
		return names
	}
	for _, n := range j.UsingClause {
		names = append(names, n.GetString_().GetSval())
	}
	return names
}

func without(cols []col, names []string) []col {
	return slices.DeleteFunc(slices.Clone(cols), func(c col) bool {
		return !c.spread && slices.Contains(names, c.name)
	})
}
