package lineage

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"testing"
)

// fakeCatalog is a small database: customers with four masked columns,
// an unmasked orders table, a quoted-name table in schema crm, views,
// a partition and user functions.
type fakeCatalog struct {
	relations map[Name]Relation
	// functions are the schema.name of user functions, created after
	// initdb; anything else resolves to a built-in of pg_catalog.
	functions []string
	// implicitCast makes the cast to blob one PostgreSQL applies unasked.
	implicitCast bool
}

var customerColumns = []string{"id", "name", "email", "ssn", "card_number", "phone"}

func newFakeCatalog() *fakeCatalog {
	c := &fakeCatalog{relations: map[Name]Relation{}, functions: []string{"public.leak", "public.safe_fn", "crm.lower",
		// created in pg_catalog by a role allowed DDL: not built in
		"pg_catalog.sneak", "pg_catalog.initcap"}}
	c.add(Relation{Schema: "public", Name: "customers", Columns: customerColumns})
	c.add(Relation{Schema: "public", Name: "orders", Columns: []string{"id", "customer_id", "total", "note"}})
	c.add(Relation{Schema: "public", Name: "notes", Columns: []string{"id", "body"}})
	c.add(Relation{Schema: "crm", Name: "People", Columns: []string{"id", "SSN", "nick"}})
	c.add(Relation{Schema: "crm", Name: "contacts", Columns: []string{"id", "email"}})
	c.add(Relation{Schema: "public", Name: "ext_people", Kind: ForeignTable, Columns: []string{"id", "ssn"}})
	c.add(Relation{Schema: "public", Name: "customers_2024", Columns: customerColumns,
		Ancestors: []Name{{"public", "customers"}}})
	c.add(Relation{Schema: "public", Name: "customer_emails", Kind: View, Columns: []string{"id", "mail"},
		Definition: "SELECT c.id, c.email AS mail FROM public.customers c"})
	c.add(Relation{Schema: "public", Name: "upper_ssn", Kind: View, Columns: []string{"id", "s"},
		Definition: "SELECT id, upper(ssn) FROM public.customers"})
	c.add(Relation{Schema: "public", Name: "nested", Kind: View, Columns: []string{"id", "mail"},
		Definition: "SELECT customer_emails.id, customer_emails.mail FROM public.customer_emails"})
	c.add(Relation{Schema: "public", Name: "loop", Kind: View, Columns: []string{"x"},
		Definition: "SELECT x FROM public.loop"})
	c.add(Relation{Schema: "public", Name: "order_totals", Kind: View, Columns: []string{"customer_id", "sum"},
		Definition: "SELECT customer_id, sum(total) FROM public.orders GROUP BY customer_id"})
	c.add(Relation{Schema: "public", Name: "ssn_mv", Kind: MaterializedView, Columns: []string{"ssn"},
		Definition: "SELECT customers.ssn FROM public.customers"})
	c.add(Relation{Schema: "public", Name: "broken", Kind: View, Columns: []string{"a"}, Definition: "SELEC"})
	c.add(Relation{Schema: "pg_catalog", Name: "pg_stats", Kind: View,
		Columns: []string{"schemaname", "tablename", "attname", "most_common_vals"}})
	c.add(Relation{Schema: "pg_catalog", Name: "pg_class", Columns: []string{"oid", "relname"}})
	c.add(Relation{Schema: "information_schema", Name: "columns", Kind: View, Columns: []string{"table_name", "column_name", "max_length"},
		Definition: "SELECT c.relname::information_schema.sql_identifier, c.relname, information_schema._pg_char_max_length(c.oid, c.oid) FROM pg_class c"})
	c.add(Relation{Schema: "public", Name: "op_view", Kind: View, Columns: []string{"x"},
		Definition: "SELECT orders.id OPERATOR(public.===) 1 AS x FROM public.orders"})
	c.add(Relation{Schema: "public", Name: "cast_view", Kind: View, Columns: []string{"x"},
		Definition: "SELECT (orders.id)::public.leaky AS x FROM public.orders"})
	// A view calling lower() means pg_catalog's, whatever the session's
	// search_path puts first.
	c.add(Relation{Schema: "public", Name: "lower_names", Kind: View, Columns: []string{"n"},
		Definition: "SELECT lower(customers.name) FROM public.customers"})
	return c
}

func (c *fakeCatalog) add(r Relation) { c.relations[Name{r.Schema, r.Name}] = r }

func (c *fakeCatalog) Relation(_ context.Context, searchPath []string, schema, name string) (Relation, error) {
	if schema != "" {
		return c.lookup(schema, name)
	}
	// PostgreSQL searches pg_catalog first unless the path places it.
	if !slices.Contains(searchPath, "pg_catalog") {
		searchPath = append([]string{"pg_catalog"}, searchPath...)
	}
	for _, s := range searchPath {
		if r, err := c.lookup(s, name); err == nil {
			return r, nil
		}
	}
	return Relation{}, ErrNotFound
}

