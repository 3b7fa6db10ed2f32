package sqlclass

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// FuzzClassify: Classify never panics, gives the same answer twice, the
// cache gives the same answer as the parser, and every statement has kinds
// from the contract, settings a caller can compare (non-empty, no ASCII
// capitals, each once, a PREPARE's among its statement's) and a text that
// is where it says it is.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		"SELECT 1",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
		"EXPLAIN (ANALYZE false) UPDATE t SET x = 1; SET ROLE admin",
		"PREPARE p AS SELECT set_config('role', $1, false); EXECUTE p('x')",
		"COPY (SELECT pg_read_file('x')) TO STDOUT",
		"DO $$ BEGIN NULL; END $$",
		"SELECT * INTO t FROM \"Q\".\"R\"",
		"SET \"Default_Transaction_Read_Only\" = off; BEGIN READ WRITE; RESET ALL",
		"SELECT set_config('A.B'::pg_catalog.text, 'x', false) WHERE set_config($1, 'y', true) <> ''",
		"ALTER ROLE r SET sort_mem = 1; SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; DISCARD ALL",
		"",
	} {
		f.Add(s)
	}
	c := NewClassifier(64)
	f.Fuzz(func(t *testing.T, sql string) {
		a, errA := Classify(sql)
		b, errB := Classify(sql)
		if (errA == nil) != (errB == nil) || !reflect.DeepEqual(a, b) {
			t.Fatalf("two answers for %q: %+v, %v and %+v, %v", sql, a, errA, b, errB)
		}
		cached, errC := c.Classify(sql)
		if (errA == nil) != (errC == nil) || !reflect.DeepEqual(a, cached) {
			t.Fatalf("cache differs for %q: %+v, %v and %+v, %v", sql, a, errA, cached, errC)
		}
		if errA != nil {
			if a != nil {
				t.Fatalf("statements with an error for %q", sql)
			}
			return
		}
		if strings.IndexByte(sql, 0) >= 0 {
			t.Fatalf("text with a NUL byte classified: %q", sql)
		}
		for _, st := range a {
			if len(st.Kinds) == 0 {
				t.Fatalf("no kinds for %q", st.Text)
			}
			for _, k := range st.Kinds {
				if !slices.Contains(sqlkind.Known, k) {
					t.Fatalf("unknown kind %q for %q", k, st.Text)
				}
			}
			checkSettings(t, st.Text, st.Settings)
			if st.Prepared != nil {
				checkSettings(t, st.Text, st.Prepared.Settings)
				for _, p := range st.Prepared.Settings {
					if !slices.Contains(st.Settings, p) {
						t.Fatalf("prepared setting %q not among the settings %q of %q", p, st.Settings, st.Text)
					}
				}
			}
			if st.Location < 0 || st.Location+len(st.Text) > len(sql) || sql[st.Location:st.Location+len(st.Text)] != st.Text {
				t.Fatalf("text %q is not at %d of %q", st.Text, st.Location, sql)
			}
		}
	})
}

func checkSettings(t *testing.T, text string, settings []string) {
	t.Helper()
	for i, s := range settings {
		if s == "" || strings.ContainsAny(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") || slices.Contains(settings[:i], s) {
			t.Fatalf("setting %q of %q: empty, not lower-case or repeated (%q)", s, text, settings)
		}
	}
}

// FuzzClassifierShape: a text with other values in its constants (same
// token types) is answered as the parser answers it, whether it comes from
// the shape remembered for the first text or not.
func FuzzClassifierShape(f *testing.F) {
	for _, s := range []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 1",
		"SELECT set_config('work_mem', '1MB', false)",
		"COPY t FROM ''",
		"EXPLAIN (ANALYZE 'off') UPDATE t SET x = 1",
		"BEGIN; SELECT 'a', 1.5, x'1f', b'1', U&'d' UESCAPE '!'; COMMIT",
		"PREPARE p AS SELECT set_config('x', '1', false); EXECUTE p",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		variant, ok := otherConstants(sql)
		if !ok {
			return
		}
		c := NewClassifier(8)
		c.Classify(sql)
		got, errGot := c.Classify(variant)
		want, errWant := Classify(variant)
		if errWant != nil {
			// The parser refused a value (an out-of-range type modifier):
			// so will PostgreSQL's parser, whatever gatehouse answered.
			return
		}
		if errGot != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q after %q: cached %+v, %v; parser %+v", variant, sql, got, errGot, want)
		}
	})
}

// otherConstants replaces every constant token of sql with another value
// of the same token type.
func otherConstants(sql string) (string, bool) {
	if strings.IndexByte(sql, 0) >= 0 {
		return "", false
	}
	res, err := pg_query.Scan(sql)
	if err != nil {
		return "", false
	}
	others := map[pg_query.Token]string{
		pg_query.Token_ICONST: "7", pg_query.Token_FCONST: "7.5", pg_query.Token_SCONST: "'v'",
		pg_query.Token_USCONST: "U&'v'", pg_query.Token_BCONST: "b'1'", pg_query.Token_XCONST: "x'1'",
	}
	var b strings.Builder
	at := 0
	for _, tk := range res.Tokens {
		other, ok := others[tk.Token]
		if !ok || int(tk.Start) < at || int(tk.End) > len(sql) {
			continue
		}
		b.WriteString(sql[at:tk.Start])
		b.WriteString(other)
		at = int(tk.End)
	}
	b.WriteString(sql[at:])
	return b.String(), true
}
