//go:build servers

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// pgxThrough connects pgx to the tunnel on port as the role readonly.
func pgxThrough(t *testing.T, port int, mode pgx.QueryExecMode) *pgx.Conn {
	t.Helper()
	return pgxAs(t, port, "readonly", mode)
}

// upstreamCount counts customers directly at the database.
func (w *world) upstreamCount(t *testing.T) int {
	t.Helper()
	return w.queryInt(t, "SELECT count(*) FROM customers")
}

// databaseSaw reports whether the database's statement log contains text.
// The log reaches its file through a pipe, so it first runs a sentinel
// statement directly and waits until that is in the file: everything the
// database logged before the sentinel is then there too.
func (w *world) databaseSaw(t *testing.T, text string) bool {
	t.Helper()
	sentinel := fmt.Sprintf("gatehouse-log-sync-%d", w.logSyncs.Add(1))
	w.execIn("orders", "/* "+sentinel+" */ SELECT 1")
	// Generous: on a loaded machine with log_statement=all, the log's pipe
	// can lag well behind the statements.
	deadline := time.Now().Add(60 * time.Second)
	for {
		log, err := os.ReadFile(w.pg.LogFile)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(log), sentinel) {
			return strings.Contains(string(log), text)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database's statement log %s never showed the sentinel %q; is log_statement=all in effect?", w.pg.LogFile, sentinel)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func denied(t *testing.T, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		t.Fatalf("want a PostgreSQL error 42501 from gatehouse, got %v", err)
	}
	if pgErr.Code != "42501" || !strings.HasPrefix(pgErr.Message, "gatehouse:") {
		t.Fatalf("want 42501 from gatehouse, got %s %q", pgErr.Code, pgErr.Message)
	}
}

// testDenialMatrix: under the read-only role each write or escape is
// refused with 42501, the session goes on working, and the database never
// sees the statement (its statement log has no trace of the marker).
func testDenialMatrix(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	conn := pgxThrough(t, port, pgx.QueryExecModeSimpleProtocol)
	ext := pgxThrough(t, port, pgx.QueryExecModeCacheStatement)
	w.execIn("orders", "SET ROLE app_owner; SELECT lo_create(4242)")
	// The control: an allowed statement does reach the statement log, so
	// its absence below means something.
	if _, err := conn.Exec(context.Background(), "/* gatehouse-allowed-control */ SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if !w.databaseSaw(t, "gatehouse-allowed-control") {
		t.Fatal("the database's statement log does not show an allowed statement; log_statement=all is not in effect")
	}
	cases := []struct{ name, sql string }{
		{"insert", "INSERT INTO customers VALUES (3, 'x@example.com')"},
		{"update", "UPDATE customers SET email = 'x'"},
		{"delete", "DELETE FROM customers"},
		{"merge", "MERGE INTO customers c USING (SELECT 1 AS id) s ON c.id = s.id WHEN MATCHED THEN DELETE"},
		{"ddl", "CREATE TABLE evil (i int)"},
		{"truncate", "TRUNCATE customers"},
		{"copy from", "COPY customers FROM '/etc/hostname'"},
		{"do", "DO $$ BEGIN DELETE FROM customers; END $$"},
		{"set role", "SET ROLE postgres"},
		{"set session authorization", "SET SESSION AUTHORIZATION postgres"},
		{"pg_read_file", "SELECT pg_read_file('/etc/passwd')"},
		{"lo_export", "SELECT lo_export(4242, '/tmp/gatehouse-lo-export')"},
		{"delete inside a WITH", "WITH d AS (DELETE FROM customers RETURNING *) SELECT count(*) FROM d"},
		{"explain analyze update", "EXPLAIN ANALYZE UPDATE customers SET email = 'x'"},
		{"denied statement inside a multi-statement string", "SELECT 1; DELETE FROM customers"},
		{"disarming the read-only wall", "SET default_transaction_read_only = off"},
		{"set_config of the role", "SELECT set_config('role', 'postgres', false)"},
		{"a DELETE prepared and executed in one string", "PREPARE d AS DELETE FROM customers; EXECUTE d"},
		{"EXECUTE of a statement prepared out of sight", "EXECUTE never_prepared"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker := fmt.Sprintf("/* gatehouse-denial-%d */ ", i)
			sql := marker + tc.sql
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_, err := conn.Exec(ctx, sql)
			denied(t, err)
			if !strings.Contains(tc.sql, ";") { // pgx's extended protocol takes one statement
				_, err = ext.Exec(ctx, sql)
				denied(t, err)
			}
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
				t.Fatalf("the session did not keep working after the denial: %v", err)
			}
			if err := ext.QueryRow(ctx, "SELECT $1::int", 7).Scan(&one); err != nil || one != 7 {
				t.Fatalf("the extended-protocol session did not keep working: %v", err)
			}
			if w.databaseSaw(t, marker) {
				t.Fatalf("the database saw the denied statement %q", tc.sql)
			}
		})
	}
	// pgx pipelines a batch: Parse/Bind/Execute of each statement, then one
	// Sync. The denied statement fails, the ones after it are discarded
	// (as PostgreSQL does after an error), the ones before it ran.
	t.Run("denied statement in a pgx batch", func(t *testing.T) {
		batchConn := pgxThrough(t, port, pgx.QueryExecModeExec)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b := &pgx.Batch{}
		b.Queue("SELECT count(*) FROM customers")
		b.Queue("/* gatehouse-batch-denial */ DELETE FROM customers")
		b.Queue("SELECT 1")
		res := batchConn.SendBatch(ctx, b)
		var n int
		if err := res.QueryRow().Scan(&n); err != nil || n != 2 {
			t.Fatalf("first batch statement: %d %v", n, err)
		}
		_, err := res.Exec()
		denied(t, err)
		if _, err := res.Exec(); err == nil {
			t.Error("the statement after the denied one ran; PostgreSQL discards it until Sync")
		}
		res.Close()
		if err := batchConn.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 2 {
			t.Fatalf("after the batch: %d %v", n, err)
		}
		if w.databaseSaw(t, "gatehouse-batch-denial") {
			t.Fatal("the database saw the denied batch statement")
		}
	})
	// With its statement cache pgx prepares every statement of a batch
	// first, so the denial arrives at the Parse and the batch fails whole.
	t.Run("denied statement in a cached pgx batch", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b := &pgx.Batch{}
		b.Queue("SELECT count(*) FROM customers")
		b.Queue("/* gatehouse-cached-batch-denial */ DELETE FROM customers")
		err := ext.SendBatch(ctx, b).Close()
		denied(t, err)
		var n int
		if err := ext.QueryRow(ctx, "SELECT count(*) FROM customers").Scan(&n); err != nil || n != 2 {
			t.Fatalf("after the batch: %d %v", n, err)
		}
		if w.databaseSaw(t, "gatehouse-cached-batch-denial") {
			t.Fatal("the database saw the denied batch statement")
		}
	})
	if n := w.upstreamCount(t); n != 2 {
		t.Fatalf("customers has %d rows after the denial matrix, want 2", n)
	}
	stop()
}

