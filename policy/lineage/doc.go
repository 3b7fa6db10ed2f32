// Package lineage traces where the values of a SQL statement's output
// columns come from, so that masking can follow what a column is rather
// than what it is called. It parses with PostgreSQL's own parser
// (libpg_query through pg_query_go), asks a Catalog only what the text
// cannot say, makes no decisions beyond the masking verdict, and imports no
// other gatehouse package.
//
// # Contract
//
// Analyze takes one statement and returns, for each output column in the
// order PostgreSQL produces them (`*` and `t.*` expanded from the
// catalog's column lists), one of:
//   - Direct(schema.table.column): the value is exactly a base column,
//     through aliases, quoting, search_path, joins, subqueries, WITH
//     queries, views and materialized views (expanded through their
//     definitions, at most MaxViewDepth deep), UNION arms that all return
//     the same column, and partitions (masked like their ancestors).
//   - Derived(sources): computed from the masked columns listed, through
//     any expression: casts, operators, CASE, COALESCE, function calls,
//     aggregates (their ORDER BY and FILTER too), window functions (their
//     PARTITION BY and ORDER BY too), subqueries, UNION arms, and
//     whole-row references (`c`, `c.*`, `row_to_json(c)`, `c::text`),
//     which carry every column of the row.
//   - Clean: no masked column feeds it.
//   - Unknown: it cannot be traced: a relation the catalog does not know,
//     a view too deep or unparsable, a pg_catalog function that runs SQL
//     given as text (query_to_xml, ts_stat), a node this package does not
//     model. A set-returning function in FROM without a column list gives
//     an output marked Spread: any number of columns of that origin.
//
// Outputs are a query's select list, the RETURNING list of INSERT, UPDATE
// and DELETE (also inside WITH), what a later FETCH returns for DECLARE
// CURSOR, what a later EXECUTE returns for PREPARE, the columns of COPY
// (query) TO and COPY table [(columns)] TO, and one Clean column for
// EXPLAIN (whose statement is still analysed: EXPLAIN ANALYZE runs it).
//
// Besides outputs, Analyze reports the masked columns used in probing
// positions (WHERE, JOIN ON and USING, ORDER BY, GROUP BY, HAVING, window
// PARTITION BY and ORDER BY, DISTINCT ON, aggregate FILTER, ON CONFLICT,
// LIMIT/OFFSET, which a subquery can make depend on a masked value, and
// the arguments of a function in FROM or of a set-returning function
// anywhere, which may set how many rows it returns)
// and the functions called that are not built in: a function is built in
// when initdb created it (Function.BuiltIn, proved by its OID, not by its
// schema, since a role allowed DDL can create functions in pg_catalog). A
// view's definition is read as it was made: names resolved under an
// empty search_path.
//
// # Verdict
//
// While masking applies (Options.Masked is not empty), Result.Refuse says
// why the statement must not run, failing closed:
//   - it calls a function that is not built in and that AllowFunctions
//     does not list (its body can read masked columns out of sight), or a
//     function the catalog cannot find, runs a DO block, or creates code
//     that runs later (functions, procedures, triggers, rules, event
//     triggers);
//   - it calls, anywhere, a built-in that runs SQL given as text or reads
//     a relation or cursor named by a value (query_to_xml, ts_stat,
//     table_to_xml, cursor_to_xml; see opaqueFunctions);
//   - it stores masked values where they are not masked (INSERT ...
//     SELECT, UPDATE ... SET, SELECT INTO, CREATE TABLE AS, and the
//     pg_catalog functions whose arguments become visible elsewhere:
//     set_config, pg_notify, large objects, sequences, advisory locks
//     (pg_locks lists their keys), pg_cancel_backend and
//     pg_terminate_backend (a warning names the pid), replication slots
//     and origins, pg_logical_emit_message; see sinkFunctions), from where
//     the next statement, or another session, could read them unmasked;
//   - it is a statement this package does not trace (MERGE, CREATE VIEW,
//     DDL, maintenance) and names a relation with masked columns;
//   - DenyProbing is set and a masked column, or an untraced value while
//     masked columns are read, sits in a probing position;
//   - it reads masked columns (or might: an unknown relation, the
//     pg_stats views, whose sampled values include masked
//     columns) and an output, or a stored value, cannot be traced.
//
// Analyze keeps no state between calls: it is safe for concurrent use
// when the Catalog is, and its result depends only on the text, the
// options and the catalog's answers, so a caller may cache it by those
// (BenchmarkAnalyze: about a millisecond for a join of a view and a CTE).
//
// # Implementing Catalog
//
// Against PostgreSQL, with the session's search_path set on the catalog
// connection: Relation is to_regclass on the quoted name (NULL is
// ErrNotFound), then pg_class.relkind (r, p: Table; f: ForeignTable; v:
// View; m: MaterializedView), pg_attribute (attnum > 0, not attisdropped,
// by attnum), pg_get_viewdef(oid) with an empty search_path for Definition,
// and pg_inherits followed upwards for Ancestors. Functions is, for each
// pg_proc.pronamespace name holding functions called name in the given
// schema or in current_schemas(true), whether all their OIDs are below
// 16384 (BuiltIn); Operators is pg_operator.oprcode's schema, name and
// provenance for the operators called name; Casts is pg_cast.castfunc's
// with an OID of 16384 or above, for casts to the type named, or with a
// castcontext other than e.
//
// The caller decides what to do with Direct and Derived outputs (mask
// them, or refuse by on_derived). What the text and the Catalog cannot
// show is out of reach: type input and output functions and domain
// constraints (operators and casts are judged by the functions behind
// them, see Catalog.Operators and Catalog.Casts), the bodies of functions allowed by AllowFunctions, and values
// that PostgreSQL echoes in error messages (`'123-45-6789'::int` fails
// with the value in the message; the proxy withholds those messages).
package lineage
