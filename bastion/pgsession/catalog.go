package pgsession

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// catalogTTL is how long a database's catalog facts serve before they are
// read again (DDL made outside gatehouse becomes visible within it).
const catalogTTL = time.Minute

// columnID is a column as RowDescription names it.
type columnID struct {
	table  uint32
	attnum uint16
}

// maskedColumn is a configured column found in the catalog.
type maskedColumn struct {
	name string // schema.table.column
	fn   string // mask function
}

// maskCatalog is what masking needs to know of one database: which
// columns are masked (by catalog identity, so aliases cannot dodge it),
// which views read them, and which relations exist at all. Which
// functions a statement may call is lineage's to judge (lineage.go).
type maskCatalog struct {
	columns map[columnID]maskedColumn
	// tables have masked columns: their whole rows (attribute number 0 in
	// a RowDescription) are masked too.
	tables map[uint32]string
	// views read masked columns (or whole masked rows, or functions that
	// are not built in), directly or through other views.
	views map[uint32]string
	// relations are every table, view and the like when the catalog was
	// read; a result from a relation not among them is from one created
	// since, so nothing is known of it.
	relations map[uint32]bool
	read      time.Time
}

// catalogCache shares catalogs among sessions of one database and masking
// policy. A session that runs DDL bumps the generation, so every session
// of that database treats its copy as stale until it reads a new one.
type catalogCache struct {
	mu      sync.Mutex
	entries map[string]*catalogEntry
}

type catalogEntry struct {
	cat        *maskCatalog
	generation int
	lineage    *lineageAnswers // lineage_cache.go
}

func (c *catalogCache) get(key string, now time.Time) (*maskCatalog, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil {
		return nil, 0
	}
	if e.cat != nil && now.Sub(e.cat.read) > catalogTTL {
		e.cat = nil
	}
	return e.cat, e.generation
}

func (c *catalogCache) put(key string, cat *maskCatalog, generation int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entry(key); e.generation == generation {
		e.cat = cat
	}
}

// changed records that the database's catalog may have changed.
func (c *catalogCache) changed(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key)
	e.cat = nil
	e.generation++
}

// entry returns key's entry, made if need be; c.mu is held.
func (c *catalogCache) entry(key string) *catalogEntry {
	if c.entries == nil {
		c.entries = map[string]*catalogEntry{}
	}
	e := c.entries[key]
	if e == nil {
		e = &catalogEntry{}
		c.entries[key] = e
	}
	return e
}

func (c *catalogCache) generation(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		return e.generation
	}
	return 0
}

// readCatalog reads, over conn (a connection with the role's own upstream
// credentials), what masking needs for the configured columns
// (schema.table.column → mask function). A configured column the database
// does not have is not an error: it may not exist in every database of the
// target.
func readCatalog(ctx context.Context, conn *pgconn.PgConn, columns map[string]string, now time.Time) (*maskCatalog, error) {
	cat := &maskCatalog{
		columns: map[columnID]maskedColumn{}, tables: map[uint32]string{}, views: map[uint32]string{}, relations: map[uint32]bool{},
		read: now,
	}
	var schemas, tables, cols []string
	for name := range columns {
		parts := strings.SplitN(name, ".", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("masked column %q is not SCHEMA.TABLE.COLUMN", name)
		}
		schemas, tables, cols = append(schemas, parts[0]), append(tables, parts[1]), append(cols, parts[2])
	}
	steps := []func(context.Context, *pgconn.PgConn) error{
		func(ctx context.Context, c *pgconn.PgConn) error {
			return cat.readColumns(ctx, c, columns, schemas, tables, cols)
		},
		cat.readViews, cat.readRelations,
	}
	for _, step := range steps {
		if err := step(ctx, conn); err != nil {
			return nil, err
		}
	}
	return cat, nil
}

