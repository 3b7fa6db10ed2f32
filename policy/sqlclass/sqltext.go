package sqlclass

import (
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// maxSQLTextDepth bounds SQL text run by SQL text run by ...: deeper
// text is not read (see unread).
const maxSQLTextDepth = 8

// sqlTextArg says which argument of a call of the function name with
// nargs arguments is SQL text the function runs: query_to_xml and its
// schema variants and ts_stat take it first, ts_rewrite second in its
// two-argument form (pg_proc: the functions taking a query as text).
func sqlTextArg(name string, nargs int) (int, bool) {
	switch name {
	case "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "ts_stat":
		return 0, nargs >= 1
	case "ts_rewrite":
		return 1, nargs == 2
	}
	return 0, false
}

// sqlText judges the SQL text a function runs as if it were part of the
// statement: its kinds, relations, functions and settings are the
// statement's, so that query_to_xml('select pg_read_file(...)', ...)
// meets deny_functions as the SELECT itself would. Text that is not a
// constant (a parameter, format(), concatenation), does not parse, or
// nests too deep is unread.
func (w *walker) sqlText(args []*pg_query.Node, i int, a at) {
	w.readsConstants = true
	text, ok := stringConstant(args[i])
	if !ok || hasNamedArg(args) || w.depth >= maxSQLTextDepth || strings.IndexByte(text, 0) >= 0 {
		w.unread(a)
		return
	}
	tree, err := pg_query.Parse(text)
	if err != nil || len(tree.Stmts) == 0 {
		w.unread(a)
		return
	}
	for _, raw := range tree.Stmts {
		if raw.GetStmt() == nil {
			w.unread(a)
			continue
		}
		inner := &walker{depth: w.depth + 1}
		inner.visit(raw.GetStmt().ProtoReflect(), at{root: true})
		w.merge(inner, a)
	}
}

// merge adds what inner, SQL run by the statement, does to w.
func (w *walker) merge(inner *walker, a at) {
	if len(inner.kinds) == 0 {
		inner.kinds = []sqlkind.Kind{sqlkind.Other}
	}
	w.adopt(inner, a)
	for _, e := range inner.executes {
		w.executes = appendNew(w.executes, e)
	}
	w.locksRows = w.locksRows || (inner.locksRows && !a.planOnly)
}

// unread is SQL text a function runs that gatehouse cannot read: it may
// call anything a SELECT can, set_config with any name among it, so it
// is set_role and changes a setting gatehouse cannot name, which every
// session refuses (as set_config with a computed name).
func (w *walker) unread(a at) {
	w.kind(a, sqlkind.SetRole)
	w.setting(a, SettingUnknown)
}

// tableArg reports the relation table_to_xml and its schema variants read,
// when their regclass argument is a constant name.
func (w *walker) tableArg(args []*pg_query.Node) {
	if len(args) == 0 || hasNamedArg(args) {
		return
	}
	w.readsConstants = true
	text, ok := stringConstant(args[0])
	if !ok {
		return
	}
	if name, ok := regclassName(text); ok {
		w.relations = appendNew(w.relations, name)
	}
}

func hasNamedArg(args []*pg_query.Node) bool {
	for _, arg := range args {
		if arg.GetNamedArgExpr() != nil {
			return true
		}
	}
	return false
}

// stringConstant reads an argument that is a string constant whose value
// PostgreSQL cannot read differently: bare, or cast only to
// pg_catalog.text or pg_catalog.varchar without a length. Any other cast
// may change the value ('rolex'::char(4) is 'role', and an unqualified
// type name may find a domain through search_path). Parameters, NULL and
// expressions are not read: ok is false.
func stringConstant(arg *pg_query.Node) (string, bool) {
	for arg.GetTypeCast() != nil {
		tc := arg.GetTypeCast()
		if !isPlainTextType(tc.GetTypeName()) {
			return "", false
		}
		arg = tc.GetArg()
	}
	c := arg.GetAConst()
	if c == nil || c.Isnull || c.GetSval() == nil {
		return "", false
	}
	return c.GetSval().GetSval(), true
}

// regclassName reads a relation name as regclass's input does
// (stringToQualifiedNameList): one to three identifiers separated by
// dots, unquoted ones folded to lower case, quoted ones kept with ""
// for a quote. Anything else (an OID, blanks) is not read.
func regclassName(s string) (string, bool) {
	var parts []string
	for {
		part, rest, ok := identifier(s)
		if !ok {
			return "", false
		}
		parts = append(parts, part)
		if rest == "" {
			break
		}
		if rest[0] != '.' {
			return "", false
		}
		s = rest[1:]
	}
	if len(parts) > 3 {
		return "", false
	}
	return qualified(parts...), true
}

func identifier(s string) (part, rest string, ok bool) {
	if strings.HasPrefix(s, `"`) {
		var b strings.Builder
		for i := 1; i < len(s); i++ {
			if s[i] != '"' {
				b.WriteByte(s[i])
				continue
			}
			if i+1 < len(s) && s[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			return b.String(), s[i+1:], b.Len() > 0
		}
		return "", "", false
	}
	i := 0
	for i < len(s) && (s[i] == '_' || s[i] == '$' || s[i] >= 0x80 || isAlnum(s[i])) {
		i++
	}
	if i == 0 || (s[0] >= '0' && s[0] <= '9') || s[0] == '$' {
		return "", "", false
	}
	return strings.ToLower(s[:i]), s[i:], true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
