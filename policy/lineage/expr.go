package lineage

import (
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// expr is the origin of an expression's value. Nodes without a rule of
// their own (operators, CASE, COALESCE, arrays, rows, JSON constructors)
// are computed from everything inside them.
func (a *analyzer) expr(s *scope, n *pg_query.Node) origin {
	if a.exhausted() {
		return unknownOrigin
	}
	switch x := n.GetNode().(type) {
	case nil:
		return origin{}
	case *pg_query.Node_ColumnRef:
		fields, star := columnRefFields(n)
		return s.columnRef(fields, star)
	case *pg_query.Node_AConst, *pg_query.Node_ParamRef, *pg_query.Node_SetToDefault:
		return origin{}
	case *pg_query.Node_FuncCall:
		return a.funcCall(s, x.FuncCall)
	case *pg_query.Node_SubLink:
		return a.subLink(s, x.SubLink)
	case *pg_query.Node_SelectStmt, *pg_query.Node_InsertStmt, *pg_query.Node_UpdateStmt, *pg_query.Node_DeleteStmt:
		var o origin
		for _, c := range a.rows(s.child(), n) {
			o = o.plus(c.o)
		}
		return o.derived()
	case *pg_query.Node_ResTarget:
		return a.expr(s, x.ResTarget.Val)
	case *pg_query.Node_AIndirection:
		if o, ok := a.rowField(s, x.AIndirection); ok {
			return o
		}
	}
	return a.generic(s, n).derived()
}

// rowField traces (c).col, a field of a whole-row reference, to the
// column itself; further subscripts or fields make it derived.
func (a *analyzer) rowField(s *scope, ind *pg_query.A_Indirection) (origin, bool) {
	fields, star := columnRefFields(ind.Arg)
	if star || len(fields) != 1 || len(ind.Indirection) == 0 || ind.Indirection[0].GetString_() == nil {
		return origin{}, false
	}
	it := s.wholeRow(fields[0])
	if it == nil {
		return origin{}, false
	}
	o, ok := it.column(ind.Indirection[0].GetString_().Sval)
	if !ok {
		return unknownOrigin, true
	}
	for _, more := range ind.Indirection[1:] {
		o = o.plus(a.generic(s, more)).derived()
	}
	return o, true
}

// generic sums the origins of every expression inside m.
func (a *analyzer) generic(s *scope, n *pg_query.Node) origin {
	m := n.ProtoReflect()
	if fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0)); fd != nil {
		return a.fields(s, m.Get(fd).Message())
	}
	return origin{}
}

func (a *analyzer) fields(s *scope, m protoreflect.Message) origin {
	var o origin
	eachChild(m, func(c protoreflect.Message) { o = o.plus(a.message(s, c)) })
	return o
}

// eachChild calls fn with each message-typed field of m, list elements
// one by one.
func eachChild(m protoreflect.Message, fn func(protoreflect.Message)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() != protoreflect.MessageKind || fd.IsMap():
		case fd.IsList():
			for i := range v.List().Len() {
				fn(v.List().Get(i).Message())
			}
		default:
			fn(v.Message())
		}
		return true
	})
}

func (a *analyzer) message(s *scope, m protoreflect.Message) origin {
	if n, ok := m.Interface().(*pg_query.Node); ok {
		return a.expr(s, n)
	}
	return a.fields(s, m)
}

func (a *analyzer) funcCall(s *scope, fc *pg_query.FuncCall) origin {
	builtin := a.function(stringsOf(fc.Funcname))
	var o origin
	for _, arg := range fc.Args {
		o = o.plus(a.expr(s, arg))
	}
	for _, sb := range fc.AggOrder {
		o = o.plus(a.expr(s, sb.GetSortBy().GetNode()))
	}
	if fc.AggFilter != nil {
		f := a.expr(s, fc.AggFilter)
		a.probe(f, "FILTER")
		o = o.plus(f)
	}
	if w := fc.Over; w != nil {
		if w.Name != "" {
			o = o.plus(s.window(w.Name))
		} else {
			o = o.plus(a.windowDef(s, w))
		}
	}
	if a.returnsSet(stringsOf(fc.Funcname)) {
		a.probe(o, "a set-returning function")
	}
	switch {
	case slices.Contains(opaqueFunctions, builtin):
		// Whatever the text does — read masked columns, pass them to a
		// sink — happens out of sight, wherever the call sits.
		a.readsMasked = true
		a.refuse("%s() runs SQL given as text, or reads a relation or cursor named by a value, which masking "+
			"cannot trace; run the query itself instead", builtin)
		return unknownOrigin
	case slices.Contains(sinkFunctions, builtin):
		a.sink(o, builtin)
	}
	return o.derived()
}

// subLink is a subquery in an expression. EXISTS yields only whether
// rows came back (its filters are probes of their own); a scalar
// subquery of one column is that column.
func (a *analyzer) subLink(s *scope, sl *pg_query.SubLink) origin {
	cols := a.rows(s.child(), sl.Subselect)
	o := a.expr(s, sl.Testexpr)
	switch sl.SubLinkType {
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		return o
	case pg_query.SubLinkType_EXPR_SUBLINK:
		if len(cols) == 1 && !cols[0].spread {
			return cols[0].o
		}
	}
	for _, c := range cols {
		o = o.plus(c.o)
	}
	return o.derived()
}

// columnRefFields gives a column reference's names, and whether it ends
// in `*`.
func columnRefFields(n *pg_query.Node) ([]string, bool) {
	ref := n.GetColumnRef()
	if ref == nil {
		return nil, false
	}
	var names []string
	for _, f := range ref.Fields {
		if f.GetAStar() != nil {
			return names, true
		}
		names = append(names, f.GetString_().GetSval())
	}
	return names, false
}

func stringsOf(list []*pg_query.Node) []string {
	out := make([]string, len(list))
	for i, n := range list {
		out[i] = n.GetString_().GetSval()
	}
	return out
}
