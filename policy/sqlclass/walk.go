package sqlclass

import (
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// walker collects what one statement does while visiting every node of its
// parse tree. Each collected list keeps first-seen order without repeats.
type walker struct {
	kinds     []sqlkind.Kind
	relations []string
	functions []string
	settings  []string
	prepared  *Prepared
	executes  []string
	copy      *Copy
	locksRows bool
	// depth counts the SQL texts this walker is inside (sqlText).
	depth int
	// readsConstants: something collected depends on the value of a
	// constant (a set_config name, an EXPLAIN option, a COPY file name),
	// so the result holds for this text only, not for its shape (see
	// Classifier).
	readsConstants bool
}

// at is where in the tree a node is visited.
type at struct {
	scope *cteScope
	// root: the node is the statement itself, not part of one.
	root bool
	// planOnly: inside EXPLAIN without ANALYZE, which plans the query but
	// does not run it, so nothing in it adds a kind. Its relations and
	// functions are still reported: planning may evaluate functions, and
	// deny_functions and deny_relations should not depend on EXPLAIN.
	planOnly bool
	// inserted: the node is the source of an INSERT, where a bare VALUES
	// list is the rows to store rather than a query that reads.
	inserted bool
}

// inside is the position of a node's children.
func (a at) inside() at {
	a.root, a.inserted = false, false
	return a
}

// cteScope holds the WITH query names visible at a point of the tree;
// an unqualified name among them refers to the WITH query, not a relation
// (PostgreSQL checks every enclosing query level before the catalog).
type cteScope struct {
	names  []string
	parent *cteScope
}

func (s *cteScope) has(name string) bool {
	for ; s != nil; s = s.parent {
		if slices.Contains(s.names, name) {
			return true
		}
	}
	return false
}

func walkStatement(stmt *pg_query.Node) *walker {
	w := &walker{}
	w.visit(stmt.ProtoReflect(), at{root: true})
	if len(w.kinds) == 0 {
		w.kinds = []sqlkind.Kind{sqlkind.Other}
	}
	return w
}

func (w *walker) kind(a at, kinds ...sqlkind.Kind) {
	if a.planOnly {
		return
	}
	for _, k := range kinds {
		w.kinds = appendNew(w.kinds, k)
	}
}

// setting records parameters the statement changes, unless it is only
// planned (inside EXPLAIN without ANALYZE), like w.kind.
func (w *walker) setting(a at, names ...string) {
	if a.planOnly {
		return
	}
	for _, n := range names {
		w.settings = appendNew(w.settings, n)
	}
}

func appendNew[T comparable](list []T, s T) []T {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// visit dispatches on the node's type: the types that decide a kind from
// their contents have their own method, the rest take their kinds from
// nodeKinds, and every node's children are visited.
func (w *walker) visit(m protoreflect.Message, a at) {
	switch n := m.Interface().(type) {
	case *pg_query.Node:
		// A oneof wrapper, not a level of the tree; of its hundreds of
		// fields at most one is set.
		if fd := m.WhichOneof(m.Descriptor().Oneofs().Get(0)); fd != nil {
			w.visit(m.Get(fd).Message(), a)
		}
	case *pg_query.RangeVar:
		w.rangeVar(n, a)
	case *pg_query.FuncCall:
		w.funcCall(n, a)
		w.children(m, a.inside())
	case *pg_query.SelectStmt:
		w.selectStmt(m, n, a)
	case *pg_query.InsertStmt:
		w.insertStmt(m, n, a)
	case *pg_query.UpdateStmt:
		w.modify(m, sqlkind.Update, n.WithClause, n.Relation, a)
	case *pg_query.DeleteStmt:
		w.modify(m, sqlkind.Delete, n.WithClause, n.Relation, a)
	case *pg_query.MergeStmt:
		w.modify(m, sqlkind.Merge, n.WithClause, n.Relation, a)
	case *pg_query.ExplainStmt:
		w.explainStmt(m, n, a)
	case *pg_query.CopyStmt:
		w.copyStmt(m, n, a)
	case *pg_query.VariableSetStmt:
		w.variableSetStmt(n, a)
	case *pg_query.DiscardStmt:
		w.discardStmt(n, a)
	case *pg_query.DropStmt:
		w.dropStmt(m, n, a)
	case *pg_query.PrepareStmt:
		w.prepareStmt(n, a)
	case *pg_query.ExecuteStmt:
		w.kind(a, sqlkind.Execute)
		w.executes = appendNew(w.executes, n.Name)
		w.children(m, a.inside())
	case *pg_query.DoStmt:
		// The body is PL/pgSQL text, not a tree: DO is all we can say.
		w.kind(a, sqlkind.Do)
	case *pg_query.TransactionStmt:
		// BEGIN and START TRANSACTION may set the new transaction's modes.
		w.kind(a, sqlkind.Transaction)
		w.setting(a, transactionModes(n.Options, "transaction_read_only")...)
		w.readsConstants = w.readsConstants || len(n.Options) > 0
		w.children(m, a.inside())
	default:
		if kinds, ok := nodeKinds[string(m.Descriptor().Name())]; ok {
			w.kind(a, kinds...)
		} else if a.root {
			w.kind(a, sqlkind.Other)
		}
		w.children(m, a.inside())
	}
}

// children visits every message-typed field of m in field order, except
// the fields named in skip.
func (w *walker) children(m protoreflect.Message, a at, skip ...protoreflect.Name) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind || slices.Contains(skip, fd.Name()) {
			continue
		}
		switch {
		case fd.IsList():
			list := m.Get(fd).List()
			for j := range list.Len() {
				w.visit(list.Get(j).Message(), a)
			}
		case fd.IsMap():
			m.Get(fd).Map().Range(func(_ protoreflect.MapKey, v protoreflect.Value) bool {
				w.visit(v.Message(), a)
				return true
			})
		case m.Has(fd):
			w.visit(m.Get(fd).Message(), a)
		}
	}
}

