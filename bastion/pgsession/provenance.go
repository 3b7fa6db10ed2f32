package pgsession

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/policy/lineage"
)

// firstNormalObjectID is PostgreSQL's FirstNormalObjectId
// (src/include/access/transam.h): initdb's objects have OIDs below it,
// everything created afterwards, even in pg_catalog, one at or above it
// (the OID counter restarts there when it wraps around).
const firstNormalObjectID = 16384

// Functions is lineage.Catalog's: for each schema that a call of name
// could reach, whether all its functions of that name are initdb's own,
// and whether one returns a set.
// Built-in is judged by provenance, never by schema: a role allowed DDL
// can create a function in pg_catalog, and masked roles would otherwise
// call it as if PostgreSQL shipped it.
func (c *pgLineageCatalog) Functions(ctx context.Context, searchPath []string, schema, name string) ([]lineage.Function, error) {
	key := lookupKey(searchPath, schema, name)
	if fns, ok := c.answers.function(key); ok {
		return fns, nil
	}
	rows, err := c.query(ctx, `SELECT n.nspname, bool_and(p.oid < $3::oid), bool_or(p.proretset) FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname = $1 AND n.nspname = ANY($2::text[]) GROUP BY 1 ORDER BY 1`,
		[]byte(name), textArray(candidates(searchPath, schema)), []byte(fmt.Sprint(firstNormalObjectID)))
	if err != nil {
		return nil, fmt.Errorf("looking up function %s: %w", name, err)
	}
	var fns []lineage.Function
	for _, r := range rows {
		fns = append(fns, lineage.Function{Schema: r[0], BuiltIn: r[1] == "t", Set: r[2] == "t"})
	}
	c.answers.putFunction(key, fns)
	return fns, nil
}

// Operators is lineage.Catalog's: the function behind each operator
// called name that an expression could use, and whether initdb created
// it. Its answers share the functions' cache under keys no function's
// can be: a NUL, which no PostgreSQL name holds, after the name.
func (c *pgLineageCatalog) Operators(ctx context.Context, searchPath []string, schema, name string) ([]lineage.Function, error) {
	key := lookupKey(searchPath, schema, name) + "\x00operator"
	if fns, ok := c.answers.function(key); ok {
		return fns, nil
	}
	rows, err := c.query(ctx, `SELECT DISTINCT fn.nspname, p.proname, p.oid < $3::oid FROM pg_catalog.pg_operator o
JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
WHERE o.oprname = $1 AND n.nspname = ANY($2::text[]) ORDER BY 1, 2`,
		[]byte(name), textArray(candidates(searchPath, schema)), []byte(fmt.Sprint(firstNormalObjectID)))
	if err != nil {
		return nil, fmt.Errorf("looking up operator %s: %w", name, err)
	}
	var fns []lineage.Function
	for _, r := range rows {
		fns = append(fns, lineage.Function{Schema: r[0], Name: r[1], BuiltIn: r[2] == "t"})
	}
	c.answers.putFunction(key, fns)
	return fns, nil
}

// Casts is lineage.Catalog's: the functions initdb did not create behind
// the casts to types called target (any schema), or, for target "",
// behind the casts PostgreSQL may apply unasked (pg_cast.castcontext i
// or a). Its answers share the functions' cache under keys no function's
// can be (a NUL where a schema name starts).
func (c *pgLineageCatalog) Casts(ctx context.Context, target string) ([]lineage.Function, error) {
	key := "\x01\x00cast\x00" + target
	if fns, ok := c.answers.function(key); ok {
		return fns, nil
	}
	rows, err := c.query(ctx, `SELECT DISTINCT fn.nspname, p.proname FROM pg_catalog.pg_cast c
JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
JOIN pg_catalog.pg_namespace fn ON fn.oid = p.pronamespace
JOIN pg_catalog.pg_type t ON t.oid = c.casttarget
WHERE p.oid >= $1::oid AND CASE WHEN $2 = '' THEN c.castcontext <> 'e' ELSE t.typname = $2 END ORDER BY 1, 2`,
		[]byte(fmt.Sprint(firstNormalObjectID)), []byte(target))
	if err != nil {
		return nil, fmt.Errorf("looking up casts to %q: %w", target, err)
	}
	var fns []lineage.Function
	for _, r := range rows {
		fns = append(fns, lineage.Function{Schema: r[0], Name: r[1]})
	}
	c.answers.putFunction(key, fns)
	return fns, nil
}
