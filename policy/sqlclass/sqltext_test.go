package sqlclass

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// TestSQLText: SQL given as text to a function that runs it is judged as
// part of the statement (issue 12, item 6); text gatehouse cannot read is
// set_role and a setting it cannot name, which every session refuses.
func TestSQLText(t *testing.T) {
	tests := []struct {
		name, sql string
		kinds     string // space-separated, in order
		relations string
		functions string
		settings  string
	}{
		{"query_to_xml runs pg_read_file", "SELECT query_to_xml('select pg_read_file(''/etc/passwd'')', true, true, '')",
			"select", "", "query_to_xml pg_read_file", ""},
		{"ts_stat runs pg_read_file", "SELECT * FROM ts_stat('select to_tsvector(pg_read_file(''/etc/passwd''))')",
			"select", "", "ts_stat to_tsvector pg_read_file", ""},
		{"query_to_xml runs lo_export", "SELECT query_to_xml('select lo_export(4242, ''/tmp/x'')', true, true, '')",
			"select", "", "query_to_xml lo_export", ""},
		{"qualified, dollar-quoted", "SELECT pg_catalog.query_to_xmlschema($q$SELECT * FROM secrets$q$, true, true, '')",
			"select", "secrets", "pg_catalog.query_to_xmlschema", ""},
		{"query_to_xml_and_xmlschema", "SELECT query_to_xml_and_xmlschema('select pg_ls_dir(''.'')'::pg_catalog.text, true, true, '')",
			"select", "", "query_to_xml_and_xmlschema pg_ls_dir", ""},
		{"ts_rewrite with a query", "SELECT ts_rewrite('a'::tsquery, 'select pg_read_file(''x'')::tsquery, ''b''::tsquery')",
			"select", "", "ts_rewrite pg_read_file", ""},
		{"ts_rewrite of three tsqueries runs nothing", "SELECT ts_rewrite('a'::tsquery, 'a'::tsquery, 'b'::tsquery)",
			"select", "", "ts_rewrite", ""},
		{"nested", "SELECT query_to_xml('select query_to_xml(''select pg_read_file(''''/etc/passwd'''')'', true, true, '''')', true, true, '')",
			"select", "", "query_to_xml pg_read_file", ""},
		{"set_config role inside", "SELECT query_to_xml('select set_config(''role'', ''admin'', false)', true, true, '')",
			"select set_role", "", "query_to_xml set_config", "role"},
		{"several statements", "SELECT query_to_xml('select 1; select pg_read_file(''x'')', true, true, '')",
			"select", "", "query_to_xml pg_read_file", ""},
		{"a DELETE inside", "SELECT query_to_xml('delete from t returning *', true, true, '')",
			"select delete", "t", "query_to_xml", ""},
		{"inside EXPLAIN only the names", "EXPLAIN SELECT query_to_xml('delete from t', true, true, '')",
			"explain", "t", "query_to_xml", ""},
		{"format() is not read", "SELECT query_to_xml(format('select %s(%L)', 'pg_read_file', '/etc/passwd'), true, true, '')",
			"select set_role", "", "query_to_xml format", "*"},
		{"concatenation is not read", "SELECT query_to_xml('select pg_' || 'read_file(''x'')', true, true, '')",
			"select set_role", "", "query_to_xml", "*"},
		{"a parameter is not read", "SELECT * FROM ts_stat($1)", "select set_role", "", "ts_stat", "*"},
		{"a column is not read", "SELECT query_to_xml(q, true, true, '') FROM queries", "select set_role", "queries", "query_to_xml", "*"},
		{"a cast to another type is not read", "SELECT query_to_xml('select 1'::name, true, true, '')", "select set_role", "", "query_to_xml", "*"},
		{"named arguments are not read", "SELECT query_to_xml(query => 'select 1', nulls => true, tableforest => true, targetns => '')",
			"select set_role", "", "query_to_xml", "*"},
		{"text that does not parse", "SELECT query_to_xml('selec pg_read_file(1)', true, true, '')", "select set_role", "", "query_to_xml", "*"},
		{"table_to_xml reads its table", `SELECT table_to_xml('Public."Secret"', true, true, '')`,
			"select", `public.Secret`, "table_to_xml", ""},
		{"table_to_xml by OID", "SELECT table_to_xml('16390', true, true, '')", "select", "", "table_to_xml", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts, err := Classify(tt.sql)
			if err != nil || len(sts) != 1 {
				t.Fatalf("Classify(%q) = %d statements, %v", tt.sql, len(sts), err)
			}
			st := sts[0]
			for _, c := range []struct{ what, got, want string }{
				{"kinds", strings.Join(sqlkind.Strings(st.Kinds), " "), tt.kinds},
				{"relations", strings.Join(st.Relations, " "), tt.relations},
				{"functions", strings.Join(st.Functions, " "), tt.functions},
				{"settings", strings.Join(st.Settings, " "), tt.settings},
			} {
				if c.got != c.want {
					t.Errorf("%s\n%s = %q, want %q", tt.sql, c.what, c.got, c.want)
				}
			}
		})
	}
}

// TestSQLTextNotByShape: two texts of one shape that run different SQL
// are judged each by its own text, not by the cache's first answer.
func TestSQLTextNotByShape(t *testing.T) {
	c := NewClassifier(0)
	for _, tc := range []struct{ sql, fn string }{
		{"SELECT query_to_xml('select 1', true, true, '')", ""},
		{"SELECT query_to_xml('select pg_read_file(''x'')', true, true, '')", "pg_read_file"},
	} {
		sts, err := c.Classify(tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(strings.Join(sts[0].Functions, " "), "pg_read_file"); got != (tc.fn != "") {
			t.Fatalf("%s: functions %v", tc.sql, sts[0].Functions)
		}
	}
}
