package sqlclass

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestClassifySettings(t *testing.T) {
	tests := []struct {
		name, sql string
		settings  string // space-separated, in order; "" for none
		kinds     string // "": do not check
	}{
		// SET and RESET of one parameter
		{"set", "SET statement_timeout = '5s'", "statement_timeout", "set"},
		{"set local", "SET LOCAL work_mem TO '64MB'", "work_mem", "set"},
		{"set session", "SET SESSION search_path TO public, other", "search_path", "set"},
		{"unquoted folded", "SET Statement_Timeout = 0", "statement_timeout", "set"},
		{"quoted", `SET "default_transaction_read_only" = off`, "default_transaction_read_only", "set"},
		{"quoted mixed case", `SET "Default_Transaction_Read_Only" = off`, "default_transaction_read_only", "set"},
		{"set to default", "SET default_transaction_read_only TO DEFAULT", "default_transaction_read_only", "set"},
		{"set = default", "SET LOCAL statement_timeout = DEFAULT", "statement_timeout", "set"},
		{"reset", "RESET statement_timeout", "statement_timeout", "set"},
		{"reset quoted", `RESET "Search_Path"`, "search_path", "set"},
		{"reset all", "RESET ALL", "all", "set"},
		{"custom", "SET myapp.tenant = '42'", "myapp.tenant", "set"},
		{"custom quoted", `SET "MyApp"."Tenant" = '42'`, "myapp.tenant", "set"},
		{"non-ASCII not folded", `SET "x.ÄB" = 1`, "x.Äb", "set"},
		{"obsolete name", "SET SORT_MEM = 1024", "sort_mem work_mem", "set"},
		{"obsolete name reset", "RESET vacuum_mem", "vacuum_mem maintenance_work_mem", "set"},
		{"time zone", "SET TIME ZONE 'UTC'", "timezone", "set"},
		{"time zone local", "SET TIME ZONE LOCAL", "timezone", "set"},
		{"timezone", "SET TimeZone = 'UTC'", "timezone", "set"},
		{"reset time zone", "RESET TIME ZONE", "timezone", "set"},
		{"names", "SET NAMES 'UTF8'", "client_encoding", "set"},
		{"schema", "SET SCHEMA 'evil'", "search_path", "set"},
		{"xml option", "SET XML OPTION DOCUMENT", "xmloption", "set"},
		{"set role", "SET ROLE admin", "role", "set_role"},
		{"set local role", "SET LOCAL ROLE admin", "role", "set_role"},
		{"set role none", "SET ROLE NONE", "role", "set_role"},
		{"reset role", "RESET ROLE", "role", "set_role"},
		{"set session authorization", "SET SESSION AUTHORIZATION postgres", "session_authorization", "set_role"},
		{"set session authorization default", "SET SESSION AUTHORIZATION DEFAULT", "session_authorization", "set_role"},
		{"reset session authorization", "RESET SESSION AUTHORIZATION", "session_authorization", "set_role"},
		{"set constraints", "SET CONSTRAINTS ALL DEFERRED", "", "set"},
		{"show", "SHOW default_transaction_read_only", "", "show"},

		// transaction modes
		{"set transaction read write", "SET TRANSACTION READ WRITE", "transaction_read_only", "set"},
		{"set transaction isolation, read write", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ WRITE", "transaction_read_only", "set"},
		{"set transaction read only, read write", "SET TRANSACTION READ ONLY, READ WRITE", "transaction_read_only", "set"},
		{"set transaction read only", "SET TRANSACTION READ ONLY", "", "set"},
		{"set transaction isolation", "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "", "set"},
		{"set transaction deferrable", "SET TRANSACTION READ ONLY, DEFERRABLE", "", "set"},
		{"set transaction snapshot", "SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", "", "set"},
		{"session characteristics read write", "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE", "default_transaction_read_only", "set"},
		{"session characteristics read only", "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", "", "set"},
		{"session characteristics isolation", "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED", "", "set"},
		{"set transaction_read_only", "SET transaction_read_only = off", "transaction_read_only", "set"},
		{"reset transaction isolation", "RESET TRANSACTION ISOLATION LEVEL", "transaction_isolation", "set"},
		{"begin", "BEGIN", "", "transaction"},
		{"begin read write", "BEGIN READ WRITE", "transaction_read_only", "transaction"},
		{"begin isolation read write", "BEGIN ISOLATION LEVEL REPEATABLE READ, READ WRITE", "transaction_read_only", "transaction"},
		{"begin read only", "BEGIN READ ONLY", "", "transaction"},
		{"begin read only deferrable", "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE", "", "transaction"},
		{"start transaction read write", "START TRANSACTION READ WRITE", "transaction_read_only", "transaction"},
		{"start transaction read only", "START TRANSACTION READ ONLY", "", "transaction"},
		{"commit and chain", "COMMIT AND CHAIN", "", "transaction"},

		// set_config
		{"set_config select list", "SELECT set_config('statement_timeout', '0', false)", "statement_timeout", "select set"},
		{"set_config where", "SELECT * FROM t WHERE set_config('Default_Transaction_Read_Only', 'off', false) IS NOT NULL", "default_transaction_read_only", "select set"},
		{"set_config role", "SELECT set_config('role', 'admin', false)", "role", "select set_role"},
		{"set_config session_authorization", "SELECT pg_catalog.set_config('SESSION_AUTHORIZATION', 'postgres', false)", "session_authorization", "select set_role"},
		{"set_config several", "SELECT set_config('a.x', '1', false), set_config('A.X', '2', false), set_config('b.y', '3', true)", "a.x b.y", "select set"},
		{"set_config in from", "SELECT * FROM set_config('search_path', 'evil', false)", "search_path", "select set"},
		{"set_config in cte", "WITH x AS (SELECT set_config('work_mem', '1GB', true)) SELECT * FROM x", "work_mem", "select set"},
		{"set_config in subquery", "SELECT (SELECT set_config('a.b', 'c', false))", "a.b", "select set"},
		{"set_config in update", "UPDATE t SET x = set_config('a.b', 'c', true)", "a.b", "update set"},
		{"set_config in insert", "INSERT INTO t VALUES (set_config('a.b', 'c', true))", "a.b", "insert set"},
		{"set_config in call", "CALL p(set_config('a.b', 'c', false))", "a.b", "call set"},
		{"set_config obsolete name", "SELECT set_config('sort_mem', '1', false)", "sort_mem work_mem", "select set"},
		{"set_config dollar quoted", "SELECT set_config($$work_mem$$, '1', false)", "work_mem", "select set"},
		{"set_config cast pg_catalog.text", "SELECT set_config('work_mem'::pg_catalog.text, '1', false)", "work_mem", "select set"},
		{"set_config cast varchar", "SELECT set_config(CAST('work_mem' AS character varying), '1', false)", "work_mem", "select set"},
		{"set_config cast unqualified text", "SELECT set_config('work_mem'::text, '1', false)", "*", "select set_role"},
		{"set_config cast varchar(n)", "SELECT set_config('rolex'::varchar(4), 'admin', false)", "*", "select set_role"},
		{"set_config cast char(n)", "SELECT set_config('rolex'::char(4), 'admin', false)", "*", "select set_role"},
		{"set_config cast name", "SELECT set_config('work_mem'::name, '1', false)", "*", "select set_role"},
		{"set_config parameter", "SELECT set_config($1, 'off', false)", "*", "select set_role"},
		{"set_config expression", "SELECT set_config(lower('ROLE'), 'admin', false)", "*", "select set_role"},
		{"set_config concatenation", "SELECT set_config('default_transaction_' || 'read_only', 'off', false)", "*", "select set_role"},
		{"set_config column", "SELECT set_config(name, 'off', false) FROM t", "*", "select set_role"},
		{"set_config named", "SELECT set_config(setting_name => 'work_mem', new_value => '1', is_local => false)", "*", "select set_role"},
		{"set_config null", "SELECT set_config(NULL, 'x', false)", "*", "select set_role"},
		{"set_config empty", "SELECT set_config('', 'x', false)", "*", "select set"},
		{"set_config no arguments", "SELECT set_config()", "*", "select set_role"},
		{"current_setting reads", "SELECT current_setting('role')", "", "select"},
		{"explain set_config plans only", "EXPLAIN SELECT set_config('role', 'admin', false)", "", "explain"},
		{"explain analyze set_config", "EXPLAIN ANALYZE SELECT set_config('role', 'admin', false)", "role", "explain select set_role"},
		{"create view storing set_config", "CREATE VIEW v AS SELECT set_config('a.b', 'c', false)", "a.b", "ddl select set"},
		{"do is out of sight", "DO $$ BEGIN PERFORM set_config('role', 'admin', false); END $$", "", "do"},

		// pg_settings
		{"update pg_settings", "UPDATE pg_settings SET setting = 'off' WHERE name = 'default_transaction_read_only'", "*", "update set_role"},
		{"update pg_catalog.pg_settings", "UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name = 'work_mem'", "*", "update set_role"},
		{"update pg_settings in cte", "WITH u AS (UPDATE pg_settings SET setting = 'x' RETURNING *) SELECT * FROM u", "*", "select update set_role"},
		{"explain update pg_settings", "EXPLAIN UPDATE pg_settings SET setting = 'x'", "", "explain"},
		{"select pg_settings", "SELECT setting FROM pg_settings WHERE name = 'role'", "", "select"},

		// stored settings
		{"alter role set", "ALTER ROLE app SET default_transaction_read_only = off", "default_transaction_read_only", "ddl grant"},
		{"alter role in database set", "ALTER ROLE app IN DATABASE d SET statement_timeout = 0", "statement_timeout", "ddl grant"},
		{"alter user set role", "ALTER USER app SET role = admin", "role", "ddl grant set_role"},
		{"alter role set from current", "ALTER ROLE app SET search_path FROM CURRENT", "search_path", "ddl grant"},
		{"alter role reset", "ALTER ROLE app RESET search_path", "search_path", "ddl grant"},
		{"alter role reset all", "ALTER ROLE ALL RESET ALL", "all", "ddl grant"},
		{"alter role set transaction", "ALTER ROLE app SET TRANSACTION READ WRITE", "transaction_read_only", "ddl grant"},
		{"alter database set", "ALTER DATABASE d SET default_transaction_read_only TO off", "default_transaction_read_only", "ddl"},
		{"alter database reset all", "ALTER DATABASE d RESET ALL", "all", "ddl"},
		{"alter system set", "ALTER SYSTEM SET default_transaction_read_only = off", "default_transaction_read_only", "alter_system"},
		{"alter system reset all", "ALTER SYSTEM RESET ALL", "all", "alter_system"},
		{"create function set", "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = pg_catalog, pg_temp AS 'SELECT 1'", "search_path", "ddl"},
		{"create function set from current", "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET Work_Mem FROM CURRENT AS 'SELECT 1'", "work_mem", "ddl"},
		{"create function set role", "CREATE FUNCTION f() RETURNS int LANGUAGE sql SET role = admin AS 'SELECT 1'", "role", "ddl set_role"},
		{"create procedure set", "CREATE PROCEDURE p() LANGUAGE sql SET statement_timeout = 0 AS 'SELECT 1'", "statement_timeout", "ddl"},
		{"create function body set_config", "CREATE FUNCTION f() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT set_config('a.b', 'c', false); END", "a.b", "ddl select set"},
		{"alter function set", "ALTER FUNCTION f() SET statement_timeout = 0", "statement_timeout", "ddl"},
		{"alter function reset all", "ALTER FUNCTION f() RESET ALL", "all", "ddl"},

		// DISCARD
		{"discard all", "DISCARD ALL", "all session_authorization", "set_role"},
		{"discard plans", "DISCARD PLANS", "", "set"},
		{"discard temp", "DISCARD TEMP", "", "set"},

		// PREPARE and EXECUTE
		{"prepare set_config", "PREPARE p AS SELECT set_config('role', $1, false)", "role", "prepare select set_role"},
		{"execute", "EXECUTE p('admin')", "", "execute"},

		// nothing
		{"select", "SELECT 1", "", "select"},
		{"update", "UPDATE settings SET setting = 'x' WHERE name = 'role'", "", "update"},
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
			check(t, "settings", sts[0].Settings, list(tt.settings))
			if tt.kinds != "" {
				check(t, "kinds", sts[0].Kinds, kindList(tt.kinds))
			}
		})
	}
}

