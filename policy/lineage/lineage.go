package lineage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// ErrNotFound is what a Catalog returns (possibly wrapped) for a name that
// resolves to nothing. Analyze treats such a relation as one that may hold
// masked columns, since a name it cannot see might still be one
// PostgreSQL can.
var ErrNotFound = errors.New("lineage: not found")

// Catalog answers the questions about the database that the text of a
// statement cannot. The proxy implements it against the upstream catalog.
type Catalog interface {
	// Relation resolves a relation name as PostgreSQL would under
	// searchPath (pg_temp and pg_catalog searched where PostgreSQL
	// searches them); schema is empty when the statement did not qualify
	// the name.
	Relation(ctx context.Context, searchPath []string, schema, name string) (Relation, error)
	// Functions lists, by schema, the functions called name that a call
	// could resolve to under searchPath (or in schema, when the call
	// qualifies it); empty when there is none.
	Functions(ctx context.Context, searchPath []string, schema, name string) ([]Function, error)
	// Operators lists the functions behind the operators called name
	// that an expression could use under searchPath (or in schema), each
	// with its own schema, name and provenance; empty when there is none.
	Operators(ctx context.Context, searchPath []string, schema, name string) ([]Function, error)
	// Casts lists the functions not built in (see Function.BuiltIn)
	// behind the casts to the types called target, in any schema; for
	// target "", behind the casts PostgreSQL may apply without a cast
	// written (implicit and assignment casts), which an expression can
	// reach with nothing in the text to show it.
	Casts(ctx context.Context, target string) ([]Function, error)
}

// Function is what Catalog.Functions says of the functions of one name in
// one schema.
type Function struct {
	Schema string
	// Name is the function's name, set by Operators.
	Name string
	// Set: a function of that name in Schema returns a set (pg_proc
	// proretset), so its row count may be a value of its arguments.
	Set bool
	// BuiltIn: every function of that name in Schema was created by
	// initdb, which PostgreSQL's object IDs prove: its own objects have
	// OIDs below FirstNormalObjectId (16384, src/include/access/transam.h),
	// everything created later has one above. Only built-in functions
	// are trusted not to read masked columns out of sight; a function
	// created in pg_catalog later is not.
	BuiltIn bool
}

// RelationKind is what pg_class.relkind says a relation is, as far as
// lineage cares.
type RelationKind int

const (
	// Table holds its own rows: ordinary and partitioned tables.
	Table RelationKind = iota
	// View computes its rows from Definition.
	View
	// MaterializedView stores rows computed from Definition, so its columns
	// carry what the definition reads.
	MaterializedView
	// ForeignTable reads its rows from a foreign server; its columns are
	// masked like a table's.
	ForeignTable
)

// Relation is a resolved relation.
type Relation struct {
	Schema, Name string
	Kind         RelationKind
	// Columns are the names of its columns in attribute order, dropped
	// columns left out.
	Columns []string
	// Definition is the SELECT of a view or materialized view, with every
	// name schema-qualified (pg_get_viewdef under an empty search_path), so
	// that it means what it meant when the view was created.
	Definition string
	// Ancestors are the tables it inherits from (partition parents and
	// INHERITS, nearest first). A masked column of an ancestor masks the
	// column of the same name here, so a partition cannot be read around
	// its parent's masking.
	Ancestors []Name
}

// Name is a schema-qualified relation name.
type Name struct{ Schema, Table string }

// Column is a base table column.
type Column struct{ Schema, Table, Name string }

// String is the column as Options.Masked keys it: schema.table.column.
func (c Column) String() string { return c.Schema + "." + c.Table + "." + c.Name }

// Options are the inputs of Analyze besides the statement.
type Options struct {
	// Catalog resolves relations and functions. Required.
	Catalog Catalog
	// SearchPath is the session's search_path, schemas in order.
	SearchPath []string
	// Masked maps "schema.table.column" (names as PostgreSQL stores them:
	// lower case unless created quoted) to a mask rule name. Empty means no
	// masking applies, and nothing is refused.
	Masked map[string]string
	// AllowFunctions are functions not built in that may be called
	// while masking applies, as "name" or "schema.name".
	AllowFunctions []string
	// DenyProbing refuses statements that use masked columns in a probing
	// position (see Probe).
	DenyProbing bool
	// MaxViewDepth bounds view expansion; a deeper view is Unknown. Zero
	// means 16.
	MaxViewDepth int
}