func (w *walker) rangeVar(rv *pg_query.RangeVar, a at) {
	if rv.Schemaname == "" && rv.Catalogname == "" && a.scope.has(rv.Relname) {
		return
	}
	w.relation(rv)
}

func (w *walker) relation(rv *pg_query.RangeVar) {
	if rv == nil {
		return
	}
	w.relations = appendNew(w.relations, qualified(rv.Catalogname, rv.Schemaname, rv.Relname))
}

func qualified(parts ...string) string {
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	return strings.Join(parts, ".")
}

// with makes the names of a WITH clause visible and visits its queries.
// Without RECURSIVE a WITH query sees only the ones before it, so in
// `WITH t AS (SELECT * FROM t)` the inner t is the relation.
func (w *walker) with(wc *pg_query.WithClause, a at) *cteScope {
	if wc == nil {
		return a.scope
	}
	names := make([]string, len(wc.Ctes))
	for i, c := range wc.Ctes {
		names[i] = c.GetCommonTableExpr().GetCtename()
	}
	all := &cteScope{names: names, parent: a.scope}
	for i, c := range wc.Ctes {
		inner := a.inside()
		inner.scope = &cteScope{names: names[:i], parent: a.scope}
		if wc.Recursive {
			inner.scope = all
		}
		w.visit(c.ProtoReflect(), inner)
	}
	return all
}

func (w *walker) selectStmt(m protoreflect.Message, n *pg_query.SelectStmt, a at) {
	if len(n.ValuesLists) == 0 || !a.inserted {
		w.kind(a, sqlkind.Select)
	}
	if n.IntoClause != nil { // SELECT ... INTO creates a table
		w.kind(a, sqlkind.DDL)
		w.relation(n.IntoClause.GetRel()) // a new table, even if named like a WITH query
	}
	if len(n.LockingClause) > 0 && !a.planOnly {
		w.locksRows = true
	}
	inner := a.inside()
	inner.scope = w.with(n.WithClause, inner)
	// FOR UPDATE OF names FROM items (often aliases), already reported.
	w.children(m, inner, "with_clause", "locking_clause")
}

