package pgsession

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/policy/lineage"
)

// lineageTimeout bounds the catalog lookups for one statement.
const lineageTimeout = 10 * time.Second

// pgLineageCatalog is lineage.Catalog for one session, over the lineage
// connection its database and role share (lineagePool), a connection of
// their own so that the session's protocol is never disturbed. Answers are
// shared with the database's other sessions (lineageAnswers). Used from
// Inspect only, one call at a time. The connection field is only for
// openLineage's result.
type pgLineageCatalog struct {
	conn    *pgconn.PgConn
	shared  *sharedLineage
	answers *lineageAnswers // set by the session before each use
}

// query runs one lookup on the shared connection.
func (c *pgLineageCatalog) query(ctx context.Context, sql string, params ...[]byte) ([][]string, error) {
	var rows [][]string
	err := c.shared.do(ctx, func(conn *pgconn.PgConn) error {
		var err error
		rows, err = query(ctx, conn, sql, params...)
		return err
	})
	return rows, err
}

func newLineageCatalog(ctx context.Context, cfg *pgconn.Config) (*pgLineageCatalog, error) {
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to read the catalog: %w", err)
	}
	return &pgLineageCatalog{conn: conn}, nil
}

func (c *pgLineageCatalog) close() {
	c.conn.Close(context.Background())
}

// lineageOpening is the lineage connection being opened while the client
// starts up, so that the session's first statement does not wait for a
// connection (and its authentication) of its own.
type lineageOpening struct {
	done   chan struct{}
	cancel context.CancelFunc
	cat    *pgLineageCatalog // once done: the connection, until taken
	err    error
}

// openLineage starts connecting in the background. The connection may
// outlive ctx (the start-up's, which ends once the session is set up) by
// up to lineageTimeout; take or abandon ends it.
func openLineage(ctx context.Context, cfg *pgconn.Config) *lineageOpening {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lineageTimeout)
	o := &lineageOpening{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(o.done)
		o.cat, o.err = newLineageCatalog(ctx, cfg)
	}()
	return o
}

// take waits for the opening to finish, or ctx to end (finished false);
// the catalog is nil when the connection failed (err says why).
func (o *lineageOpening) take(ctx context.Context) (cat *pgLineageCatalog, finished bool) {
	select {
	case <-o.done:
	case <-ctx.Done():
		return nil, false
	}
	o.cancel()
	cat, o.cat = o.cat, nil
	return cat, true
}

// abandon stops an opening that was not taken and closes what it opened.
func (o *lineageOpening) abandon() {
	o.cancel()
	<-o.done
	if o.cat != nil {
		o.cat.close()
	}
}

// candidates are the schemas PostgreSQL looks in for an unqualified name:
// pg_catalog first unless the path places it, then the path.
func candidates(searchPath []string, schema string) []string {
	if schema != "" {
		return []string{schema}
	}
	if slices.Contains(searchPath, "pg_catalog") {
		return searchPath
	}
	return append([]string{"pg_catalog"}, searchPath...)
}

func (c *pgLineageCatalog) Relation(ctx context.Context, searchPath []string, schema, name string) (lineage.Relation, error) {
	key := lookupKey(searchPath, schema, name)
	if a, ok := c.answers.relation(key); ok {
		return a.rel, a.err
	}
	rel, err := c.relation(ctx, candidates(searchPath, schema), name)
	c.answers.putRelation(key, relationAnswer{rel, err})
	return rel, err
}

func (c *pgLineageCatalog) relation(ctx context.Context, schemas []string, name string) (lineage.Relation, error) {
	rows, err := c.query(ctx, `SELECT n.nspname, c.oid, c.relkind FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $1 AND n.nspname = ANY($2::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
		[]byte(name), textArray(schemas))
	if err != nil {
		return lineage.Relation{}, fmt.Errorf("looking up relation %s: %w", name, err)
	}
	for _, schema := range schemas { // the first schema of the path that has it
		for _, r := range rows {
			if r[0] == schema {
				return c.describe(ctx, r[0], name, r[1], r[2])
			}
		}
	}
	return lineage.Relation{}, lineage.ErrNotFound
}

func (c *pgLineageCatalog) describe(ctx context.Context, schema, name, oid, relkind string) (lineage.Relation, error) {
	if _, err := strconv.ParseUint(oid, 10, 32); err != nil {
		return lineage.Relation{}, fmt.Errorf("relation %s.%s: oid %q", schema, name, oid)
	}
	rel := lineage.Relation{Schema: schema, Name: name}
	switch relkind {
	case "v":
		rel.Kind = lineage.View
	case "m":
		rel.Kind = lineage.MaterializedView
	case "f":
		rel.Kind = lineage.ForeignTable
	}
	cols, err := c.query(ctx, `SELECT attname FROM pg_catalog.pg_attribute
WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, []byte(oid))
	if err != nil {
		return rel, fmt.Errorf("columns of %s.%s: %w", schema, name, err)
	}
	for _, r := range cols {
		rel.Columns = append(rel.Columns, r[0])
	}
	if rel.Kind == lineage.View || rel.Kind == lineage.MaterializedView {
		// Under an empty search_path every name in it is qualified; the
		// transaction keeps the setting from outliving the query.
		var res []*pgconn.Result
		err := c.shared.do(ctx, func(conn *pgconn.PgConn) error {
			var err error
			res, err = conn.Exec(ctx, "BEGIN; SET LOCAL search_path = ''; SELECT pg_catalog.pg_get_viewdef("+oid+"::oid); COMMIT").ReadAll()
			return err
		})
		if err != nil || len(res) < 3 || len(res[2].Rows) != 1 {
			return rel, fmt.Errorf("definition of %s.%s: %v", schema, name, err)
		}
		rel.Definition = string(res[2].Rows[0][0])
	}
	anc, err := c.query(ctx, `WITH RECURSIVE up(oid, depth) AS (
  SELECT inhparent, 1 FROM pg_catalog.pg_inherits WHERE inhrelid = $1::oid
  UNION ALL SELECT i.inhparent, up.depth + 1 FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.oid WHERE up.depth < 32
)
SELECT n.nspname, c.relname FROM up JOIN pg_catalog.pg_class c ON c.oid = up.oid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ORDER BY up.depth`, []byte(oid))
	if err != nil {
		return rel, fmt.Errorf("ancestors of %s.%s: %w", schema, name, err)
	}
	for _, r := range anc {
		rel.Ancestors = append(rel.Ancestors, lineage.Name{Schema: r[0], Table: r[1]})
	}
	return rel, nil
}
