package lineage

import (
	"cmp"
	"slices"
)

// origin is where one value comes from.
type origin struct {
	// direct: the value is exactly column.
	direct bool
	column Column
	// masked are the masked columns feeding the value, sorted, no repeats.
	masked []Column
	// unknown: something feeding the value cannot be traced.
	unknown bool
}

var unknownOrigin = origin{unknown: true}

// derived is o as an input of a computation: no longer the column itself.
func (o origin) derived() origin {
	o.direct = false
	o.column = Column{}
	return o
}

// plus is the origin of a value computed from both o and p.
func (o origin) plus(p origin) origin {
	r := origin{unknown: o.unknown || p.unknown}
	r.masked = mergeColumns(o.masked, p.masked)
	return r
}

// either is the origin of a value that is o in some rows and p in others
// (a UNION's column, a recursive CTE's column): still Direct when both
// are the same column.
func (o origin) either(p origin) origin {
	if o.direct && p.direct && o.column == p.column {
		return o
	}
	return o.derived().plus(p.derived())
}

func mergeColumns(a, b []Column) []Column {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := slices.Concat(a, b)
	slices.SortFunc(out, compareColumns)
	return slices.Compact(out)
}

func compareColumns(a, b Column) int {
	return cmp.Or(cmp.Compare(a.Schema, b.Schema), cmp.Compare(a.Table, b.Table), cmp.Compare(a.Name, b.Name))
}

func sumOrigins(os []origin) origin {
	var r origin
	for _, o := range os {
		r = r.plus(o)
	}
	return r
}

func (o origin) output(name string) Output {
	out := Output{Name: name, Sources: o.masked}
	switch {
	case o.unknown:
		out.Kind = Unknown
	case o.direct:
		out.Kind, out.Column = Direct, o.column
	case len(o.masked) > 0:
		out.Kind = Derived
	default:
		out.Kind = Clean
	}
	return out
}

func (o origin) equal(p origin) bool {
	return o.direct == p.direct && o.column == p.column && o.unknown == p.unknown && slices.Equal(o.masked, p.masked)
}