func (w *walker) insertStmt(m protoreflect.Message, n *pg_query.InsertStmt, a at) {
	w.kind(a, sqlkind.Insert)
	w.relation(n.Relation) // like modify's target, never a WITH query
	inner := a.inside()
	inner.scope = w.with(n.WithClause, inner)
	if n.SelectStmt != nil {
		source := inner
		source.inserted = true
		w.visit(n.SelectStmt.ProtoReflect(), source)
	}
	w.children(m, inner, "with_clause", "relation", "select_stmt")
}

// modify handles UPDATE, DELETE and MERGE. Their target is always a
// relation: PostgreSQL never resolves it to a WITH query.
func (w *walker) modify(m protoreflect.Message, kind sqlkind.Kind, wc *pg_query.WithClause, target *pg_query.RangeVar, a at) {
	w.kind(a, kind)
	if target != nil {
		w.relation(target)
		if isPgSettings(target) {
			// pg_settings' update rule calls set_config for the rows the
			// WHERE clause picks, which may be role or any other.
			w.kind(a, sqlkind.SetRole)
			w.setting(a, SettingUnknown)
		}
	}
	inner := a.inside()
	inner.scope = w.with(wc, inner)
	w.children(m, inner, "with_clause", "relation")
}

func isPgSettings(rv *pg_query.RangeVar) bool {
	return rv.Relname == "pg_settings" && (rv.Schemaname == "" || rv.Schemaname == "pg_catalog")
}

func (w *walker) explainStmt(m protoreflect.Message, n *pg_query.ExplainStmt, a at) {
	w.kind(a, sqlkind.Explain)
	inner := a.inside()
	if len(n.Options) > 0 {
		w.readsConstants = true
	}
	if !explainAnalyzes(n.Options) {
		inner.planOnly = true
	}
	w.children(m, inner)
}

// explainAnalyzes says whether EXPLAIN runs its statement. Only an
// ANALYZE option that is certainly false counts as not running, the way
// PostgreSQL's defGetBoolean reads it (none, true/false/on/off, 1/0).
func explainAnalyzes(options []*pg_query.Node) bool {
	analyze := false
	for _, o := range options {
		d := o.GetDefElem()
		if d == nil || !strings.EqualFold(d.Defname, "analyze") {
			continue
		}
		if !isFalse(d.Arg) {
			analyze = true
		}
	}
	return analyze
}

func isFalse(arg *pg_query.Node) bool {
	switch v := arg.GetNode().(type) {
	case *pg_query.Node_Integer:
		return v.Integer.GetIval() == 0
	case *pg_query.Node_Boolean:
		return !v.Boolean.GetBoolval()
	case *pg_query.Node_String_:
		s := v.String_.GetSval()
		return strings.EqualFold(s, "false") || strings.EqualFold(s, "off")
	}
	return false
}

// copyStmt: COPY FROM and COPY TO, plus the query of COPY (query) TO. A
// server-side file or program is also "other": the data never passes the
// proxy (so it cannot be masked or recorded) and PROGRAM runs a shell
// command, so a policy allowing copy_to has not allowed that.
func (w *walker) copyStmt(m protoreflect.Message, n *pg_query.CopyStmt, a at) {
	if n.IsFrom {
		w.kind(a, sqlkind.CopyFrom)
	} else {
		w.kind(a, sqlkind.CopyTo)
	}
	if n.IsProgram || n.Filename != "" {
		w.kind(a, sqlkind.Other)
	}
	// The file name is a string constant, and an empty one reads as none.
	w.readsConstants = true
	if a.root {
		w.copy = copyOf(n)
	}
	w.children(m, a.inside())
}

