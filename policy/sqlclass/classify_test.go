package sqlclass

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// list spells a short string list as one space-separated string.
func list(s string) []string {
	return strings.Fields(s)
}

func kindList(s string) []sqlkind.Kind {
	var out []sqlkind.Kind
	for _, k := range strings.Fields(s) {
		out = append(out, sqlkind.Kind(k))
	}
	return out
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name, sql string
		kinds     string // space-separated, in order
		relations string
		functions string
	}{
		// select and what reads
		{"select", "SELECT 1", "select", "", ""},
		{"select from", "SELECT id, email FROM customers WHERE id = $1", "select", "customers", ""},
		{"values", "VALUES (1), (2)", "select", "", ""},
		{"table", "TABLE orders", "select", "orders", ""},
		{"join and subquery", "SELECT * FROM a JOIN b ON a.id = b.id WHERE a.x IN (SELECT x FROM c)", "select", "a b c", ""},
		{"schema qualified", "SELECT * FROM public.customers", "select", "public.customers", ""},
		{"catalog qualified", "SELECT * FROM shop.public.customers", "select", "shop.public.customers", ""},
		{"unquoted folded", "SELECT * FROM Public.Customers", "select", "public.customers", ""},
		{"quoted kept", `SELECT * FROM "Public"."Customers"`, "select", "Public.Customers", ""},
		{"quoted with dot", `SELECT * FROM "a.b"`, "select", "a.b", ""},
		{"for update", "SELECT * FROM t FOR UPDATE", "select", "t", ""},
		{"for update of alias", "SELECT * FROM orders secrets FOR UPDATE OF secrets", "select", "orders", ""},
		{"select into named like a cte", "WITH customers AS (SELECT 1) SELECT * INTO customers FROM customers", "select ddl", "customers", ""},
		{"lateral function", "SELECT * FROM t, LATERAL generate_series(1, t.n)", "select", "t", "generate_series"},
		{"function from", "SELECT * FROM dblink('host=x', 'select 1') AS r(a int)", "select", "", "dblink"},
		{"functions folded", "SELECT Lower(x), PG_CATALOG.Upper(y) FROM t", "select", "t", "lower pg_catalog.upper"},
		{"quoted function folded", `SELECT "PG_READ_FILE"('/etc/passwd')`, "select", "", "pg_read_file"},
		{"pg_read_file", "SELECT pg_read_file('/etc/passwd')", "select", "", "pg_read_file"},
		{"pg_catalog.pg_read_file", "SELECT pg_catalog.pg_read_file('/etc/passwd')", "select", "", "pg_catalog.pg_read_file"},
		{"lo_export", "SELECT lo_export(16409, '/tmp/x')", "select", "", "lo_export"},
		{"function deep in expression", "SELECT CASE WHEN x > 0 THEN coalesce(lo_import('/etc/passwd'), 0) END FROM t", "select", "t", "lo_import"},
		{"function in where of subquery", "SELECT 1 WHERE EXISTS (SELECT 1 FROM s WHERE pg_ls_dir('.') IS NOT NULL)", "select", "s", "pg_ls_dir"},
		{"aggregate and window", "SELECT count(*), rank() OVER (ORDER BY x) FROM t", "select", "t", "count rank"},
		{"union", "SELECT a FROM x UNION ALL SELECT b FROM y", "select", "x y", ""},

		// WITH
		{"cte name is not a relation", "WITH c AS (SELECT * FROM customers) SELECT * FROM c", "select", "customers", ""},
		{"cte shadowing a relation", "WITH customers AS (SELECT * FROM customers) SELECT * FROM customers", "select", "customers", ""},
		{"cte qualified name is a relation", "WITH c AS (SELECT 1) SELECT * FROM public.c", "select", "public.c", ""},
		{"cte sees earlier ctes only", "WITH a AS (SELECT 1), b AS (SELECT * FROM a), c AS (SELECT * FROM d) SELECT * FROM b, c", "select", "d", ""},
		{"cte later name is a relation", "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a", "select", "b", ""},
		{"recursive cte", "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", "select", "", ""},
		{"cte in subquery scope", "SELECT * FROM (WITH x AS (SELECT 1) SELECT * FROM x) s, x", "select", "x", ""},
		{"delete in cte", "WITH d AS (DELETE FROM orders WHERE id = 1 RETURNING *) SELECT * FROM d", "select delete", "orders", ""},
		{"update in cte", "WITH u AS (UPDATE t SET x = 1 RETURNING *) SELECT count(*) FROM u", "select update", "t", "count"},
		{"insert in cte of insert", "WITH i AS (INSERT INTO a VALUES (1) RETURNING *) INSERT INTO b SELECT * FROM i", "insert select", "b a", ""},
		{"dml target named like a cte", "WITH t AS (SELECT 1) UPDATE t SET x = 1", "update select", "t", ""},

		// writes
		{"insert values", "INSERT INTO orders (id) VALUES (1), (2)", "insert", "orders", ""},
		{"insert default values", "INSERT INTO orders DEFAULT VALUES", "insert", "orders", ""},
		{"insert values subquery", "INSERT INTO orders VALUES ((SELECT max(id) FROM orders) + 1)", "insert select", "orders", "max"},
		{"insert select", "INSERT INTO archive SELECT * FROM orders", "insert select", "archive orders", ""},
		{"insert on conflict", "INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET n = t.n + 1", "insert", "t", ""},
		{"update", "UPDATE orders SET status = 'x' WHERE id = 1", "update", "orders", ""},
		{"update from", "UPDATE a SET x = b.x FROM b WHERE a.id = b.id", "update", "a b", ""},
		{"delete using", "DELETE FROM a USING b WHERE a.id = b.id", "delete", "a b", ""},
		{"merge", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (s.id)", "merge", "t s", ""},
		{"update pg_settings", "UPDATE pg_settings SET setting = 'admin' WHERE name = 'role'", "update set_role", "pg_settings", ""},
		{"truncate", "TRUNCATE a, public.b RESTART IDENTITY", "truncate", "a public.b", ""},

		// COPY
		{"copy from stdin", "COPY orders (id) FROM STDIN", "copy_from", "orders", ""},
		{"copy to stdout", "COPY orders TO STDOUT WITH (FORMAT csv)", "copy_to", "orders", ""},
		{"copy query to stdout", "COPY (SELECT email FROM customers WHERE pg_read_file('x') <> '') TO STDOUT", "copy_to select", "customers", "pg_read_file"},
		{"copy dml query to stdout", "COPY (DELETE FROM t RETURNING *) TO STDOUT", "copy_to delete", "t", ""},
		{"copy to server file", "COPY orders TO '/tmp/orders'", "copy_to other", "orders", ""},
		{"copy from program", "COPY orders FROM PROGRAM 'curl http://x'", "copy_from other", "orders", ""},

		// EXPLAIN
		{"explain", "EXPLAIN SELECT * FROM t", "explain", "t", ""},
		{"explain update does not run it", "EXPLAIN UPDATE t SET x = 1", "explain", "t", ""},
		{"explain analyze update", "EXPLAIN ANALYZE UPDATE t SET x = 1", "explain update", "t", ""},
		{"explain analyze select", "EXPLAIN ANALYZE SELECT 1", "explain select", "", ""},
		{"explain (analyze) delete", "EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t", "explain delete", "t", ""},
		{"explain (analyze true)", "EXPLAIN (ANALYZE true) DELETE FROM t", "explain delete", "t", ""},
		{"explain (analyze on)", "EXPLAIN (ANALYZE on) DELETE FROM t", "explain delete", "t", ""},
		{"explain (analyze 1)", "EXPLAIN (ANALYZE 1) DELETE FROM t", "explain delete", "t", ""},
		{"explain (analyze false)", "EXPLAIN (ANALYZE false) DELETE FROM t", "explain", "t", ""},
		{"explain (analyze off)", "EXPLAIN (analyze OFF) DELETE FROM t", "explain", "t", ""},
		{"explain (analyze 0)", "EXPLAIN (ANALYZE 0) DELETE FROM t", "explain", "t", ""},
		{"explain (analyze false, analyze)", "EXPLAIN (ANALYZE false, ANALYZE) DELETE FROM t", "explain delete", "t", ""},
		{"explain set_config plans only", "EXPLAIN SELECT set_config('role', 'admin', false)", "explain", "", "set_config"},
		{"explain analyze set_config", "EXPLAIN ANALYZE SELECT set_config('role', 'admin', false)", "explain select set_role", "", "set_config"},
		{"explain analyze execute", "EXPLAIN ANALYZE EXECUTE p(1)", "explain execute", "", ""},
		{"explain analyze create table as", "EXPLAIN ANALYZE CREATE TABLE x AS SELECT * FROM t", "explain ddl select", "t x", ""},

		// SET, SHOW, roles
		{"set", "SET statement_timeout = '5s'", "set", "", ""},
		{"set local", "SET LOCAL work_mem TO '64MB'", "set", "", ""},
		{"set search_path", "SET search_path TO public, other", "set", "", ""},
		{"reset", "RESET work_mem", "set", "", ""},
		{"reset all", "RESET ALL", "set", "", ""},
		{"set transaction", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "set", "", ""},
		{"set constraints", "SET CONSTRAINTS ALL DEFERRED", "set", "", ""},
		{"set role", "SET ROLE admin", "set_role", "", ""},
		{"set local role", "SET LOCAL ROLE admin", "set_role", "", ""},
		{"set role none", "SET ROLE NONE", "set_role", "", ""},
		{"set role string", "SET role = 'admin'", "set_role", "", ""},
		{"set session authorization", "SET SESSION AUTHORIZATION postgres", "set_role", "", ""},
		{"set session authorization default", "SET SESSION AUTHORIZATION DEFAULT", "set_role", "", ""},
		{"reset role", "RESET ROLE", "set_role", "", ""},
		{"reset session authorization", "RESET SESSION AUTHORIZATION", "set_role", "", ""},
		{"set_config role", "SELECT set_config('role', 'admin', false)", "select set_role", "", "set_config"},
		{"set_config role upper", "SELECT set_config('ROLE', 'admin', false)", "select set_role", "", "set_config"},
		{"set_config role cast", "SELECT set_config('role'::text, 'admin', false)", "select set_role", "", "set_config"},
		{"set_config session_authorization", "SELECT pg_catalog.set_config('session_authorization', 'postgres', false)", "select set_role", "", "pg_catalog.set_config"},
		{"set_config other", "SELECT set_config('work_mem', '64MB', true)", "select set", "", "set_config"},
		{"set_config parameter", "SELECT set_config($1, $2, false)", "select set_role", "", "set_config"},
		{"set_config expression", "SELECT set_config(lower('ROLE'), 'admin', false)", "select set_role", "", "set_config lower"},
		{"set_config named", "SELECT set_config(setting_name => 'work_mem', new_value => 'x', is_local => false)", "select set_role", "", "set_config"},
		{"set_config in from", "SELECT * FROM set_config('role', 'admin', false)", "select set_role", "", "set_config"},
		{"set_config in cte", "WITH x AS (SELECT set_config('role', 'a', false)) SELECT * FROM x", "select set_role", "", "set_config"},
		{"show", "SHOW search_path", "show", "", ""},
		{"show all", "SHOW ALL", "show", "", ""},
		{"discard all", "DISCARD ALL", "set_role", "", ""},
		{"discard plans", "DISCARD PLANS", "set", "", ""},

		// transactions
		{"begin", "BEGIN", "transaction", "", ""},
		{"begin read only", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "transaction", "", ""},
		{"start transaction", "START TRANSACTION", "transaction", "", ""},
		{"commit", "COMMIT", "transaction", "", ""},
		{"rollback", "ROLLBACK", "transaction", "", ""},
		{"savepoint", "SAVEPOINT s1", "transaction", "", ""},
		{"release", "RELEASE SAVEPOINT s1", "transaction", "", ""},
		{"rollback to", "ROLLBACK TO SAVEPOINT s1", "transaction", "", ""},
		{"prepare transaction", "PREPARE TRANSACTION 'tx1'", "transaction", "", ""},
		{"commit prepared", "COMMIT PREPARED 'tx1'", "transaction", "", ""},

		// DDL
		{"create table", "CREATE TABLE t (id int PRIMARY KEY, c text DEFAULT now()::text)", "ddl", "t", "now"},
		{"create table like", "CREATE TABLE t (LIKE customers)", "ddl", "t customers", ""},
		{"create table references", "CREATE TABLE t (cid int REFERENCES customers (id))", "ddl", "t customers", ""},
		{"create table as", "CREATE TABLE x AS SELECT * FROM customers", "ddl select", "customers x", ""},
		{"create table as execute", "CREATE TABLE x AS EXECUTE p", "ddl execute", "x", ""},
		{"create materialized view", "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t", "ddl select", "t mv", ""},
		{"select into", "SELECT * INTO newtable FROM customers", "select ddl", "newtable customers", ""},
		{"create view", "CREATE VIEW v AS SELECT email FROM customers", "ddl select", "v customers", ""},
		{"create index", "CREATE INDEX i ON t (lower(x))", "ddl", "t", "lower"},
		{"alter table", "ALTER TABLE t ADD COLUMN x int", "ddl", "t", ""},
		{"alter table rename", "ALTER TABLE t RENAME TO u", "ddl", "t", ""},
		{"drop table", "DROP TABLE IF EXISTS t, public.u", "ddl", "t public.u", ""},
		{"drop view", "DROP VIEW v", "ddl", "v", ""},
		{"drop function", "DROP FUNCTION f(int)", "ddl", "", ""},
		{"drop schema", "DROP SCHEMA s CASCADE", "ddl", "", ""},
		{"comment", "COMMENT ON TABLE t IS 'x'", "ddl", "", ""},
		{"create schema with elements", "CREATE SCHEMA s CREATE TABLE t (id int) CREATE VIEW v AS SELECT * FROM t", "ddl select", "t v", ""},
		{"create function sql body", "CREATE FUNCTION f() RETURNS void LANGUAGE sql BEGIN ATOMIC DELETE FROM t; END", "ddl delete", "t", ""},
		{"create function text body", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'DELETE FROM t RETURNING 1'", "ddl", "", ""},
		{"create function set role", "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET role = admin AS 'SELECT 1'", "ddl set_role", "", ""},
		{"create rule", "CREATE RULE r AS ON INSERT TO t DO INSTEAD DELETE FROM u", "ddl delete", "t u", ""},
		{"create trigger", "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", "ddl", "t", ""},
		{"create extension", "CREATE EXTENSION dblink", "ddl", "", ""},
		{"create database", "CREATE DATABASE d", "ddl", "", ""},
		{"alter database set role", "ALTER DATABASE d SET role = admin", "ddl set_role", "", ""},
		{"alter database set", "ALTER DATABASE d SET work_mem = '1GB'", "ddl", "", ""},
		{"refresh", "REFRESH MATERIALIZED VIEW mv", "ddl", "mv", ""},
		{"reindex", "REINDEX TABLE t", "ddl", "t", ""},
		{"cluster", "CLUSTER t USING i", "ddl", "t", ""},
		{"drop database", "DROP DATABASE orders", "drop_database", "", ""},
		{"drop database if exists", "DROP DATABASE IF EXISTS orders WITH (FORCE)", "drop_database", "", ""},
		{"alter system", "ALTER SYSTEM SET work_mem = '1GB'", "alter_system", "", ""},
		{"alter system reset", "ALTER SYSTEM RESET ALL", "alter_system", "", ""},

		// privileges and roles
		{"grant", "GRANT SELECT ON customers TO app", "grant", "customers", ""},
		{"grant all tables", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO app", "grant", "", ""},
		{"revoke", "REVOKE ALL ON t FROM app", "grant", "t", ""},
		{"grant role", "GRANT admin TO app", "grant", "", ""},
		{"revoke role", "REVOKE admin FROM app", "grant", "", ""},
		{"default privileges", "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO app", "grant", "", ""},
		{"create role", "CREATE ROLE x SUPERUSER LOGIN", "ddl grant", "", ""},
		{"alter role", "ALTER ROLE app WITH PASSWORD 'x'", "ddl grant", "", ""},
		{"alter role set role", "ALTER ROLE app SET role = admin", "ddl grant set_role", "", ""},
		{"drop role", "DROP ROLE x", "ddl grant", "", ""},
		{"reassign owned", "REASSIGN OWNED BY a TO b", "ddl grant", "", ""},

		// procedures, DO, cursors
		{"call", "CALL refresh_all(1)", "call", "", "refresh_all"},
		{"call qualified", "CALL ops.refresh_all(pg_read_file('x'))", "call", "", "ops.refresh_all pg_read_file"},
		{"do", "DO $$ BEGIN DELETE FROM t; END $$", "do", "", ""},
		{"do language", "DO LANGUAGE plpgsql 'BEGIN PERFORM pg_read_file(''x''); END'", "do", "", ""},
		{"declare cursor", "DECLARE c CURSOR FOR SELECT * FROM t", "select", "t", ""},
		{"fetch", "FETCH 10 FROM c", "select", "", ""},
		{"close", "CLOSE c", "select", "", ""},

		// prepared statements
		{"prepare update", "PREPARE p (int) AS UPDATE t SET x = $1", "prepare update", "t", ""},
		{"prepare select", "PREPARE q AS SELECT pg_read_file($1)", "prepare select", "", "pg_read_file"},
		{"execute", "EXECUTE p(1)", "execute", "", ""},
		{"execute with function", "EXECUTE p(pg_read_file('x'))", "execute", "", "pg_read_file"},
		{"deallocate", "DEALLOCATE p", "prepare", "", ""},
		{"deallocate all", "DEALLOCATE ALL", "prepare", "", ""},

		// the rest
		{"listen", "LISTEN ch", "listen_notify", "", ""},
		{"unlisten", "UNLISTEN *", "listen_notify", "", ""},
		{"notify", "NOTIFY ch, 'x'", "listen_notify", "", ""},
		{"pg_notify", "SELECT pg_notify('ch', 'x')", "select listen_notify", "", "pg_notify"},
		{"vacuum", "VACUUM (ANALYZE) t", "vacuum_analyze", "t", ""},
		{"vacuum full", "VACUUM FULL", "vacuum_analyze", "", ""},
		{"analyze", "ANALYZE t (x)", "vacuum_analyze", "t", ""},
		{"lock", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", "other", "t", ""},
		{"load", "LOAD 'plugin'", "other", "", ""},
		{"checkpoint", "CHECKPOINT", "other", "", ""},
		{"comment only statement", "/* hello */ SELECT 1 -- bye", "select", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts, err := Classify(tt.sql)
			if err != nil {
				t.Fatalf("Classify(%q): %v", tt.sql, err)
			}
			if len(sts) != 1 {
				t.Fatalf("Classify(%q): %d statements, want 1", tt.sql, len(sts))
			}
			st := sts[0]
			check(t, "kinds", st.Kinds, kindList(tt.kinds))
			check(t, "relations", st.Relations, list(tt.relations))
			check(t, "functions", st.Functions, list(tt.functions))
		})
	}
}

// check compares lists, treating nil and empty as the same.
func check[T ~string](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestClassifyMultiStatement(t *testing.T) {
	sql := "BEGIN;\n  SELECT * FROM a ;UPDATE b SET x = 1;;\n\tCOMMIT"
	sts, err := Classify(sql)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		text  string
		kinds string
	}{
		{"BEGIN", "transaction"},
		{"SELECT * FROM a", "select"},
		{"UPDATE b SET x = 1", "update"},
		{"COMMIT", "transaction"},
	}
	if len(sts) != len(want) {
		t.Fatalf("%d statements, want %d: %+v", len(sts), len(want), sts)
	}
	for i, w := range want {
		st := sts[i]
		if st.Text != w.text {
			t.Errorf("statement %d: text %q, want %q", i, st.Text, w.text)
		}
		if got := sql[st.Location : st.Location+len(st.Text)]; got != st.Text {
			t.Errorf("statement %d: sql[%d:] = %q, not its text %q", i, st.Location, got, st.Text)
		}
		check(t, "kinds", st.Kinds, kindList(w.kinds))
	}
}

func TestClassifyPositionsAfterMultibyte(t *testing.T) {
	sql := "SELECT 'héllo wörld';DELETE FROM t"
	sts, err := Classify(sql)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 || sts[1].Text != "DELETE FROM t" || sts[1].Location != strings.Index(sql, "DELETE") {
		t.Fatalf("got %+v", sts)
	}
}

func TestClassifyNothing(t *testing.T) {
	for _, sql := range []string{"", "   ", ";", " ; ;", "-- only a comment", "/* c */"} {
		sts, err := Classify(sql)
		if err != nil || len(sts) != 0 {
			t.Errorf("Classify(%q) = %v, %v; want no statements and no error", sql, sts, err)
		}
	}
}

func TestClassifyErrors(t *testing.T) {
	tests := []struct {
		name, sql string
		position  int // 0: do not check
	}{
		{"syntax", "SELEC 1", 1},
		{"second statement", "SELECT 1; DELET FROM t", 11},
		{"unterminated", "SELECT 'abc", 0},
		{"unterminated dollar", "DO $$ BEGIN", 0},
		{"NUL hides the rest", "SELECT 1\x00; DROP DATABASE orders", 0},
		{"not UTF-8", "SELECT '\xff\xfe'", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts, err := Classify(tt.sql)
			if err == nil {
				t.Fatalf("Classify(%q) = %+v, want an error", tt.sql, sts)
			}
			if sts != nil {
				t.Errorf("statements %+v returned with the error", sts)
			}
			var pe *ParseError
			if tt.position != 0 && (!errors.As(err, &pe) || pe.Position != tt.position) {
				t.Errorf("error %v (%#v), want a ParseError at %d", err, pe, tt.position)
			}
		})
	}
}

func TestClassifyPrepared(t *testing.T) {
	sts, err := Classify("PREPARE p (int) AS WITH d AS (DELETE FROM t WHERE id = $1 RETURNING *) SELECT lo_export(1, '/x') FROM d; EXECUTE p(1)")
	if err != nil {
		t.Fatal(err)
	}
	p := sts[0].Prepared
	if p == nil {
		t.Fatal("PREPARE: Prepared is nil")
	}
	want := &Prepared{Name: "p", Kinds: kindList("select delete"), Relations: list("t"), Functions: list("lo_export")}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("Prepared = %+v, want %+v", p, want)
	}
	check(t, "PREPARE kinds", sts[0].Kinds, kindList("prepare select delete"))
	if sts[1].Prepared != nil || !slices.Equal(sts[1].Executes, []string{"p"}) {
		t.Errorf("EXECUTE: Prepared %+v, Executes %q; want nil, [p]", sts[1].Prepared, sts[1].Executes)
	}
	check(t, "EXECUTE kinds", sts[1].Kinds, kindList("execute"))
}