// testPsqlThroughProxy: the simple protocol as psql speaks it, through the
// tunnel: multi-statement strings, transactions, an error mid-transaction,
// COPY TO and \copy, and a denial inside a transaction leaving it failed.
func testPsqlThroughProxy(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	run := func(args ...string) string {
		t.Helper()
		out, err := psqlAs(t, port, "readonly", "", args...)
		if err != nil {
			t.Fatalf("psql %v: %v\n%s", args, err, out)
		}
		return out
	}
	if out := run("-c", "SELECT 1; SELECT 2"); out != "1\n2" {
		t.Errorf("multi-statement string: %q", out)
	}
	if out := run("-c", "COPY (SELECT id, email FROM customers ORDER BY id) TO STDOUT WITH (FORMAT csv)"); out != "1,ada@example.com\n2,grace@example.com" {
		t.Errorf("COPY TO STDOUT: %q", out)
	}
	file := t.TempDir() + "/customers.csv"
	run("-c", `\copy customers TO '`+file+`' WITH (FORMAT csv)`)
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "grace@example.com") {
		t.Errorf(`\copy wrote %q`, b)
	}
	// An error inside a transaction, then ROLLBACK: the session goes on.
	out, _ := psqlAs(t, port, "readonly", "", "-v", "ON_ERROR_STOP=0",
		"-c", "BEGIN", "-c", "SELECT 1/0", "-c", "SELECT 1", "-c", "ROLLBACK", "-c", "SELECT 'after'")
	mustContain(t, "psql after an error mid-transaction", out, "division by zero", "current transaction is aborted", "after")
	// A denied statement inside a transaction fails the transaction, as
	// PostgreSQL would: COMMIT then rolls back.
	out, _ = psqlAs(t, port, "readonly", "", "-v", "ON_ERROR_STOP=0",
		"-c", "BEGIN", "-c", "DELETE FROM customers", "-c", "SELECT 1", "-c", "COMMIT")
	mustContain(t, "psql with a denial in a transaction", out, "gatehouse: delete not allowed", "current transaction is aborted", "ROLLBACK")
	// COPY FROM STDIN is a write: refused under readonly.
	cmd := exec.Command("psql", fmt.Sprintf("host=127.0.0.1 port=%d user=readonly dbname=orders sslmode=disable", port),
		"-X", "-c", "COPY customers FROM STDIN")
	cmd.Stdin = strings.NewReader("9\tz@example.com\n\\.\n")
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "gatehouse: copy_from not allowed") {
		t.Errorf("COPY FROM STDIN under readonly: %v\n%s", err, b)
	}
}

