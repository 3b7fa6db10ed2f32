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
)

// maskingFixtures are the table the masking policy pii covers, views over
// it, and a function that reads it out of sight, in database orders.
const maskingFixtures = `
CREATE TABLE people (id int PRIMARY KEY, name text, email text, ssn text, card text, phone text);
INSERT INTO people VALUES
  (1, 'Ada', 'ada.secret@example.com', '123-45-6789', '4242424242424242', '+1-555-0100'),
  (2, 'Grace', 'grace.hidden@example.org', '987-65-4321', '5555555555554444', '+1-555-0199');
CREATE VIEW people_v AS SELECT id, email AS contact FROM people;
CREATE VIEW people_v2 AS SELECT contact FROM people_v;
CREATE VIEW people_rows AS SELECT p AS whole FROM people p;
CREATE MATERIALIZED VIEW people_m AS SELECT email FROM people;
CREATE FUNCTION leak(i int) RETURNS text LANGUAGE sql AS 'SELECT email FROM people WHERE id = i';
CREATE VIEW leaky AS SELECT leak(id) AS l FROM people;
`

// secrets are values of masked columns, in forms a bypass could show them.
var secrets = []string{
	"ada.secret", "grace.hidden", "123-45-6789", "987-65-4321", "123456789",
	"4242424242424242", "5555555555554444", "555-0100", "555-0199", "5550100",
	"eve.private", "111-22-3333", "4111111111111111", "555-0123",
}

// leaked says which secret out shows, in any case or reversed.
func leaked(out string) string {
	lower := strings.ToLower(out)
	rev := []rune(lower)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	for _, s := range secrets {
		if strings.Contains(lower, s) || strings.Contains(string(rev), s) {
			return s
		}
	}
	return ""
}