func (cat *maskCatalog) readColumns(ctx context.Context, c *pgconn.PgConn, columns map[string]string, schemas, tables, cols []string) error {
	const q = `SELECT c.oid, a.attnum, n.nspname, c.relname, a.attname
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND (n.nspname, c.relname, a.attname) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))`
	rows, err := query(ctx, c, q, textArray(schemas), textArray(tables), textArray(cols))
	if err != nil {
		return fmt.Errorf("reading the masked columns: %w", err)
	}
	for _, r := range rows {
		oid, err1 := strconv.ParseUint(r[0], 10, 32)
		attnum, err2 := strconv.ParseUint(r[1], 10, 16)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("reading the masked columns: %w", err)
		}
		name := r[2] + "." + r[3] + "." + r[4]
		cat.columns[columnID{uint32(oid), uint16(attnum)}] = maskedColumn{name: name, fn: columns[name]}
		cat.tables[uint32(oid)] = r[2] + "." + r[3]
	}
	return nil
}

// readViews finds the views (and materialized views) whose rules read a
// masked column, a whole row of a table with one, or a function that is
// not built in — and, repeatedly, the views that read those views.
func (cat *maskCatalog) readViews(ctx context.Context, c *pgconn.PgConn) error {
	var oids, attnums []string
	for id := range cat.columns {
		oids = append(oids, strconv.FormatUint(uint64(id.table), 10))
		attnums = append(attnums, strconv.Itoa(int(id.attnum)))
	}
	const q = `WITH RECURSIVE masked(oid, attnum) AS (
  SELECT * FROM unnest($1::oid[], $2::int4[])
), reads(view) AS (
  SELECT r.ev_class FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
  WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
    AND EXISTS (SELECT 1 FROM masked m WHERE m.oid = d.refobjid AND (m.attnum = d.refobjsubid OR d.refobjsubid = 0))
  UNION
  SELECT r.ev_class FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
  JOIN pg_catalog.pg_proc p ON p.oid = d.refobjid JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_proc'::regclass
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  UNION
  SELECT r.ev_class FROM reads JOIN pg_catalog.pg_depend d ON d.refobjid = reads.view
  JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
  WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
)
SELECT c.oid, n.nspname, c.relname FROM reads JOIN pg_catalog.pg_class c ON c.oid = reads.view
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('v', 'm')`
	rows, err := query(ctx, c, q, textArray(oids), textArray(attnums))
	if err != nil {
		return fmt.Errorf("reading the views over masked columns: %w", err)
	}
	for _, r := range rows {
		oid, err := strconv.ParseUint(r[0], 10, 32)
		if err != nil {
			return fmt.Errorf("reading the views over masked columns: %w", err)
		}
		cat.views[uint32(oid)] = r[1] + "." + r[2]
	}
	return nil
}

func (cat *maskCatalog) readRelations(ctx context.Context, c *pgconn.PgConn) error {
	rows, err := query(ctx, c, `SELECT oid FROM pg_catalog.pg_class WHERE relkind IN ('r', 'v', 'm', 'f', 'p')`)
	if err != nil {
		return fmt.Errorf("reading the relations: %w", err)
	}
	for _, r := range rows {
		oid, err := strconv.ParseUint(r[0], 10, 32)
		if err != nil {
			return fmt.Errorf("reading the relations: %w", err)
		}
		cat.relations[uint32(oid)] = true
	}
	return nil
}

// query runs one statement with text parameters and returns its rows as
// text (no value here is NULL).
func query(ctx context.Context, c *pgconn.PgConn, sql string, params ...[]byte) ([][]string, error) {
	res := c.ExecParams(ctx, sql, params, nil, nil, nil).Read()
	if res.Err != nil {
		return nil, res.Err
	}
	out := make([][]string, len(res.Rows))
	for i, row := range res.Rows {
		out[i] = make([]string, len(row))
		for j, v := range row {
			out[i][j] = string(v)
		}
	}
	return out, nil
}

// arrayElementEscaper escapes what a quoted array element may not hold bare.
var arrayElementEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// textArray is a PostgreSQL array literal of the values, each quoted.
func textArray(values []string) []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		arrayElementEscaper.WriteString(&b, v)
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// missing are the configured columns the catalog did not find, sorted.
func (cat *maskCatalog) missing(columns map[string]string) []string {
	found := map[string]bool{}
	for _, c := range cat.columns {
		found[c.name] = true
	}
	var out []string
	for name := range columns {
		if !found[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