// copyOf is what a COPY statement says of its data's form.
func copyOf(n *pg_query.CopyStmt) *Copy {
	c := &Copy{To: !n.IsFrom, Stdio: !n.IsProgram && n.Filename == "", Options: map[string]string{}}
	for _, o := range n.Options {
		d := o.GetDefElem()
		if d == nil {
			c.Options["?"] = "?"
			continue
		}
		c.Options[asciiLower(d.Defname)] = optionValue(d.Arg)
	}
	return c
}

// optionValue renders a COPY option's argument: a string as written, a
// boolean as true or false, a number in decimal, * as "*", none as "",
// anything else as "?".
func optionValue(arg *pg_query.Node) string {
	switch v := arg.GetNode().(type) {
	case nil:
		return ""
	case *pg_query.Node_String_:
		return v.String_.GetSval()
	case *pg_query.Node_Boolean:
		return strconv.FormatBool(v.Boolean.GetBoolval())
	case *pg_query.Node_Integer:
		return strconv.Itoa(int(v.Integer.GetIval()))
	case *pg_query.Node_AStar:
		return "*"
	}
	return "?"
}

// variableSetStmt: SET/RESET of role or session_authorization is set_role
// wherever it appears (also as a stored setting, as in ALTER ROLE ... SET
// role, ALTER DATABASE ... SET, CREATE FUNCTION ... SET). Any other SET or
// RESET is set when it is the statement; stored inside another statement it
// is part of that statement's kind. RESET ALL is set: PostgreSQL leaves
// role and session_authorization alone on RESET ALL.
//
// Wherever it appears it also reports the parameters it sets, resets or
// stores (see Statement.Settings).
func (w *walker) variableSetStmt(n *pg_query.VariableSetStmt, a at) {
	switch {
	case isRoleSetting(n.Name):
		w.kind(a, sqlkind.SetRole)
	case a.root:
		w.kind(a, sqlkind.Set)
	}
	w.setting(a, variableSettings(n)...)
	if n.Kind == pg_query.VariableSetKind_VAR_SET_MULTI {
		w.readsConstants = true // transaction modes are constants
	}
}

// variableSettings are the parameters a SET or RESET (or the same stored
// by ALTER ROLE, ALTER DATABASE, ALTER SYSTEM, CREATE or ALTER FUNCTION)
// changes. The parser has already spelled the special forms as parameter
// names: SET TIME ZONE is timezone, SET ROLE role, SET SESSION
// AUTHORIZATION session_authorization, SET NAMES client_encoding, SET
// SCHEMA search_path.
func variableSettings(n *pg_query.VariableSetStmt) []string {
	switch n.Kind {
	case pg_query.VariableSetKind_VAR_SET_VALUE, pg_query.VariableSetKind_VAR_SET_DEFAULT,
		pg_query.VariableSetKind_VAR_SET_CURRENT, pg_query.VariableSetKind_VAR_RESET:
		return settingNames(n.Name)
	case pg_query.VariableSetKind_VAR_RESET_ALL:
		return []string{SettingAll}
	case pg_query.VariableSetKind_VAR_SET_MULTI:
		// The grammar's names for the SET forms that are not one
		// parameter (gram.y, set_rest); PostgreSQL's ExecSetVariableStmt
		// sets transaction_* or default_transaction_* from their modes.
		switch n.Name {
		case "TRANSACTION":
			return transactionModes(n.Args, "transaction_read_only")
		case "SESSION CHARACTERISTICS":
			return transactionModes(n.Args, "default_transaction_read_only")
		case "TRANSACTION SNAPSHOT":
			return nil // imports a snapshot; no parameter changes
		}
	}
	return []string{SettingUnknown}
}

