//go:build servers

package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
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

// testManyParameters: a statement with more than 65,535 parameters is
// described as PostgreSQL describes it, and the session goes on; the
// client itself refuses to bind that many (issue 13, item 4).
func testManyParameters(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	s := newRawSession(t, port, "readonly")
	var b strings.Builder
	b.WriteString("SELECT ARRAY[0")
	for i := 1; i <= 70000; i++ {
		fmt.Fprintf(&b, ",$%d::int", i)
	}
	b.WriteString("]")
	s.fe.Send(parse("wide", b.String()))
	s.fe.Send(&pgproto3.Describe{ObjectType: 'S', Name: "wide"})
	s.fe.Send(syncMsg)
	if err := s.fe.Flush(); err != nil {
		t.Fatal(err)
	}
	s.conn.Conn().SetReadDeadline(time.Now().Add(30 * time.Second))
	described := -1
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			t.Fatalf("the session ended: %v", err)
		}
		if d, ok := msg.(*pgproto3.ParameterDescription); ok {
			described = len(d.ParameterOIDs)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			t.Fatalf("%s %s", e.Code, e.Message)
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	s.conn.Conn().SetReadDeadline(time.Time{})
	if described != 70000 {
		t.Fatalf("described %d parameters, want 70000", described)
	}
	if r := s.round(query("SELECT 42")); len(r.rows) != 1 || r.rows[0] != "42" {
		t.Fatalf("the session did not go on: %s", r)
	}
}

// testRealBackendPID: the process id a client is given is its backend's,
// so pg_stat_activity and pg_terminate_backend act on the right session,
// while a cancel still goes through gatehouse's own secret (issue 13,
// item 3).
func testRealBackendPID(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	conn := pgxThrough(t, port, pgx.QueryExecModeCacheStatement)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var backend uint32
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend); err != nil {
		t.Fatal(err)
	}
	if got := conn.PgConn().PID(); got != backend {
		t.Fatalf("the client was given process id %d; its backend is %d", got, backend)
	}
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SELECT pg_sleep(30) /* gatehouse-real-pid */")
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !w.upstreamRunning(t, "gatehouse-real-pid") {
		if time.Now().After(deadline) {
			t.Fatal("the query never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := conn.PgConn().CancelRequest(ctx); err != nil {
		t.Fatalf("cancel: %v", err)
	}
	var pgErr *pgconn.PgError
	if err := <-done; !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("after the cancel: %v, want 57014", err)
	}
}

// testHarmlessStartupParameters: what pgx and lib/pq put in the start-up
// packet for their own session reaches the database; what could widen the
// role is still refused, by name (issue 13, item 2).
func testHarmlessStartupParameters(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	connect := func(params map[string]string) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://readonly@127.0.0.1:%d/orders?sslmode=disable&connect_timeout=10", port))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range params {
			cfg.RuntimeParams[k] = v
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return pgx.ConnectConfig(ctx, cfg)
	}
	conn, err := connect(map[string]string{"client_min_messages": "warning", "lock_timeout": "1500ms",
		"IntervalStyle": "iso_8601", "idle_in_transaction_session_timeout": "1min"})
	if err != nil {
		t.Fatalf("harmless start-up parameters refused: %v", err)
	}
	defer conn.Close(context.Background())
	var minMessages, lockTimeout, intervalStyle string
	if err := conn.QueryRow(context.Background(), "SELECT current_setting('client_min_messages'), current_setting('lock_timeout'), current_setting('IntervalStyle')").
		Scan(&minMessages, &lockTimeout, &intervalStyle); err != nil {
		t.Fatal(err)
	}
	if minMessages != "warning" || lockTimeout != "1500ms" || intervalStyle != "iso_8601" {
		t.Fatalf("the database has client_min_messages %q, lock_timeout %q, IntervalStyle %q", minMessages, lockTimeout, intervalStyle)
	}
	_, err = connect(map[string]string{"work_mem": "64GB"})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, `"work_mem"`) {
		t.Fatalf("work_mem in the start-up packet: %v, want 42501 naming it", err)
	}
	// options (PGOPTIONS): each -c judged like a parameter of the packet.
	viaOptions, err := connect(map[string]string{"options": `-c lock_timeout=2500ms --statement-timeout=7s`})
	if err != nil {
		t.Fatalf("options setting harmless parameters refused: %v", err)
	}
	defer viaOptions.Close(context.Background())
	var statementTimeout string
	if err := viaOptions.QueryRow(context.Background(), "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')").
		Scan(&lockTimeout, &statementTimeout); err != nil || lockTimeout != "2500ms" || statementTimeout != "7s" {
		t.Fatalf("options: lock_timeout %q, statement_timeout %q (%v)", lockTimeout, statementTimeout, err)
	}
	_, err = connect(map[string]string{"options": "-c role=app_owner"})
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.Contains(pgErr.Message, `"role"`) {
		t.Fatalf("options -c role: %v, want 42501 naming role", err)
	}
}
