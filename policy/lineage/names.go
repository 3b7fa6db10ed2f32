package lineage

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// figureName names an output column the way PostgreSQL's FigureColname
// does, for the cases the name matters to a reader of the result.
func figureName(n *pg_query.Node) string {
	name, _ := figure(n)
	return name
}

// figure is FigureColnameInternal: a cast's type name and "case" are weak
// names, which a stronger one inside gives way to.
func figure(n *pg_query.Node) (name string, strong bool) {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_TypeCast:
		if name, strong := figure(x.TypeCast.Arg); strong {
			return name, true
		}
		if names := x.TypeCast.GetTypeName().GetNames(); len(names) > 0 {
			return names[len(names)-1].GetString_().GetSval(), false
		}
	case *pg_query.Node_CaseExpr:
		if name, strong := figure(x.CaseExpr.Defresult); strong {
			return name, true
		}
		return "case", false
	case *pg_query.Node_CollateClause:
		return figure(x.CollateClause.Arg)
	}
	name = strongName(n)
	return name, name != "?column?"
}

func strongName(n *pg_query.Node) string {
	switch x := n.GetNode().(type) {
	case *pg_query.Node_ColumnRef:
		if fields, star := columnRefFields(n); !star && len(fields) > 0 {
			return fields[len(fields)-1]
		}
	case *pg_query.Node_FuncCall:
		return funcName(x.FuncCall)
	case *pg_query.Node_AIndirection:
		name := ""
		for _, i := range x.AIndirection.Indirection {
			if str := i.GetString_(); str != nil {
				name = str.Sval
			}
		}
		if name != "" {
			return name
		}
		return figureName(x.AIndirection.Arg)
	case *pg_query.Node_CoalesceExpr:
		return "coalesce"
	case *pg_query.Node_RowExpr:
		return "row"
	case *pg_query.Node_AArrayExpr:
		return "array"
	case *pg_query.Node_SubLink:
		return subLinkName(x.SubLink)
	case *pg_query.Node_MinMaxExpr:
		return map[pg_query.MinMaxOp]string{pg_query.MinMaxOp_IS_GREATEST: "greatest", pg_query.MinMaxOp_IS_LEAST: "least"}[x.MinMaxExpr.Op]
	case *pg_query.Node_SqlvalueFunction:
		op := x.SqlvalueFunction.Op.String()
		return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(op, "SVFOP_"), "_N"))
	case *pg_query.Node_XmlExpr:
		if op := x.XmlExpr.Op; op != pg_query.XmlExprOp_IS_DOCUMENT {
			return strings.ToLower(strings.TrimPrefix(op.String(), "IS_"))
		}
	case *pg_query.Node_XmlSerialize:
		return "xmlserialize"
	case *pg_query.Node_GroupingFunc:
		return "grouping"
	case *pg_query.Node_JsonObjectConstructor:
		return "json_object"
	case *pg_query.Node_JsonArrayConstructor, *pg_query.Node_JsonArrayQueryConstructor:
		return "json_array"
	}
	return "?column?"
}

func subLinkName(sl *pg_query.SubLink) string {
	switch sl.SubLinkType {
	case pg_query.SubLinkType_EXISTS_SUBLINK:
		return "exists"
	case pg_query.SubLinkType_ARRAY_SUBLINK:
		return "array"
	case pg_query.SubLinkType_EXPR_SUBLINK:
		if t := sl.Subselect.GetSelectStmt().GetTargetList(); len(t) == 1 {
			if rt := t[0].GetResTarget(); rt.GetName() != "" {
				return rt.Name
			} else if rt != nil {
				return figureName(rt.Val)
			}
		}
	}
	return "?column?"
}