// Kind says where an output column's values come from.
type Kind int

const (
	// Clean: provably no masked column feeds it.
	Clean Kind = iota
	// Direct: its values are exactly those of Output.Column, a base column
	// (masked or not).
	Direct
	// Derived: computed from the masked columns in Output.Sources.
	Derived
	// Unknown: its origin cannot be traced.
	Unknown
)

func (k Kind) String() string {
	return [...]string{"clean", "direct", "derived", "unknown"}[k]
}

// Output is one output column of a statement.
type Output struct {
	// Name is the column name PostgreSQL gives it, as far as the text
	// tells ("?column?" when it cannot).
	Name string
	Kind Kind
	// Column is the base column of a Direct output.
	Column Column
	// Sources are the masked columns feeding it, sorted, as keyed in
	// Options.Masked; for a Direct output of a masked column, that column
	// (or, for a partition, the ancestor's column that masks it).
	Sources []Column
	// Spread marks the expansion of a relation whose columns the text does
	// not name (a set-returning function without a column list): it stands
	// for any number of columns, all with this origin.
	Spread bool
}

// Probe is a masked column used where its values steer which rows come
// back or in what order, so that repeated queries can guess them.
type Probe struct {
	Column Column
	// Clause is where: WHERE, JOIN, ORDER BY, GROUP BY, HAVING, WINDOW,
	// DISTINCT ON, FILTER, LIMIT, ON CONFLICT, FROM function (the
	// arguments of a function in FROM, whose row count they may set), a
	// set-returning function (the arguments of one anywhere).
	Clause string
}

// Result is what Analyze says about one statement.
type Result struct {
	// Outputs are the statement's output columns in order, with `*`
	// expanded: a query's select list, the RETURNING list of INSERT,
	// UPDATE and DELETE, the rows of DECLARE CURSOR (what a later FETCH
	// returns), PREPARE (what a later EXECUTE returns) and COPY ... TO.
	// Empty for statements that return no rows of data. Without a Spread
	// output there are exactly as many as PostgreSQL returns; a caller
	// that sees another count should treat the statement as untraced.
	Outputs []Output
	// Probes are the masked columns used in probing positions.
	Probes []Probe
	// Functions are the functions not built in (see Function.BuiltIn)
	// the statement calls, each once: schema-qualified
	// where written so or where the catalog says which schema a call
	// reaches, as written otherwise.
	Functions []string
	// ReadsMasked is true when the statement reads a relation with masked
	// columns, or might (a relation or function it cannot see into).
	ReadsMasked bool
	// Refuse, when not empty, is why the statement must not run while
	// masking applies; it names the cause and the way out.
	Refuse string
}

// Analyze traces the output columns of one SQL statement to the base
// columns they come from. An error (the text does not parse, is not one
// statement, or the catalog failed) means nothing was traced: a caller
// that masks refuses the statement. ctx bounds the catalog's lookups.
func Analyze(ctx context.Context, sql string, opts Options) (*Result, error) {
	if opts.Catalog == nil {
		return nil, errors.New("lineage: Options.Catalog is nil")
	}
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, fmt.Errorf("lineage: parse: %w", err)
	}
	if len(tree.Stmts) != 1 {
		return nil, fmt.Errorf("lineage: want one statement, got %d; split the query first", len(tree.Stmts))
	}
	a := newAnalyzer(ctx, opts)
	a.operators(tree.Stmts[0].Stmt.ProtoReflect())
	outs := a.statement(tree.Stmts[0].Stmt)
	a.casts()
	if a.err != nil {
		return nil, a.err
	}
	return a.result(outs), nil
}

func qualifiedName(schema, name string) string {
	if schema == "" {
		return name
	}
	return schema + "." + name
}

func maskedKey(schema, table, column string) string {
	return strings.Join([]string{schema, table, column}, ".")
}
