package lineage

import (
	"fmt"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// operators notes the operators used anywhere in the tree m: in
// expressions, ANY/ALL subqueries and ORDER BY ... USING. An operator is
// a call of its function in disguise, so one created after initdb (its
// function not built in) is reported like a call of that function. The
// types cast to are noted for casts.
func (a *analyzer) operators(m protoreflect.Message) {
	switch x := m.Interface().(type) {
	case *pg_query.A_Expr:
		for _, name := range exprOperators(x) {
			a.operator(name)
		}
	case *pg_query.SubLink:
		a.operator(stringsOf(x.OperName))
	case *pg_query.SortBy:
		a.operator(stringsOf(x.UseOp))
	case *pg_query.TypeCast:
		if names := x.GetTypeName().GetNames(); len(names) > 0 {
			if t := names[len(names)-1].GetString_().GetSval(); !slices.Contains(a.castTargets, t) {
				a.castTargets = append(a.castTargets, t)
			}
		}
	}
	eachChild(m, a.operators)
}

// exprOperators are the operators an A_Expr uses: its name, or for
// BETWEEN the comparisons PostgreSQL rewrites it into.
func exprOperators(x *pg_query.A_Expr) [][]string {
	switch x.Kind {
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		return [][]string{{"<="}, {">="}, {"<"}, {">"}}
	}
	return [][]string{stringsOf(x.Name)}
}

// operator reports the functions, not built in, behind the operators
// named by parts that an expression could use.
func (a *analyzer) operator(parts []string) {
	if len(parts) == 0 {
		return
	}
	schema, name := strings.Join(parts[:len(parts)-1], "."), parts[len(parts)-1]
	cacheKey := "operator " + qualifiedName(schema, name) + " " + strings.Join(a.opts.SearchPath, ",")
	if _, seen := a.funcOutside[cacheKey]; seen {
		return
	}
	a.funcOutside[cacheKey] = true
	fns, err := a.opts.Catalog.Operators(a.ctx, a.opts.SearchPath, schema, name)
	if err != nil && !isNotFound(err) {
		a.fail(fmt.Errorf("lineage: resolve operator %s: %w", qualifiedName(schema, name), err))
		return
	}
	for _, f := range fns {
		reported := qualifiedName(f.Schema, f.Name)
		if !f.BuiltIn && !slices.Contains(a.functions, reported) {
			a.functions = append(a.functions, reported)
		}
	}
}

// casts reports the functions, not built in, of the casts the statement
// may use: those to a type it casts to, by name, and every one
// PostgreSQL may apply without a cast written.
func (a *analyzer) casts() {
	for _, target := range append([]string{""}, a.castTargets...) {
		fns, err := a.opts.Catalog.Casts(a.ctx, target)
		if err != nil && !isNotFound(err) {
			a.fail(fmt.Errorf("lineage: look up casts to %q: %w", target, err))
			return
		}
		for _, fn := range fns {
			if f := qualifiedName(fn.Schema, fn.Name); !fn.BuiltIn && !slices.Contains(a.functions, f) {
				a.functions = append(a.functions, f)
			}
		}
	}
}