func (c *fakeCatalog) lookup(schema, name string) (Relation, error) {
	if r, ok := c.relations[Name{schema, name}]; ok {
		return r, nil
	}
	return Relation{}, ErrNotFound
}

// Functions: the user functions listed, by schema; any other name is a
// built-in of pg_catalog, except the names of user functions (and
// no_such_fn, which is nowhere). information_schema's functions are
// built in.
func (c *fakeCatalog) Functions(_ context.Context, searchPath []string, schema, name string) ([]Function, error) {
	var out []Function
	if schema == "" || schema == "pg_catalog" || schema == "information_schema" {
		if !slices.Contains(notBuiltIn, name) && (schema != "" || !slices.Contains(c.functions, "pg_catalog."+name)) {
			out = append(out, Function{Schema: cmp.Or(schema, "pg_catalog"), BuiltIn: true,
				Set: slices.Contains([]string{"generate_series", "unnest", "regexp_matches"}, name)})
		}
	}
	for _, f := range c.functions {
		s, n, _ := strings.Cut(f, ".")
		if n != name {
			continue
		}
		if s == schema || (schema == "" && (s == "pg_catalog" || slices.Contains(searchPath, s))) {
			out = append(out, Function{Schema: s})
		}
	}
	return out, nil
}

// Operators: === is a user operator over public.leak; the rest are
// built in, over built-in functions (those PostgreSQL ships), or unknown.
func (c *fakeCatalog) Operators(_ context.Context, searchPath []string, schema, name string) ([]Function, error) {
	switch {
	case name == "===" && (schema == "public" || (schema == "" && slices.Contains(searchPath, "public"))):
		return []Function{{Schema: "public", Name: "leak"}}, nil
	case name == "~~" && schema == "":
		return []Function{{Schema: "pg_catalog", Name: "textlike", BuiltIn: true}}, nil
	}
	return nil, nil
}

// Casts: to leaky, through public.leak; with implicitCast, one
// PostgreSQL applies unasked through public.leak too.
func (c *fakeCatalog) Casts(_ context.Context, target string) ([]Function, error) {
	if target == "leaky" || (target == "" && c.implicitCast) {
		return []Function{{Schema: "public", Name: "leak"}}, nil
	}
	return nil, nil
}

// notBuiltIn are names no built-in function has.
var notBuiltIn = []string{"leak", "safe_fn", "no_such_fn", "sneak"}

var testMasked = map[string]string{
	"public.customers.email":       "email",
	"public.customers.ssn":         "redact",
	"public.customers.card_number": "last4",
	"public.customers.phone":       "hash",
	"crm.People.SSN":               "redact",
	"crm.contacts.email":           "email",
	"public.ext_people.ssn":        "redact",
}

// ctxCatalog notes the context each lookup of the catalog it wraps was
// given.
type ctxCatalog struct {
	*fakeCatalog
	seen map[string][]context.Context
}

func (c *ctxCatalog) note(method string, ctx context.Context) {
	c.seen[method] = append(c.seen[method], ctx)
}

func (c *ctxCatalog) Relation(ctx context.Context, searchPath []string, schema, name string) (Relation, error) {
	c.note("Relation", ctx)
	return c.fakeCatalog.Relation(ctx, searchPath, schema, name)
}

func (c *ctxCatalog) Functions(ctx context.Context, searchPath []string, schema, name string) ([]Function, error) {
	c.note("Functions", ctx)
	return c.fakeCatalog.Functions(ctx, searchPath, schema, name)
}

func (c *ctxCatalog) Operators(ctx context.Context, searchPath []string, schema, name string) ([]Function, error) {
	c.note("Operators", ctx)
	return c.fakeCatalog.Operators(ctx, searchPath, schema, name)
}

func (c *ctxCatalog) Casts(ctx context.Context, target string) ([]Function, error) {
	c.note("Casts", ctx)
	return c.fakeCatalog.Casts(ctx, target)
}

// TestAnalyzeHandsItsContextToTheCatalog: every lookup runs under the
// caller's context, which bounds it (the proxy's lineage timeout).
func TestAnalyzeHandsItsContextToTheCatalog(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "this call")
	cat := &ctxCatalog{fakeCatalog: newFakeCatalog(), seen: map[string][]context.Context{}}
	_, err := Analyze(ctx, "SELECT lower(email)::text FROM customers WHERE id = 1 + 1",
		Options{Catalog: cat, SearchPath: []string{"public"}, Masked: testMasked})
	if err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{"Relation", "Functions", "Operators", "Casts"} {
		if len(cat.seen[method]) == 0 {
			t.Errorf("%s was not looked up", method)
		}
		for _, got := range cat.seen[method] {
			if got.Value(key{}) != "this call" {
				t.Errorf("%s ran under another context than Analyze's", method)
			}
		}
	}
}
