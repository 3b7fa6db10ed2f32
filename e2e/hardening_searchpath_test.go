//go:build servers

package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// shadowDatabase is a database of the target orders in which the masked
// table public.people has namesakes that are not masked: app_owner.people
// (found first under the role's default search_path, "$user", public) and
// shadow.people. Whoever resolves "people" under another search_path than
// the session's takes one for the other.
const shadowDatabase = "shadowdb"

const shadowFixtures = `
CREATE TABLE public.people (id int PRIMARY KEY, name text, email text, ssn text, card text, phone text);
INSERT INTO public.people VALUES (1, 'Eve', 'eve.private@example.net', '111-22-3333', '4111111111111111', '+1-555-0123');
CREATE SCHEMA app_owner;
CREATE TABLE app_owner.people (LIKE public.people);
INSERT INTO app_owner.people VALUES (1, 'Clean', 'clean@example.com', '000-00-0000', '0', '0');
CREATE SCHEMA shadow;
CREATE TABLE shadow.people (LIKE public.people);
INSERT INTO shadow.people VALUES (1, 'Shade', 'shade@example.com', '000-00-0000', '0', '0');
`

// setUpShadowDatabase creates shadowDatabase once per world.
func (w *world) setUpShadowDatabase(t *testing.T) {
	t.Helper()
	if w.queryInt(t, "SELECT count(*) FROM pg_database WHERE datname = $1", shadowDatabase) > 0 {
		return
	}
	w.execIn("orders", "CREATE DATABASE "+shadowDatabase+" OWNER app_owner")
	w.execIn(shadowDatabase, "SET ROLE app_owner; "+shadowFixtures)
}