// transactionModes reads the modes of BEGIN, START TRANSACTION, SET
// TRANSACTION or SET SESSION CHARACTERISTICS AS TRANSACTION: READ WRITE
// (transaction_read_only false) may lift a read-only default, so it reports
// readOnly, the parameter it sets. READ ONLY only tightens, and the
// isolation level and DEFERRABLE are not reported. A mode the grammar does
// not produce, or a READ value that is not certainly true, counts as
// unknown or as READ WRITE.
func transactionModes(options []*pg_query.Node, readOnly string) []string {
	var out []string
	for _, o := range options {
		d := o.GetDefElem()
		switch {
		case d == nil:
			out = appendNew(out, SettingUnknown)
		case d.Defname == "transaction_read_only":
			if !isTrueConst(d.Arg) {
				out = appendNew(out, readOnly)
			}
		case d.Defname == "transaction_isolation", d.Defname == "transaction_deferrable":
		default:
			out = appendNew(out, SettingUnknown)
		}
	}
	return out
}

// isTrueConst says whether a transaction mode's value is certainly true:
// the grammar writes READ ONLY as the integer constant 1.
func isTrueConst(arg *pg_query.Node) bool {
	c := arg.GetAConst()
	if c == nil || c.Isnull {
		return false
	}
	switch v := c.Val.(type) {
	case *pg_query.A_Const_Ival:
		return v.Ival.GetIval() != 0
	case *pg_query.A_Const_Boolval:
		return v.Boolval.GetBoolval()
	}
	return false
}

const (
	// SettingAll is RESET ALL or DISCARD ALL: every parameter may go back
	// to its default.
	SettingAll = "all"
	// SettingUnknown is a parameter the text does not name (set_config
	// with a computed name, SQL text that is not a constant).
	SettingUnknown = "*"
)

// oldSettingNames are the obsolete names PostgreSQL still maps to a
// parameter (guc.c, map_old_guc_names); ssl_groups is PostgreSQL 18's name.
var oldSettingNames = map[string]string{
	"sort_mem":       "work_mem",
	"vacuum_mem":     "maintenance_work_mem",
	"ssl_ecdh_curve": "ssl_groups",
}

// settingNames reports a parameter name as PostgreSQL compares it (ASCII
// letters folded, guc_name_compare), plus the current name when it is an
// obsolete one. An empty name, which PostgreSQL refuses, is unknown.
func settingNames(name string) []string {
	if name == "" {
		return []string{SettingUnknown}
	}
	name = asciiLower(name)
	if current, ok := oldSettingNames[name]; ok {
		return []string{name, current}
	}
	return []string{name}
}

func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

func isRoleSetting(name string) bool {
	return strings.EqualFold(name, "role") || strings.EqualFold(name, "session_authorization")
}

// discardStmt: DISCARD ALL includes SET SESSION AUTHORIZATION DEFAULT
// and RESET ALL (which itself leaves session_authorization alone).
func (w *walker) discardStmt(n *pg_query.DiscardStmt, a at) {
	if n.Target == pg_query.DiscardMode_DISCARD_ALL {
		w.kind(a, sqlkind.SetRole)
		w.setting(a, SettingAll, "session_authorization")
		return
	}
	w.kind(a, sqlkind.Set)
}

// dropStmt names dropped relations as names, not RangeVars; they are
// reported with the relations so that deny_relations covers DROP too.
func (w *walker) dropStmt(m protoreflect.Message, n *pg_query.DropStmt, a at) {
	w.kind(a, sqlkind.DDL)
	if dropsRelations(n.RemoveType) {
		for _, o := range n.Objects {
			var parts []string
			for _, item := range o.GetList().GetItems() {
				parts = append(parts, item.GetString_().GetSval())
			}
			if name := qualified(parts...); name != "" {
				w.relations = appendNew(w.relations, name)
			}
		}
	}
	w.children(m, a.inside())
}

func dropsRelations(t pg_query.ObjectType) bool {
	switch t {
	case pg_query.ObjectType_OBJECT_TABLE, pg_query.ObjectType_OBJECT_VIEW,
		pg_query.ObjectType_OBJECT_MATVIEW, pg_query.ObjectType_OBJECT_FOREIGN_TABLE,
		pg_query.ObjectType_OBJECT_SEQUENCE, pg_query.ObjectType_OBJECT_INDEX:
		return true
	}
	return false
}