// bypassAttempts try to read masked values past the policy. Each must be
// masked or refused; none may show a value.
var bypassAttempts = []struct{ what, sql string }{
	{"the column itself", "SELECT email, ssn, card, phone FROM people"},
	{"an alias", "SELECT email AS e, ssn AS s FROM people"},
	{"star", "SELECT * FROM people"},
	{"table star", "SELECT p.* FROM people p"},
	{"quoted identifiers", `SELECT "email", "ssn" FROM "people"`},
	{"schema-qualified", "SELECT email FROM public.people"},
	{"TABLE command", "TABLE people"},
	{"ONLY", "SELECT * FROM ONLY people"},
	{"a join", "SELECT a.email, b.ssn FROM people a JOIN people b USING (id)"},
	{"a subquery in FROM", "SELECT e FROM (SELECT email AS e FROM people) s"},
	{"a subquery's star", "SELECT t.ssn FROM (SELECT * FROM people) t"},
	{"a scalar subquery", "SELECT (SELECT email FROM people ORDER BY id LIMIT 1)"},
	{"LATERAL", "SELECT l.x FROM (VALUES (1)) v, LATERAL (SELECT ssn AS x FROM people) l"},
	{"a CTE", "WITH x AS (SELECT email FROM people) SELECT * FROM x"},
	{"a recursive CTE", "WITH RECURSIVE r(e, n) AS (SELECT email, 1 FROM people UNION ALL SELECT e, n + 1 FROM r WHERE n < 2) SELECT e FROM r"},
	{"UNION", "SELECT email FROM people UNION SELECT 'x'"},
	{"UNION ALL of two columns", "SELECT ssn FROM people UNION ALL SELECT card FROM people"},
	{"INTERSECT", "SELECT email FROM people INTERSECT SELECT email FROM people"},
	{"a cast", "SELECT email::varchar(100), ssn::bytea FROM people"},
	{"a cast to char", "SELECT CAST(card AS char(20)) FROM people"},
	{"concatenation", "SELECT email || '' FROM people"},
	{"substring", "SELECT substr(email, 1, 10), right(ssn, 4) FROM people"},
	{"upper", "SELECT upper(email) FROM people"},
	{"reverse", "SELECT reverse(ssn) FROM people"},
	{"translate", "SELECT translate(ssn, '0123456789', 'abcdefghij') FROM people"},
	{"regexp_replace", "SELECT regexp_replace(email, '@', ' at ') FROM people"},
	{"format", "SELECT format('%s', card) FROM people"},
	{"base64", "SELECT encode(convert_to(email, 'UTF8'), 'base64') FROM people"},
	{"hex of the bytes", "SELECT encode(convert_to(ssn, 'UTF8'), 'hex') FROM people"},
	{"CASE", "SELECT CASE WHEN id > 0 THEN ssn END FROM people"},
	{"COALESCE", "SELECT coalesce(card, 'none') FROM people"},
	{"string_agg", "SELECT string_agg(email, ',') FROM people"},
	{"array_agg", "SELECT array_agg(ssn) FROM people"},
	{"json_agg of rows", "SELECT json_agg(p) FROM people p"},
	{"max", "SELECT max(email), min(ssn) FROM people"},
	{"an array", "SELECT ARRAY[email, ssn] FROM people"},
	{"unnest", "SELECT unnest(ARRAY[email, ssn]) FROM people"},
	{"jsonb_build_object", "SELECT jsonb_build_object('e', email) FROM people"},
	{"row_to_json", "SELECT row_to_json(p) FROM people p"},
	{"to_jsonb", "SELECT to_jsonb(p) FROM people p"},
	{"a whole row as text", "SELECT p::text FROM people p"},
	{"a whole row", "SELECT p FROM people p"},
	{"a field of a whole row", "SELECT (p).email FROM people p"},
	{"string_agg of whole rows", "SELECT string_agg(p::text, ';') FROM people p"},
	{"xmlelement", "SELECT xmlelement(name e, email) FROM people"},
	{"COLLATE", `SELECT email COLLATE "C" FROM people`},
	{"DISTINCT", "SELECT DISTINCT ssn FROM people"},
	{"VALUES of a subquery", "SELECT * FROM (VALUES ((SELECT card FROM people ORDER BY id LIMIT 1))) v(x)"},
	{"a view", "SELECT * FROM people_v"},
	{"a view of a view", "SELECT contact FROM people_v2"},
	{"a view of whole rows", "SELECT whole FROM people_rows"},
	{"a materialized view", "SELECT * FROM people_m"},
	{"a view over a function", "SELECT * FROM leaky"},
	{"search_path", "SET search_path = public, pg_catalog; SELECT email FROM people"},
	{"a user-defined function", "SELECT leak(1)"},
	{"a cursor", "BEGIN; DECLARE c CURSOR FOR SELECT email FROM people; FETCH ALL FROM c; COMMIT"},
	{"a cursor over an expression", "BEGIN; DECLARE c CURSOR FOR SELECT upper(ssn) FROM people; FETCH ALL FROM c; COMMIT"},
	{"a prepared statement", "PREPARE q AS SELECT lower(email) FROM people; EXECUTE q; DEALLOCATE q"},
	{"COPY TO STDOUT", "COPY people TO STDOUT"},
	{"COPY of a query", "COPY (SELECT email FROM people) TO STDOUT WITH (FORMAT csv)"},
	{"an error echoing a value", "SELECT email::int FROM people"},
	{"an error echoing a value in a cast to a date", "SELECT ssn::date FROM people"},
}

func testMaskingBypasses(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	t.Run("psql", func(t *testing.T) {
		for _, a := range bypassAttempts {
			t.Run(a.what, func(t *testing.T) {
				out, err := psqlAs(t, port, "support", "", "-c", a.sql)
				t.Logf("%s", out) // what the client saw, for review
				if s := leaked(out); s != "" {
					t.Fatalf("%s: %q shows %q:\n%s", a.what, a.sql, s, out)
				}
				if err != nil && !strings.Contains(out, "gatehouse") && !strings.Contains(out, "ERROR") {
					t.Fatalf("%s: psql failed without an error from the database or gatehouse: %v\n%s", a.what, err, out)
				}
			})
		}
	})
	t.Run("pgx, extended protocol, binary where the type has it", func(t *testing.T) {
		conn := pgxAs(t, port, "support", pgx.QueryExecModeCacheStatement)
		for _, a := range bypassAttempts {
			if strings.Contains(a.sql, ";") {
				continue // one statement per Parse
			}
			t.Run(a.what, func(t *testing.T) {
				out, err := pgxDump(conn, a.sql)
				if s := leaked(out); s != "" {
					t.Fatalf("%s: %q shows %q:\n%s", a.what, a.sql, s, out)
				}
				var pgErr *pgconn.PgError
				if err != nil && !errors.As(err, &pgErr) {
					t.Fatalf("%s: %v", a.what, err)
				}
			})
		}
	})
}