// queryInt runs a query of one integer directly at the database.
func (w *world) queryInt(t *testing.T, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, w.pg.DSN("orders", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// pgxShadow connects pgx through the tunnel on port to shadowDatabase as
// the masked role support, with the given start-up parameters.
func pgxShadow(port int, params map[string]string) (*pgx.Conn, error) {
	return pgxShadowMode(port, params, pgx.QueryExecModeCacheStatement)
}

func pgxShadowMode(port int, params map[string]string, mode pgx.QueryExecMode) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://support@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=10", port, shadowDatabase))
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = mode
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// shadowProbes read computed columns of "people": masked when it is
// public.people, whichever schema the name resolves to.
var shadowProbes = []string{
	"SELECT upper(email), ssn || '', card::varchar(40), reverse(phone) FROM people",
	"SELECT row_to_json(p) FROM people p",
	"SELECT string_agg(email, ',') FROM people",
}

// testHardeningSearchPathStartup: a search_path given in the start-up
// packet in any case is the one the database resolves names with, so it
// must be the one gatehouse's lineage resolves them with; the same name
// twice in two cases is refused.
func testHardeningSearchPathStartup(t *testing.T, w *world, p profile) {
	w.setUpShadowDatabase(t)
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	for _, name := range []string{"search_path", "Search_Path", "SEARCH_PATH"} {
		t.Run(name, func(t *testing.T) {
			conn, err := pgxShadow(port, map[string]string{name: "public"})
			if err != nil {
				t.Fatalf("connect with %s=public: %v", name, err)
			}
			defer conn.Close(context.Background())
			var path string
			if err := conn.QueryRow(context.Background(), "SELECT pg_catalog.current_setting('search_path')").Scan(&path); err != nil || path != "public" {
				t.Fatalf("the database's search_path is %q (%v), want public", path, err)
			}
			for _, sql := range shadowProbes {
				out, err := pgxDump(conn, sql)
				var pgErr *pgconn.PgError
				if err != nil && !errors.As(err, &pgErr) {
					t.Fatalf("%s: %v", sql, err)
				}
				if s := leaked(out); s != "" {
					t.Fatalf("%s=public: %q shows %q:\n%s", name, sql, s, out)
				}
			}
		})
	}
	t.Run("twice in two cases", func(t *testing.T) {
		conn, err := pgxShadow(port, map[string]string{"search_path": "app_owner", "SEARCH_PATH": "public"})
		if err == nil {
			conn.Close(context.Background())
			t.Fatal("a start-up packet with search_path and SEARCH_PATH was accepted")
		}
		if !strings.Contains(err.Error(), "given twice") {
			t.Fatalf("refused, but not for the duplicate: %v", err)
		}
	})
}

// backendsOf counts the database's backends of app_owner in db.
func (w *world) backendsOf(t *testing.T, db string) int {
	t.Helper()
	return w.queryInt(t, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'app_owner' AND datname = $1", db)
}

// testHardeningSessionLimits: one certificate cannot open more database
// sessions on a target than targets.NAME.max_sessions_per_certificate (10
// by default), over one SSH connection or several; the refusal is
// PostgreSQL's too_many_connections naming the setting; a closed session
// frees its place; masked sessions share one lineage connection, so the
// database's backends stay bounded by the limit.
func testHardeningSessionLimits(t *testing.T, w *world, p profile) {
	w.setUpShadowDatabase(t)
	config := w.sshConfig(p)
	port, stop := w.startTunnel(t, config, "orders")
	defer stop()
	const limit = 10 // policy.DefaultMaxSessionsPerCertificate
	var conns []*pgx.Conn
	defer func() {
		for _, c := range conns {
			c.Close(context.Background())
		}
	}()
	for i := range limit {
		conn, err := pgxShadow(port, nil)
		if err != nil {
			t.Fatalf("session %d of %d: %v", i+1, limit, err)
		}
		conns = append(conns, conn)
		if _, err := pgxDump(conn, "SELECT upper(email) FROM people"); err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
	}
	refused := func(port int) {
		t.Helper()
		conn, err := pgxShadow(port, nil)
		if err == nil {
			conn.Close(context.Background())
			t.Fatalf("session %d of one certificate was accepted", limit+1)
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "53300" || !strings.Contains(pgErr.Message, "targets.orders.max_sessions_per_certificate") {
			t.Fatalf("session %d: want 53300 naming targets.orders.max_sessions_per_certificate, got %v", limit+1, err)
		}
	}
	refused(port)
	// Another SSH connection with the same certificate counts as the same.
	port2, stop2 := w.startTunnel(t, config, "orders")
	defer stop2()
	refused(port2)
	// Each masked session holds one backend; lineage shares one more.
	if n := w.backendsOf(t, shadowDatabase); n > limit+1 {
		t.Errorf("%d masked sessions hold %d backends of the database, want at most %d", limit, n, limit+1)
	}
	conns[0].Close(context.Background())
	conns = conns[1:]
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := pgxShadow(port2, nil)
		if err == nil {
			conns = append(conns, conn)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed session did not free its place: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pathStep is one statement of a search_path scenario: run it, and when
// probe is set, run shadowProbes after it; want, when set, is text the
// first probe must show (the path followed: a clean namesake's values are
// not masked).
type pathStep struct {
	sql   string
	probe bool
	want  string
}

// pathScenarios change the search_path in every way PostgreSQL has, so
// that "people" ends up meaning the masked public.people while a proxy
// that did not follow the change would resolve it to a clean namesake.
var pathScenarios = []struct {
	name    string
	startup string // search_path in the start-up packet; "": the role's default ("$user", public: app_owner.people)
	steps   []pathStep
}{
	{"SET", "", []pathStep{{"SELECT 1", true, "CLEAN@EXAMPLE.COM"}, {"SET search_path TO public", true, ""}}},
	{"SET SCHEMA", "", []pathStep{{"SET SCHEMA 'public'", true, ""}}},
	{"SET LOCAL", "shadow", []pathStep{{"BEGIN", false, ""}, {"SET LOCAL search_path = public", true, ""}, {"ROLLBACK", true, "SHADE@EXAMPLE.COM"}}},
	{"ROLLBACK of a SET", "public", []pathStep{{"BEGIN", false, ""}, {"SET search_path = shadow", true, "SHADE@EXAMPLE.COM"}, {"ROLLBACK", true, ""}}},
	{"ROLLBACK TO SAVEPOINT", "public", []pathStep{{"BEGIN", false, ""}, {"SAVEPOINT a", false, ""}, {"SET search_path = shadow", true, "SHADE@EXAMPLE.COM"}, {"ROLLBACK TO SAVEPOINT a", true, ""}, {"COMMIT", true, ""}}},
	{"COMMIT of a SET LOCAL", "public", []pathStep{{"BEGIN", false, ""}, {"SET LOCAL search_path = shadow", true, "SHADE@EXAMPLE.COM"}, {"COMMIT", true, ""}}},
	{"RESET", "public", []pathStep{{"SET search_path = shadow", true, "SHADE@EXAMPLE.COM"}, {"RESET search_path", true, ""}}},
	{"RESET ALL", "public", []pathStep{{"SET search_path = shadow", false, ""}, {"RESET ALL", true, ""}}},
	{"DISCARD ALL", "public", []pathStep{{"SET search_path = shadow", false, ""}, {"DISCARD ALL", true, ""}}},
	{"SET search_path TO DEFAULT", "public", []pathStep{{"SET search_path = shadow", false, ""}, {"SET search_path TO DEFAULT", true, ""}}},
	{"set_config", "shadow", []pathStep{{"SELECT pg_catalog.set_config('search_path', 'public', false)", true, ""}}},
	{"set_config, local", "shadow", []pathStep{{"BEGIN", false, ""}, {"SELECT set_config('search_path', 'public', true)", true, ""}, {"COMMIT", true, "SHADE@EXAMPLE.COM"}}},
	{"set_config with a computed name", "shadow", []pathStep{{"SELECT set_config('search_' || 'path', 'public', false)", true, ""}}},
}

// testHardeningSearchPathSet: a masked session may change its search_path
// (real clients do), and gatehouse resolves names with the path in force,
// read again from the session after anything that may change it: masked
// columns of public.people stay masked however the path came to name it,
// and a clean namesake's columns are not masked. Over the simple protocol
// and the extended one (pgx, statements prepared before the change).
func testHardeningSearchPathSet(t *testing.T, w *world, p profile) {
	w.setUpShadowDatabase(t)
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	modes := map[string]pgx.QueryExecMode{"simple": pgx.QueryExecModeSimpleProtocol, "extended": pgx.QueryExecModeCacheStatement}
	for modeName, mode := range modes {
		for _, sc := range pathScenarios {
			t.Run(modeName+"/"+sc.name, func(t *testing.T) {
				params := map[string]string{}
				if sc.startup != "" {
					params["search_path"] = sc.startup
				}
				conn, err := pgxShadowMode(port, params, mode)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close(context.Background())
				// Prepared under the first path, run under the last.
				ctx := context.Background()
				if _, err := conn.Prepare(ctx, "early", shadowProbes[0]); err != nil {
					t.Fatalf("prepare: %v", err)
				}
				for _, step := range sc.steps {
					if _, err := conn.Exec(ctx, step.sql); err != nil {
						var pgErr *pgconn.PgError
						if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
							t.Fatalf("%s: %v", step.sql, err)
						}
						t.Logf("%s: refused: %v", step.sql, err) // no leak either
					}
					if !step.probe {
						continue
					}
					for i, sql := range append(slices.Clone(shadowProbes), "early") {
						out := probe(t, conn, sql)
						if i == 0 && step.want != "" && !strings.Contains(out, step.want) {
							t.Errorf("after %q: %q shows %q, want %q (the path in force not followed)", step.sql, sql, out, step.want)
						}
					}
				}
			})
		}
	}
	t.Run("a change inside a pipeline", func(t *testing.T) {
		conn, err := pgxShadowMode(port, map[string]string{"search_path": "shadow"}, pgx.QueryExecModeCacheStatement)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		b := &pgx.Batch{}
		b.Queue("SET search_path = public")
		for _, sql := range shadowProbes {
			b.Queue(sql)
		}
		res := conn.SendBatch(context.Background(), b)
		for range len(shadowProbes) + 1 {
			rows, err := res.Query()
			var out strings.Builder
			for err == nil && rows.Next() {
				for _, v := range rows.RawValues() {
					out.Write(v)
				}
			}
			if rows != nil {
				rows.Close()
			}
			if s := leaked(out.String()); s != "" {
				t.Fatalf("a pipelined probe after SET search_path shows %q: %s", s, out.String())
			}
		}
		res.Close()
	})
}

// probe runs sql and fails the test if it shows a secret; a refusal or an
// error from the database is no leak.
func probe(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	out, err := pgxDump(conn, sql)
	var pgErr *pgconn.PgError
	if err != nil && !errors.As(err, &pgErr) {
		t.Fatalf("%s: %v", sql, err)
	}
	if s := leaked(out); s != "" {
		t.Fatalf("%q shows %q:\n%s", sql, s, out)
	}
	return out
}

// testHardeningSearchPathBypasses re-runs every masking bypass attempt
// after the session changed its search_path, in a database where a schema
// shadows the masked table with an unmasked one of the same name.
func testHardeningSearchPathBypasses(t *testing.T, w *world, p profile) {
	w.execIn("orders", `SET ROLE app_owner;
		CREATE SCHEMA IF NOT EXISTS shadow;
		CREATE TABLE IF NOT EXISTS shadow.people (LIKE public.people);
		CREATE TABLE IF NOT EXISTS shadow.customers (LIKE public.customers);`)
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	for _, a := range bypassAttempts {
		t.Run("psql/"+a.what, func(t *testing.T) {
			out, err := psqlAs(t, port, "support", "", "-c", "SET search_path = shadow, public", "-c", "SELECT count(*) FROM people",
				"-c", "SET search_path = public, shadow", "-c", a.sql)
			if s := leaked(out); s != "" {
				t.Fatalf("%s: %q shows %q:\n%s", a.what, a.sql, s, out)
			}
			if err != nil && !strings.Contains(out, "gatehouse") && !strings.Contains(out, "ERROR") {
				t.Fatalf("%s: psql failed without an error from the database or gatehouse: %v\n%s", a.what, err, out)
			}
		})
	}
	conn := pgxAs(t, port, "support", pgx.QueryExecModeCacheStatement)
	ctx := context.Background()
	for _, a := range bypassAttempts {
		if strings.Contains(a.sql, ";") {
			continue
		}
		t.Run("pgx/"+a.what, func(t *testing.T) {
			for _, sql := range []string{"SET search_path = shadow, public", "SET search_path = public, shadow"} {
				if _, err := conn.Exec(ctx, sql); err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
				probe(t, conn, a.sql)
			}
		})
	}
}

// testHardeningSearchPathPrepared: PostgreSQL analyzes a prepared
// statement again under the search_path in force when it runs, so one
// judged harmless under a path where "people" is a clean namesake must be
// judged again once the path names the masked table: an agent (masking
// policy pii_strict: deny_probing, on_derived: deny) prepares a probe of
// ssn and a computed column under search_path shadow, switches to public,
// and runs them.
func testHardeningSearchPathPrepared(t *testing.T, w *world, p profile) {
	w.setUpShadowDatabase(t)
	a := w.mustAgentCert(t, p, "sp-agent", "--grant", "orders:support", "--ttl", "20m")
	port, stop := w.startTunnelVia(t, a.sshConfig(t), a.host(), "orders")
	defer stop()
	statements := map[string]string{
		"probe":   "SELECT id FROM people WHERE ssn LIKE '1%'",
		"derived": "SELECT upper(email) FROM people",
	}
	for _, protocol := range []string{"Parse", "PREPARE"} {
		t.Run(protocol, func(t *testing.T) {
			conn, err := pgxShadowMode(port, map[string]string{"search_path": "shadow"}, pgx.QueryExecModeCacheStatement)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			ctx := context.Background()
			for name, sql := range statements {
				var err error
				if protocol == "Parse" {
					_, err = conn.Prepare(ctx, name, sql)
				} else {
					_, err = conn.Exec(ctx, "PREPARE "+name+" AS "+sql)
				}
				if err != nil {
					t.Fatalf("%s under search_path shadow (a clean table): %v", sql, err)
				}
			}
			if _, err := conn.Exec(ctx, "SET search_path = public"); err != nil {
				t.Fatal(err)
			}
			for name, sql := range statements {
				run := name
				if protocol == "PREPARE" {
					run = "EXECUTE " + name
				}
				out, err := pgxDump(conn, run)
				var pgErr *pgconn.PgError
				if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
					t.Fatalf("%s (%s) run under search_path public: got %q, %v; want a refusal", name, sql, out, err)
				}
			}
		})
	}
}
