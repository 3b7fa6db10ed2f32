//go:build servers

package pgwire

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/gatehouse-dev/gatehouse/internal/testenv"
)

// TestPostgres runs real clients through Serve against a real PostgreSQL
// 15, reached over TLS (verify-full) with SCRAM as a role of its own.
func TestPostgres(t *testing.T) {
	checkLeaks(t)
	certPEM, keyPEM := selfSignedCert(t)
	pg := testenv.StartPostgres(t, testenv.PostgresTLS(certPEM, keyPEM))
	pg.Exec(t, `
		CREATE ROLE app LOGIN PASSWORD 'app-pw';
		CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, blob bytea, price numeric, at timestamptz);
		INSERT INTO items SELECT g, 'item ' || g, '\x0001ff', g * 1.25, '2024-01-02 03:04:05+00' FROM generate_series(1, 10) g;
		GRANT SELECT, INSERT, UPDATE, DELETE ON items TO app;`)
	rootCert := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(rootCert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	upstreamDSN := fmt.Sprintf("postgres://app:app-pw@%s/postgres?sslmode=verify-full&sslrootcert=%s", pg.Addr(), rootCert)

	var events eventLog
	var infoMu sync.Mutex
	var infos []SessionInfo
	registry := &CancelRegistry{}
	addr := startProxy(t, func() Config {
		return Config{
			Authorize: func(ctx context.Context, s Startup) (*Upstream, error) {
				if s.User != "readonly" {
					return nil, &Error{Message: fmt.Sprintf("gatehouse: no grant for role %q", s.User)}
				}
				cfg, err := pgconn.ParseConfig(upstreamDSN)
				if err != nil {
					return nil, err
				}
				return &Upstream{Config: cfg, RuntimeParams: map[string]string{"statement_timeout": "60s"}}, nil
			},
			Inspect: func(ctx context.Context, q Query) Verdict {
				up := strings.ToUpper(q.SQL)
				if strings.Contains(up, "DELETE") || strings.Contains(up, "DROP") || strings.Contains(up, "TRUNCATE") {
					return Verdict{Message: "gatehouse: not allowed by statement policy \"readonly\"", Detail: "denied"}
				}
				return Verdict{Allow: true, Detail: "allowed"}
			},
			Observe: events.observe,
			OnStart: func(i SessionInfo) error {
				infoMu.Lock()
				infos = append(infos, i)
				infoMu.Unlock()
				return nil
			},
			Cancels: registry,
		}
	})
	dsn := "postgres://readonly@" + addr + "/orders?sslmode=prefer&application_name=pgwire-test"
	ctx := context.Background()

	connect := func(t *testing.T, change func(*pgx.ConnConfig)) *pgx.Conn {
		t.Helper()
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if change != nil {
			change(cfg)
		}
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Fatalf("connect through gatehouse: %v", err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	count := func(t *testing.T) int {
		t.Helper()
		direct, err := pgx.Connect(ctx, pg.DSN("postgres", "", ""))
		if err != nil {
			t.Fatal(err)
		}
		defer direct.Close(ctx)
		var n int
		if err := direct.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	requireRefused := func(t *testing.T, err error) {
		t.Helper()
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" || !strings.HasPrefix(pgErr.Message, "gatehouse: ") {
			t.Fatalf("got %v, want gatehouse's 42501", err)
		}
	}

	t.Run("session", func(t *testing.T) {
		conn := connect(t, nil)
		var user, app string
		var readOnly string
		if err := conn.QueryRow(ctx, "SELECT current_user, current_setting('application_name'), current_setting('statement_timeout')").Scan(&user, &app, &readOnly); err != nil {
			t.Fatal(err)
		}
		if user != "app" || app != "pgwire-test" || readOnly != "1min" {
			t.Errorf("upstream session: user %q, application_name %q, statement_timeout %q", user, app, readOnly)
		}
		if pid, real := conn.PgConn().PID(), uint32(backendPID(t, conn)); pid != real {
			t.Errorf("the client sees process id %d, not its backend's %d (pg_stat_activity, pg_terminate_backend)", pid, real)
		}
		infoMu.Lock()
		info := infos[len(infos)-1]
		infoMu.Unlock()
		if !info.TLS || info.TLSVersion == "" || info.UpstreamUser != "app" || !strings.HasPrefix(info.ServerVersion, "15") {
			t.Errorf("SessionInfo %+v: want TLS to app on PostgreSQL 15", info)
		}
	})

	t.Run("refused role", func(t *testing.T) {
		_, err := pgx.Connect(ctx, "postgres://admin@"+addr+"/orders?sslmode=disable")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "28000" || pgErr.Message != `gatehouse: no grant for role "admin"` {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("simple protocol", func(t *testing.T) {
		conn := connect(t, func(c *pgx.ConnConfig) { c.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol })
		before := count(t)
		if _, err := conn.Exec(ctx, "INSERT INTO items VALUES (100, 'x'); SELECT 1"); err != nil {
			t.Fatal(err)
		}
		// A denied statement anywhere in the string refuses the whole string.
		_, err := conn.Exec(ctx, "INSERT INTO items VALUES (101, 'y'); DELETE FROM items")
		requireRefused(t, err)
		if got := count(t); got != before+1 {
			t.Errorf("items: %d, want %d", got, before+1)
		}
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM items WHERE id >= $1", 100).Scan(&n); err != nil || n != 1 {
			t.Errorf("session after a denial: %d, %v", n, err)
		}
		if _, err := conn.Exec(ctx, "UPDATE items SET name = 'x2' WHERE id = 100"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("extended protocol and statement cache", func(t *testing.T) {
		conn := connect(t, nil)
		for i := 1; i <= 7; i++ {
			var name string
			var price float64
			if err := conn.QueryRow(ctx, "SELECT name, price::float8 FROM items WHERE id = $1", i).Scan(&name, &price); err != nil {
				t.Fatal(err)
			}
			if name != fmt.Sprintf("item %d", i) || price != float64(i)*1.25 {
				t.Errorf("row %d: %q %v", i, name, price)
			}
		}
		_, err := conn.Exec(ctx, "DELETE FROM items WHERE id = $1", 1)
		requireRefused(t, err)
		rows, _ := conn.Query(ctx, "SELECT id FROM items WHERE id <= $1 ORDER BY id", 3)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil || len(ids) != 3 {
			t.Fatalf("after a denial: %v, %v", ids, err)
		}
	})

	t.Run("binary formats", func(t *testing.T) {
		conn := connect(t, nil)
		var (
			i8   int64
			blob []byte
			ts   time.Time
			arr  []string
			num  float64
		)
		err := conn.QueryRow(ctx, "SELECT $1::int8, $2::bytea, $3::timestamptz, $4::text[], price::float8 FROM items WHERE id = 4",
			int64(1)<<40, []byte{0, 1, 2, 255}, time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), []string{"a", "b,c"}).Scan(&i8, &blob, &ts, &arr, &num)
		if err != nil {
			t.Fatal(err)
		}
		if i8 != 1<<40 || !bytes.Equal(blob, []byte{0, 1, 2, 255}) || !ts.Equal(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)) || len(arr) != 2 || arr[1] != "b,c" || num != 5 {
			t.Errorf("round trip: %v %v %v %v %v", i8, blob, ts, arr, num)
		}
	})

	t.Run("batch", func(t *testing.T) {
		conn := connect(t, nil)
		b := &pgx.Batch{}
		b.Queue("SELECT count(*) FROM items")
		b.Queue("UPDATE items SET name = name WHERE id = $1", 2)
		b.Queue("SELECT name FROM items WHERE id = $1", 2)
		res := conn.SendBatch(ctx, b)
		var n int
		var name string
		if err := res.QueryRow().Scan(&n); err != nil {
			t.Fatal(err)
		}
		if tag, err := res.Exec(); err != nil || tag.RowsAffected() != 1 {
			t.Fatalf("update: %v %v", tag, err)
		}
		if err := res.QueryRow().Scan(&name); err != nil || name != "item 2" {
			t.Fatalf("select: %q %v", name, err)
		}
		if err := res.Close(); err != nil {
			t.Fatal(err)
		}
	})

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeExec, pgx.QueryExecModeDescribeExec} {
		t.Run("denied statement in a batch/"+mode.String(), func(t *testing.T) {
			conn := connect(t, func(c *pgx.ConnConfig) { c.DefaultQueryExecMode = mode })
			before := count(t)
			b := &pgx.Batch{}
			b.Queue("INSERT INTO items (id, name) VALUES ($1, $2)", 200, "batch")
			b.Queue("DELETE FROM items WHERE id = $1", 3)
			b.Queue("INSERT INTO items (id, name) VALUES ($1, $2)", 201, "batch")
			err := conn.SendBatch(ctx, b).Close()
			requireRefused(t, err)
			// The whole batch was one implicit transaction: nothing stays.
			if got := count(t); got != before {
				t.Errorf("items: %d, want %d", got, before)
			}
			var one int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("session after the batch: %v", err)
			}
		})
	}

	t.Run("denial inside a transaction", func(t *testing.T) {
		conn := connect(t, nil)
		before := count(t)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO items (id, name) VALUES (300, 'tx')"); err != nil {
			t.Fatal(err)
		}
		_, err = tx.Exec(ctx, "DELETE FROM items")
		requireRefused(t, err)
		_, err = tx.Exec(ctx, "SELECT 1")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "25P02" {
			t.Fatalf("after a denial the transaction must be failed: %v", err)
		}
		if err := tx.Commit(ctx); !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Fatalf("commit of a failed transaction: %v, want a rollback", err)
		}
		if got := count(t); got != before {
			t.Errorf("items: %d, want %d", got, before)
		}
		if conn.PgConn().TxStatus() != 'I' {
			t.Errorf("tx status %c", conn.PgConn().TxStatus())
		}
	})

	t.Run("copy", func(t *testing.T) {
		conn := connect(t, nil)
		before := count(t)
		rows := [][]any{{int32(400), "copied a"}, {int32(401), "copied b"}, {int32(402), "copied c"}}
		n, err := conn.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "name"}, pgx.CopyFromRows(rows))
		if err != nil || n != 3 {
			t.Fatalf("CopyFrom: %d, %v", n, err)
		}
		var out bytes.Buffer
		tag, err := conn.PgConn().CopyTo(ctx, &out, "COPY (SELECT id, name FROM items WHERE id >= 400 ORDER BY id) TO STDOUT")
		if err != nil || tag.RowsAffected() != 3 || out.String() != "400\tcopied a\n401\tcopied b\n402\tcopied c\n" {
			t.Fatalf("CopyTo: %q %v %v", out.String(), tag, err)
		}
		// A COPY FROM that the client aborts leaves nothing.
		_, err = conn.PgConn().CopyFrom(ctx, &failingReader{}, "COPY items (id, name) FROM STDIN")
		if err == nil {
			t.Fatal("aborted COPY succeeded")
		}
		if got := count(t); got != before+3 {
			t.Errorf("items: %d, want %d", got, before+3)
		}
		var ev *StatementEvent
		for _, e := range events.all() {
			if strings.HasPrefix(e.SQL, "COPY (SELECT id, name") {
				ev = &e
			}
		}
		if ev == nil || ev.Rows != 3 || ev.Outcome != OutcomeOK || ev.Bytes == 0 {
			t.Errorf("COPY TO event %+v", ev)
		}
	})

	t.Run("listen notify", func(t *testing.T) {
		listener := connect(t, nil)
		notifier := connect(t, func(c *pgx.ConnConfig) { c.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol })
		if _, err := listener.Exec(ctx, "LISTEN jobs"); err != nil {
			t.Fatal(err)
		}
		if _, err := notifier.Exec(ctx, "NOTIFY jobs, 'hello'"); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		n, err := listener.WaitForNotification(wctx)
		if err != nil || n.Channel != "jobs" || n.Payload != "hello" || n.PID == 0 {
			t.Fatalf("notification %+v, %v", n, err)
		}
	})

	t.Run("context timeout cancels the upstream query", func(t *testing.T) {
		// pgx sends a CancelRequest on a new connection with the key
		// gatehouse gave it; gatehouse maps it to the upstream's.
		conn := connect(t, func(c *pgx.ConnConfig) {
			c.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
				return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 10 * time.Second}
			}
		})
		upstreamPID := backendPID(t, conn)
		qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := conn.Exec(qctx, "SELECT pg_sleep(30)")
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("got %v, want the query cancelled (57014)", err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("cancel took %v", time.Since(start))
		}
		waitNoSleep(t, pg, upstreamPID)
		if got := backendPID(t, conn); got != upstreamPID {
			t.Errorf("session changed backend: %d, %d", got, upstreamPID)
		}
	})

	t.Run("client lost mid-query cancels the upstream query", func(t *testing.T) {
		// A client that vanishes without a CancelRequest (pgx sends one
		// when it gives up; a killed process does not): gatehouse cancels
		// the orphaned query itself.
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		fe := pgproto3.NewFrontend(raw, raw)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": "readonly"}})
		fe.Send(&pgproto3.Query{String: "SELECT pg_sleep(30) AS lost"})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		pid := waitActive(t, pg, "SELECT pg_sleep(30) AS lost")
		raw.Close()
		waitNoSleep(t, pg, pid)
		deadline := time.Now().Add(5 * time.Second)
		for {
			var ev *StatementEvent
			for _, e := range events.all() {
				if e.SQL == "SELECT pg_sleep(30) AS lost" {
					ev = &e
				}
			}
			if ev != nil && ev.Outcome == OutcomeUnfinished {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("event %+v, want the query recorded as unfinished", ev)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})

	t.Run("psql", func(t *testing.T) {
		psql, err := exec.LookPath("psql")
		if err != nil {
			t.Fatalf("psql is not installed: %v", err)
		}
		host, port, _ := net.SplitHostPort(addr)
		cmd := exec.Command(psql, "-X", "-v", "ON_ERROR_STOP=0", "-h", host, "-p", port, "-U", "readonly", "-d", "orders",
			"-c", "SELECT count(*) AS n FROM items WHERE id < 5",
			"-c", "DELETE FROM items",
			"-c", `\copy items (id, name) from stdin`,
			"-c", "SELECT name FROM items WHERE id = 500")
		cmd.Env = append(os.Environ(), "PGCONNECT_TIMEOUT=5", "PGSSLMODE=prefer", "PGAPPNAME=psql-test")
		cmd.Stdin = strings.NewReader("500\tfrom psql\n")
		out, err := cmd.CombinedOutput()
		got := string(out)
		if !strings.Contains(got, "ERROR:  gatehouse: not allowed by statement policy") || !strings.Contains(got, "from psql") || !strings.Contains(got, "\n 4\n") {
			t.Fatalf("psql (%v):\n%s", err, got)
		}
	})

	// Every statement was reported once, with its verdict's detail.
	for _, e := range events.all() {
		if e.Outcome == OutcomeDenied && e.Detail != "denied" || e.Outcome == OutcomeOK && e.Detail != "allowed" && e.SQL != "" {
			t.Errorf("event %+v has the wrong detail", e)
		}
		if e.Outcome == OutcomeUnfinished && e.SQL != "SELECT pg_sleep(30) AS lost" {
			t.Errorf("unfinished statement %+v", e)
		}
	}
}

// startProxy serves every connection to a loopback listener with the
// Config cfg returns; the cleanup ends every session and waits for it.
func startProxy(t *testing.T, cfg func() Config) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				if err := Serve(ctx, conn, cfg()); err != nil && ctx.Err() == nil {
					t.Logf("Serve: %v", err)
				}
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		cancel()
		wg.Wait()
	})
	return ln.Addr().String()
}

func backendPID(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var pid int
	if err := conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitActive waits until a backend runs query, and returns its pid.
func waitActive(t *testing.T, pg *testenv.Postgres, query string) int {
	t.Helper()
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, pg.DSN("postgres", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var pid int
		err := direct.QueryRow(ctx, "SELECT pid FROM pg_stat_activity WHERE query = $1 AND state = 'active'", query).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
	}
	t.Fatalf("no backend runs %q", query)
	return 0
}

// waitNoSleep waits until the upstream backend pid runs no pg_sleep.
func waitNoSleep(t *testing.T, pg *testenv.Postgres, pid int) {
	t.Helper()
	ctx := context.Background()
	direct, err := pgx.Connect(ctx, pg.DSN("postgres", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	var query string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		err := direct.QueryRow(ctx, "SELECT query FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", pid).Scan(&query)
		if errors.Is(err, pgx.ErrNoRows) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("upstream backend %d still runs %q", pid, query)
}

// failingReader fails a COPY FROM STDIN after some data.
type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if !r.sent {
		r.sent = true
		return copy(p, "600\tnever\n"), nil
	}
	return 0, errors.New("client gave up")
}

// selfSignedCert makes a certificate for 127.0.0.1 that is its own root.
func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
