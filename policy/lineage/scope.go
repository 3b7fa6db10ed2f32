package lineage

import "slices"

// col is one column of a FROM item or of a query's result.
type col struct {
	name string
	o    origin
	// spread: stands for any number of columns not known by name.
	spread bool
}

// nsItem is one name-space entry of a FROM clause, after PostgreSQL's
// ParseNamespaceItem: a relation, subquery, function or join that
// qualified names can reach (relVisible) and whose columns unqualified
// names can reach (colsVisible).
type nsItem struct {
	// name is the alias, or the relation's own name when it has none;
	// schema is set only then, for schema.table.column references.
	name, schema string
	cols         []col
	relVisible   bool
	colsVisible  bool
	// table: a table's system columns (ctid, xmin, tableoid...) answer
	// too, carrying no column's data.
	table bool
}

var systemColumns = []string{"ctid", "xmin", "xmax", "cmin", "cmax", "tableoid"}

func (it *nsItem) column(name string) (origin, bool) {
	var spread *origin
	for i := range it.cols {
		c := &it.cols[i]
		if c.spread {
			spread = &c.o
		} else if c.name == name {
			return c.o, true
		}
	}
	if spread != nil {
		return *spread, true
	}
	return origin{}, it.table && slices.Contains(systemColumns, name)
}

// whole is the origin of a whole-row reference to the item (`c`,
// `c.*`, `row_to_json(c)`): every column feeds it.
func (it *nsItem) whole() origin {
	var o origin
	for _, c := range it.cols {
		o = o.plus(c.o.derived())
	}
	return o
}

// scope is one query level: its FROM items, WITH queries and named
// windows, and the enclosing level that correlated references reach.
type scope struct {
	parent  *scope
	items   []*nsItem
	top     []*nsItem // FROM items in order, for `*`
	ctes    map[string][]col
	windows map[string]origin
}

func (s *scope) child() *scope { return &scope{parent: s} }

func (s *scope) cte(name string) ([]col, bool) {
	for ; s != nil; s = s.parent {
		if cols, ok := s.ctes[name]; ok {
			return cols, true
		}
	}
	return nil, false
}

func (s *scope) window(name string) origin {
	for ; s != nil; s = s.parent {
		if o, ok := s.windows[name]; ok {
			return o
		}
	}
	return unknownOrigin
}

// columnRef resolves a column reference the way PostgreSQL's
// transformColumnRef does: a bare name is a column of some level before
// it is a whole-row reference; a qualified one names an item first.
func (s *scope) columnRef(fields []string, star bool) origin {
	if star {
		if it := s.relation(fields); it != nil {
			return it.whole()
		}
		return unknownOrigin
	}
	switch len(fields) {
	case 1:
		for l := s; l != nil; l = l.parent {
			if o, ok := l.unqualified(fields[0]); ok {
				return o
			}
		}
		if it := s.relation(fields); it != nil {
			return it.whole()
		}
	case 2, 3:
		if it := s.relation(fields[:len(fields)-1]); it != nil {
			if o, ok := it.column(fields[len(fields)-1]); ok {
				return o
			}
			// (c).field written without parentheses is not valid SQL, so
			// an unknown column here is an error PostgreSQL will raise.
		}
	}
	return unknownOrigin
}

func (s *scope) unqualified(name string) (origin, bool) {
	for _, it := range s.items {
		if it.colsVisible {
			if o, ok := it.column(name); ok {
				return o, true
			}
		}
	}
	return origin{}, false
}

// relation finds the item that [schema.]name refers to at the nearest
// level that has one.
func (s *scope) relation(qual []string) *nsItem {
	if len(qual) == 0 || len(qual) > 2 {
		return nil
	}
	for l := s; l != nil; l = l.parent {
		for _, it := range l.items {
			if !it.relVisible || it.name != qual[len(qual)-1] {
				continue
			}
			if len(qual) == 1 || it.schema == qual[0] {
				return it
			}
		}
	}
	return nil
}

// wholeRow is the item a bare name refers to as a whole row: one no level
// has a column of that name.
func (s *scope) wholeRow(name string) *nsItem {
	for l := s; l != nil; l = l.parent {
		if _, ok := l.unqualified(name); ok {
			return nil
		}
	}
	return s.relation([]string{name})
}