// testMaskingResults: masked columns come out as their mask function
// says, the same hash in every session (joins still work), other columns
// untouched, and the recording says what was masked by which rule.
func testMaskingResults(t *testing.T, w *world, p profile) {
	before := w.sessionIDs(t)
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	out, err := psqlAs(t, port, "support", "", "-F", "|", "-c", "SELECT id, name, email, ssn, card, phone FROM people ORDER BY id")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rows := strings.Split(out, "\n")
	if len(rows) != 2 {
		t.Fatalf("rows %q", rows)
	}
	first := strings.Split(rows[0], "|")
	if first[0] != "1" || first[1] != "Ada" || first[2] != "a***@example.com" || first[3] != "****" ||
		first[4] != "************4242" || !strings.HasPrefix(first[5], "h:") {
		t.Fatalf("masked row %q", first)
	}
	again, err := psqlAs(t, port, "support", "", "-c", "SELECT phone FROM people WHERE id = 1")
	if err != nil || again != first[5] {
		t.Fatalf("the hash of the same value differs between sessions: %q and %q (%v)", first[5], again, err)
	}
	// A PREPARE and its EXECUTE in one string (maskedro allows both): the
	// EXECUTE runs what was judged at PREPARE.
	out, err = psqlAs(t, port, "support", "", "-F", "|", "-c", "PREPARE q AS SELECT id, email FROM people ORDER BY id; EXECUTE q")
	if err != nil || out != "PREPARE\n1|a***@example.com\n2|g***@example.org" {
		t.Fatalf("PREPARE; EXECUTE: %q, %v", out, err)
	}
	// A cursor's computed columns are traced from its DECLARE: id * 10 is
	// clean, upper(email) is computed from a masked column.
	out, err = psqlAs(t, port, "support", "", "-F", "|", "-c",
		"BEGIN; DECLARE c CURSOR FOR SELECT id * 10, upper(email) FROM people ORDER BY id; FETCH ALL FROM c; COMMIT")
	if err != nil || out != "BEGIN\nDECLARE CURSOR\n10|****\n20|****\nCOMMIT" {
		t.Fatalf("a cursor: %q, %v", out, err)
	}
	// COPY TO STDOUT is masked row by row, in text and csv.
	copies := []struct{ sql, want string }{
		{"COPY (SELECT id, email, ssn, card FROM people WHERE id = 1) TO STDOUT", "1\ta***@example.com\t****\t************4242"},
		{"COPY (SELECT id, email FROM people ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)", "id,email\n1,\"a***@example.com\"\n2,\"g***@example.org\""},
	}
	for _, c := range copies {
		out, err := psqlAs(t, port, "support", "", "-c", c.sql)
		if err != nil || out != c.want {
			t.Fatalf("%s:\n got %q (%v)\nwant %q", c.sql, out, err, c.want)
		}
	}
	out, err = psqlAs(t, port, "support", "", "-c", "COPY people TO STDOUT WITH (FORMAT binary)")
	if err == nil || !strings.Contains(out, "format binary has no masked form") {
		t.Fatalf("binary COPY of masked data was not refused: %v\n%s", err, out)
	}
	stop()
	events := w.newSessionEvents(t, before)
	ev := findEvent(t, events, "db.statement", "SELECT id, name, email", `"masked":[`)
	mustContain(t, "db.statement", string(ev.Data), "email: email (public.people.email)", "ssn: redact (public.people.ssn)",
		"card: last4 (public.people.card)", "phone: hash (public.people.phone)")
	if s := leaked(string(ev.Data)); s != "" {
		t.Fatalf("the recording shows %q: %s", s, ev.Data)
	}
}

