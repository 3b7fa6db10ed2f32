package e2e

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// testSyntaxErrors: a statement the parser rejects never reaches the
// database, and the client is told what PostgreSQL would have told it —
// 42601, the parser's message and where — in the simple and the extended
// protocol, so that psql and editors point at the error (issue 13, item 1).
func testSyntaxErrors(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	out, err := psqlAs(t, port, "readonly", "", "-c", "SELECT 1 FRM gatehouse_syntax_probe")
	if err == nil {
		t.Fatalf("psql accepted a syntax error: %s", out)
	}
	mustContain(t, "psql", out, `ERROR:  syntax error at or near "gatehouse_syntax_probe"`, "LINE 1: SELECT 1 FRM gatehouse_syntax_probe", "^")
	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeCacheStatement} {
		conn := pgxAs(t, port, "readonly", mode)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := conn.Exec(ctx, "SELECT 'é', 2 FRM gatehouse_syntax_probe")
		cancel()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42601" || pgErr.Position != 19 ||
			!strings.Contains(pgErr.Message, `syntax error at or near "gatehouse_syntax_probe"`) {
			t.Fatalf("mode %v: %#v, want 42601 at character 19", mode, err)
		}
	}
	if w.databaseSaw(t, "gatehouse_syntax_probe") {
		t.Fatal("the database saw a statement gatehouse could not parse")
	}
}