func TestClassifySettingsMultiStatement(t *testing.T) {
	sql := `SET ROLE admin; SELECT 1; SELECT set_config('work_mem', '1MB', false) FROM t WHERE set_config('a.b', 'c', true) <> '';` +
		` BEGIN READ WRITE; SET "default_transaction_read_only" = off; UPDATE pg_settings SET setting = 'x'; RESET ALL; DISCARD ALL`
	sts, err := Classify(sql)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"role",
		"",
		"work_mem a.b",
		"transaction_read_only",
		"default_transaction_read_only",
		"*",
		"all",
		"all session_authorization",
	}
	if len(sts) != len(want) {
		t.Fatalf("%d statements, want %d", len(sts), len(want))
	}
	for i, w := range want {
		if !slices.Equal(sts[i].Settings, list(w)) {
			t.Errorf("statement %d (%s): settings %q, want %q", i, sts[i].Text, sts[i].Settings, list(w))
		}
	}
}

func TestClassifyPreparedSettings(t *testing.T) {
	sts, err := Classify("PREPARE p (text) AS SELECT set_config('search_path', $1, false), set_config($1, 'x', true); EXECUTE p('evil')")
	if err != nil {
		t.Fatal(err)
	}
	want := &Prepared{
		Name:      "p",
		Kinds:     kindList("select set set_role"), // set_role: set_config($1, ...)
		Functions: list("set_config"),
		Settings:  list("search_path *"),
	}
	if got := sts[0].Prepared; !reflect.DeepEqual(got, want) {
		t.Errorf("Prepared = %+v, want %+v", got, want)
	}
	check(t, "PREPARE settings", sts[0].Settings, list("search_path *"))
	check(t, "EXECUTE settings", sts[1].Settings, nil)
}

// TestSettingsAreCanonical: every reported name is what a caller can
// compare with its own lower-case names.
func TestSettingsAreCanonical(t *testing.T) {
	sts, err := Classify(`SET "A"."B" = 1; RESET "SEARCH_PATH"; SELECT set_config('ROLE', 'x', false), set_config('role', 'y', false)`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range sts {
		got = append(got, strings.Join(st.Settings, ","))
	}
	if want := []string{"a.b", "search_path", "role"}; !slices.Equal(got, want) {
		t.Errorf("settings %q, want %q", got, want)
	}
}