// testPgxThroughProxy: the extended protocol with pgx's statement cache,
// binary formats, batches, and a context timeout that must cancel the
// query upstream (gatehouse maps pgx's CancelRequest to the real backend).
func testPgxThroughProxy(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	conn := pgxThrough(t, port, pgx.QueryExecModeCacheStatement)
	ctx := context.Background()
	for i := 0; i < 3; i++ { // the second and third use the cached prepared statement
		var email string
		var id int32
		var at time.Time
		if err := conn.QueryRow(ctx, "SELECT id, email, now() FROM customers WHERE id = $1", 2).Scan(&id, &email, &at); err != nil {
			t.Fatal(err)
		}
		if id != 2 || email != "grace@example.com" || at.IsZero() {
			t.Fatalf("got %d %q %v", id, email, at)
		}
	}
	b := &pgx.Batch{}
	for i := 1; i <= 5; i++ {
		b.Queue("SELECT $1::int * 2", i)
	}
	res := conn.SendBatch(ctx, b)
	for i := 1; i <= 5; i++ {
		var v int
		if err := res.QueryRow().Scan(&v); err != nil || v != 2*i {
			t.Fatalf("batch %d: %d %v", i, v, err)
		}
	}
	res.Close()

	tctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err := conn.Exec(tctx, "SELECT pg_sleep(30) /* gatehouse-cancel-me */")
	cancel()
	if err == nil {
		t.Fatal("pg_sleep(30) under a 500ms context returned no error")
	}
	// Generous: on a loaded machine with log_statement=all, the log's pipe
	// can lag well behind the statements.
	deadline := time.Now().Add(60 * time.Second)
	for w.upstreamRunning(t, "gatehouse-cancel-me") {
		if time.Now().After(deadline) {
			t.Fatal("the upstream query was not cancelled within 10s of the context timeout")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// upstreamRunning reports whether a query containing text is active.
func (w *world) upstreamRunning(t *testing.T, text string) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.pg.DSN("postgres", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%'||$1||'%' AND pid <> pg_backend_pid()", text).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// testPgbench: pgbench's select-only workload runs clean through the proxy.
func testPgbench(t *testing.T, w *world, p profile) {
	requireTools(t, "pgbench")
	// pgbench -i writes: it runs directly against the database as the owner.
	initCmd := exec.Command("pgbench", "-i", "-q", "-s", "1", "-h", w.pg.Host, "-p", fmt.Sprint(w.pg.Port), "-U", "app_owner", "orders")
	initCmd.Env = append(os.Environ(), "PGPASSWORD="+appOwnerPassword)
	if out, err := runWithTimeout(initCmd, 2*time.Minute); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	// -S is select-only; -n skips vacuum (a write the readonly role may not do).
	cmd := exec.Command("pgbench", "-n", "-S", "-c", "2", "-t", "50", "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-U", "readonly", "orders")
	out, err := runWithTimeout(cmd, 2*time.Minute)
	if err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	mustContain(t, "pgbench", out, "number of transactions actually processed: 100/100", "number of failed transactions: 0")
}

// testBindParameters: under a statement policy with log_parameters the
// recording keeps the bind values of the extended protocol (text as
// strings, binary as base64); an agent on the same role gets agentro,
// which does not, and its record keeps only their count.
func testBindParameters(t *testing.T, w *world, p profile) {
	run := func(t *testing.T, config, host string) []recorder.Event {
		before := w.sessionIDs(t)
		port, stop := w.startTunnelVia(t, config, host, "orders")
		conn := pgxThrough(t, port, pgx.QueryExecModeCacheStatement)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var s string
		var n int32
		if err := conn.QueryRow(ctx, "SELECT $1::text, $2::int4", "gatehouse-param-check", int32(7)).Scan(&s, &n); err != nil || s != "gatehouse-param-check" || n != 7 {
			t.Fatalf("extended query with parameters: %q %d %v", s, n, err)
		}
		conn.Close(ctx)
		stop()
		return w.newSessionEvents(t, before)
	}
	t.Run("engineer: values recorded", func(t *testing.T) {
		events := run(t, w.sshConfig(p), "gatehouse")
		// pgx sends text as text and int4 in binary: 7 is 00 00 00 07.
		findEvent(t, events, "db.statement", `"params":2`, `"parameters":["gatehouse-param-check",{"format":"binary","base64":"AAAABw=="}]`)
	})
	t.Run("agent: only the count", func(t *testing.T) {
		a := w.mustAgentCert(t, p, "param-agent", "--grant", "orders:readonly")
		events := run(t, a.sshConfig(t), a.host())
		ev := findEvent(t, events, "db.statement", `"params":2`)
		if strings.Contains(string(ev.Data), "parameters") || strings.Contains(string(ev.Data), "gatehouse-param-check") {
			t.Fatalf("the agent's record has bind values its policy does not log: %s", ev.Data)
		}
	})
}