// testMaskingPolicies: columns fed by no masked column are not masked;
// an agent gets agent_masking (pii_strict), under which computed outputs of
// masked columns (on_derived: deny) and probing predicates (deny_probing)
// are refused while the columns themselves are still masked.
func testMaskingPolicies(t *testing.T, w *world, p profile) {
	t.Run("clean computed columns pass", func(t *testing.T) {
		port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
		defer stop()
		out, err := psqlAs(t, port, "support", "", "-F", "|", "-c", "SELECT count(*), max(id), upper(min(name)) FROM people WHERE name = 'Ada'")
		if err != nil || out != "1|1|ADA" {
			t.Fatalf("a computed column of unmasked data: %q, %v", out, err)
		}
	})
	a := w.mustAgentCert(t, p, "masking-agent", "--grant", "orders:support")
	port, stop := w.startTunnelVia(t, a.sshConfig(t), a.host(), "orders")
	defer stop()
	refused := []struct{ what, sql, want string }{
		{"a computed output (on_derived: deny)", "SELECT upper(email) FROM people", "on_derived: deny"},
		{"a probing predicate (deny_probing)", "SELECT id FROM people WHERE ssn LIKE '1%'", "deny_probing"},
		{"probing by ORDER BY", "SELECT id FROM people ORDER BY card", "deny_probing"},
		{"probing by a join", "SELECT a.id FROM people a JOIN people b ON a.email = b.email", "deny_probing"},
	}
	for _, r := range refused {
		t.Run(r.what, func(t *testing.T) {
			out, err := psqlAs(t, port, "support", "", "-c", r.sql)
			if err == nil || !strings.Contains(out, "gatehouse") || !strings.Contains(out, r.want) {
				t.Fatalf("%q was not refused for %s: %v\n%s", r.sql, r.want, err, out)
			}
		})
	}
	t.Run("the column itself is masked", func(t *testing.T) {
		out, err := psqlAs(t, port, "support", "", "-c", "SELECT email FROM people WHERE id = 1")
		if err != nil || out != "a***@example.com" {
			t.Fatalf("%q, %v", out, err)
		}
	})
}

// testMaskingWrites: a role that may write (editor, for dba-leads) gets
// its RETURNING columns masked, and cannot copy masked values into a place
// where they would be read back unmasked.
func testMaskingWrites(t *testing.T, w *world) {
	c := w.newProfile("carol-editor")
	if res := w.authCodeLogin(c, carol); res.err != nil {
		t.Fatalf("carol's login: %v\n%s", res.err, res.out)
	}
	port, stop := w.startTunnel(t, w.sshConfig(c), "orders")
	defer stop()
	steps := []struct{ sql, want string }{
		{"INSERT INTO people VALUES (3, 'Eve', 'eve.private@example.net', '111-22-3333', '4111111111111111', '+1-555-0123') RETURNING id, email, ssn, card",
			"3|e***@example.net|****|************1111\nINSERT 0 1"},
		{"UPDATE people SET name = 'Eve2' WHERE id = 3 RETURNING name, email, upper(ssn)", "Eve2|e***@example.net|****\nUPDATE 1"},
		{"WITH d AS (DELETE FROM people WHERE id = 3 RETURNING *) SELECT name, ssn FROM d", "Eve2|****"},
	}
	for _, s := range steps {
		out, err := psqlAs(t, port, "editor", "", "-F", "|", "-c", s.sql)
		if l := leaked(out); l != "" || err != nil || out != s.want {
			t.Fatalf("%s:\n got %q (%v)\nwant %q", s.sql, out, err, s.want)
		}
	}
	// customers.email is not masked: a value copied there could be read back.
	out, err := psqlAs(t, port, "editor", "", "-c", "INSERT INTO customers SELECT 10, email FROM people WHERE id = 1")
	if err == nil || !strings.Contains(out, "gatehouse") {
		t.Fatalf("copying a masked value into an unmasked column was not refused: %v\n%s", err, out)
	}
	if n := w.upstreamCount(t); n != 2 {
		t.Fatalf("customers has %d rows; the refused INSERT reached the database", n)
	}
}

// pgxAs connects pgx to the tunnel on port as role.
func pgxAs(t *testing.T, port int, role string, mode pgx.QueryExecMode) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(fmt.Sprintf("postgres://%s@127.0.0.1:%d/orders?sslmode=disable&connect_timeout=10", role, port))
	if err != nil {
		t.Fatal(err)
	}
	cfg.DefaultQueryExecMode = mode
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgx through the tunnel as %s: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pgxDump runs sql and renders every value it returns (the raw bytes, in
// whatever format pgx asked for), and the error's text.
func pgxDump(conn *pgx.Conn, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return err.Error(), err
	}
	var b strings.Builder
	for rows.Next() {
		for _, v := range rows.RawValues() {
			b.Write(v)
			b.WriteByte('|')
		}
		b.WriteByte('\n')
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		b.WriteString(err.Error())
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			b.WriteString(" " + pgErr.Detail + " " + pgErr.Where)
		}
		return b.String(), err
	}
	return b.String(), nil
}