// prepareStmt: PREPARE stores a statement for later; it is judged now by
// what that statement will do (prepare plus its kinds), and what it does is
// kept in Prepared for the EXECUTEs that follow.
func (w *walker) prepareStmt(n *pg_query.PrepareStmt, a at) {
	w.kind(a, sqlkind.Prepare)
	inner := &walker{}
	if n.Query != nil {
		inner.visit(n.Query.ProtoReflect(), at{root: true})
	}
	if len(inner.kinds) == 0 {
		inner.kinds = []sqlkind.Kind{sqlkind.Other}
	}
	w.readsConstants = w.readsConstants || inner.readsConstants
	w.prepared = &Prepared{
		Name:      n.Name,
		Kinds:     inner.kinds,
		Relations: inner.relations,
		Functions: inner.functions,
		Settings:  inner.settings,
	}
	w.adopt(inner, a)
}

// adopt adds the kinds, settings, relations and functions of inner, a
// statement the one walked stores or runs, to w.
func (w *walker) adopt(inner *walker, a at) {
	w.kind(a, inner.kinds...)
	w.setting(a, inner.settings...)
	for _, r := range inner.relations {
		w.relations = appendNew(w.relations, r)
	}
	for _, f := range inner.functions {
		w.functions = appendNew(w.functions, f)
	}
}

// funcCall reports the function and the kinds a function call does:
// set_config sets a parameter (set_role when that parameter is role or
// session_authorization, or cannot be told from the text) and reports it
// in the settings ("*" when it cannot be told), pg_notify notifies. Any
// schema's function of that name counts, as a wrapper shadowing the
// built-in may be on the search_path.
func (w *walker) funcCall(n *pg_query.FuncCall, a at) {
	parts := make([]string, 0, len(n.Funcname))
	for _, p := range n.Funcname {
		parts = append(parts, strings.ToLower(p.GetString_().GetSval()))
	}
	w.functions = appendNew(w.functions, qualified(parts...))
	if len(parts) == 0 {
		return
	}
	switch parts[len(parts)-1] {
	case "set_config":
		w.readsConstants = true
		name, ok := setConfigName(n.Args)
		// PostgreSQL does not trim the name; trimming only widens set_role.
		if !ok || isRoleSetting(strings.TrimSpace(name)) {
			w.kind(a, sqlkind.SetRole)
		} else {
			w.kind(a, sqlkind.Set)
		}
		if ok {
			w.setting(a, settingNames(name)...)
		} else {
			w.setting(a, SettingUnknown)
		}
	case "pg_notify":
		w.kind(a, sqlkind.ListenNotify)
	case "table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema":
		w.tableArg(n.Args)
	}
	if i, ok := sqlTextArg(parts[len(parts)-1], len(n.Args)); ok {
		w.sqlText(n.Args, i, a)
	}
}

// setConfigName reads set_config's first argument when it is a string
// constant (see stringConstant). Named arguments, parameters, NULL and
// expressions are not read: ok is false.
func setConfigName(args []*pg_query.Node) (name string, ok bool) {
	if len(args) == 0 {
		return "", false
	}
	return stringConstant(args[0])
}

// isPlainTextType: pg_catalog.text or pg_catalog.varchar (the keyword
// spellings VARCHAR and CHARACTER VARYING are parsed as the latter), with
// no length, array bounds, SETOF or %TYPE.
func isPlainTextType(t *pg_query.TypeName) bool {
	if t == nil || len(t.Typmods) > 0 || len(t.ArrayBounds) > 0 || t.Setof || t.PctType || t.Typemod != -1 || len(t.Names) != 2 {
		return false
	}
	if t.Names[0].GetString_().GetSval() != "pg_catalog" {
		return false
	}
	switch t.Names[1].GetString_().GetSval() {
	case "text", "varchar":
		return true
	}
	return false
}