func TestClassifyCommand(t *testing.T) {
	sts, err := Classify("SELECT 1; FETCH 5 FROM c; EXECUTE p; DECLARE c CURSOR FOR SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	var got []Command
	var cursors []string
	for _, st := range sts {
		got = append(got, st.Command)
		cursors = append(cursors, st.Cursor)
	}
	want := []Command{SelectCommand, FetchCommand, ExecuteCommand, "DeclareCursorStmt"}
	if !slices.Equal(got, want) || !slices.Equal(cursors, []string{"", "c", "", "c"}) {
		t.Fatalf("commands %q, cursors %q, want %q", got, cursors, want)
	}
}

func TestClassifyCopy(t *testing.T) {
	cases := []struct {
		sql  string
		want Copy
	}{
		{"COPY t TO STDOUT", Copy{To: true, Stdio: true, Options: map[string]string{}}},
		{"COPY t TO STDOUT CSV HEADER", Copy{To: true, Stdio: true, Options: map[string]string{"format": "csv", "header": "true"}}},
		{"COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, DELIMITER ';', HEADER false)", Copy{To: true, Stdio: true, Options: map[string]string{"format": "csv", "delimiter": ";", "header": "false"}}},
		{"COPY t TO STDOUT WITH CSV FORCE QUOTE *", Copy{To: true, Stdio: true, Options: map[string]string{"format": "csv", "force_quote": "*"}}},
		{"COPY t TO '/tmp/x' BINARY", Copy{To: true, Options: map[string]string{"format": "binary"}}},
		{"COPY t FROM STDIN", Copy{Stdio: true, Options: map[string]string{}}},
	}
	for _, c := range cases {
		sts, err := Classify(c.sql)
		if err != nil {
			t.Fatal(err)
		}
		if got := sts[0].Copy; got == nil || !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s: Copy %+v, want %+v", c.sql, got, c.want)
		}
	}
	if sts, _ := Classify("SELECT 1"); sts[0].Copy != nil {
		t.Error("SELECT has a Copy")
	}
}

func TestLocksRows(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT * FROM t":                                               false,
		"SELECT * FROM t FOR UPDATE":                                    true,
		"SELECT * FROM t FOR KEY SHARE SKIP LOCKED":                     true,
		"WITH x AS (SELECT * FROM t FOR NO KEY UPDATE) SELECT * FROM x": true,
		"SELECT * FROM (SELECT * FROM t FOR SHARE) s":                   true,
		"EXPLAIN SELECT * FROM t FOR UPDATE":                            false,
		"EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE":                    true,
		"UPDATE t SET a = 1":                                            false,
	} {
		sts, err := Classify(sql)
		if err != nil {
			t.Fatalf("Classify(%q): %v", sql, err)
		}
		if got := sts[0].LocksRows; got != want {
			t.Errorf("Classify(%q).LocksRows = %v, want %v", sql, got, want)
		}
	}
}
