//go:build servers

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// rawSession is a protocol-level client through the tunnel: it sends
// exactly the messages a test gives it, as an agent that wants the data
// would, and reads everything back up to ReadyForQuery.
type rawSession struct {
	t    *testing.T
	conn *pgconn.PgConn
	fe   *pgproto3.Frontend
}

func newRawSession(t *testing.T, port int, role string) *rawSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, fmt.Sprintf("postgres://%s@127.0.0.1:%d/orders?sslmode=disable&connect_timeout=10", role, port))
	if err != nil {
		t.Fatalf("connecting as %s: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return &rawSession{t: t, conn: conn, fe: conn.Frontend()}
}

// reply is what came back for one round: the rows, rendered, and errors.
type reply struct {
	rows   []string
	errors []string
}

func (r reply) String() string {
	return "rows: " + strings.Join(r.rows, " / ") + "; errors: " + strings.Join(r.errors, " / ")
}

// round sends msgs (ending with a Sync or a Query) and reads until
// ReadyForQuery.
func (s *rawSession) round(msgs ...pgproto3.FrontendMessage) reply {
	s.t.Helper()
	for _, m := range msgs {
		s.fe.Send(m)
	}
	if err := s.fe.Flush(); err != nil {
		s.t.Fatalf("sending: %v", err)
	}
	var r reply
	deadline := time.Now().Add(20 * time.Second)
	s.conn.Conn().SetReadDeadline(deadline)
	defer s.conn.Conn().SetReadDeadline(time.Time{})
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			s.t.Fatalf("reading: %v (so far %s)", err, r)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			vals := make([]string, len(m.Values))
			for i, v := range m.Values {
				vals[i] = string(v)
				if v == nil {
					vals[i] = "NULL"
				}
			}
			r.rows = append(r.rows, strings.Join(vals, "|"))
		case *pgproto3.ErrorResponse:
			r.errors = append(r.errors, m.Code+" "+m.Message+" "+m.Detail)
		case *pgproto3.ReadyForQuery:
			return r
		}
	}
}

func query(sql string) *pgproto3.Query { return &pgproto3.Query{String: sql} }

func parse(name, sql string) *pgproto3.Parse { return &pgproto3.Parse{Name: name, Query: sql} }

func bind(portal, stmt string) *pgproto3.Bind {
	return &pgproto3.Bind{DestinationPortal: portal, PreparedStatement: stmt}
}

func execute(portal string) *pgproto3.Execute { return &pgproto3.Execute{Portal: portal} }

var syncMsg = &pgproto3.Sync{}

// namespaceAttacks swap what stands behind a cursor, portal or prepared
// statement name through the other half of PostgreSQL's shared
// namespaces (issue 12, items 1 and 2). Each ends with a round whose rows
// come from the swapped-in query; those rows must show no masked value,
// and must come (an attack that errors out proves nothing).
var namespaceAttacks = []struct {
	what   string
	rounds [][]pgproto3.FrontendMessage
}{
	{"portal swap: SQL CLOSE and DECLARE over a bound portal, then Execute", [][]pgproto3.FrontendMessage{
		{query("BEGIN")},
		{parse("s1", "SELECT 'x'::text AS a, 'y'::text AS b"), bind("c", "s1"), syncMsg},
		{query("CLOSE c; DECLARE c CURSOR FOR SELECT email, ssn FROM people")},
		{execute("c"), syncMsg},
	}},
	{"portal swap with computed columns", [][]pgproto3.FrontendMessage{
		{query("BEGIN")},
		{parse("s1", "SELECT 'x'::text AS a, 'y'::text AS b"), bind("c", "s1"), syncMsg},
		{query("CLOSE c; DECLARE c CURSOR FOR SELECT email || '', upper(ssn) FROM people")},
		{execute("c"), syncMsg},
	}},
	{"portal swap by extended-protocol CLOSE and DECLARE", [][]pgproto3.FrontendMessage{
		{query("BEGIN")},
		{parse("s1", "SELECT 'x'::text AS a, 'y'::text AS b"), bind("c", "s1"), syncMsg},
		{parse("", "CLOSE c"), bind("", ""), execute(""), syncMsg},
		{parse("", "DECLARE c CURSOR FOR SELECT lower(email), ssn || '' FROM people"), bind("", ""), execute(""), syncMsg},
		{execute("c"), syncMsg},
	}},
	{"portal swap by CLOSE ALL", [][]pgproto3.FrontendMessage{
		{query("BEGIN")},
		{parse("s1", "SELECT 'x'::text AS a"), bind("c", "s1"), syncMsg},
		{query("CLOSE ALL; DECLARE c CURSOR FOR SELECT reverse(email) FROM people")},
		{execute("c"), syncMsg},
	}},
	{"FETCH from a protocol portal named like a closed SQL cursor", [][]pgproto3.FrontendMessage{
		{query("BEGIN; DECLARE c CURSOR FOR SELECT 'a' || '', 'b' || ''; CLOSE c")},
		{parse("s2", "SELECT upper(email), ssn || '' FROM people"), bind("c", "s2"), syncMsg},
		{query("FETCH ALL FROM c")},
	}},
	{"FETCH from a protocol portal named like a cursor of an earlier transaction", [][]pgproto3.FrontendMessage{
		{query("BEGIN; DECLARE c CURSOR FOR SELECT 'a' || '', 'b' || ''; COMMIT")},
		{query("BEGIN")},
		{parse("s2", "SELECT upper(email), ssn || '' FROM people"), bind("c", "s2"), syncMsg},
		{query("FETCH ALL FROM c")},
	}},
	{"FETCH after a cursor WITH HOLD was rolled back", [][]pgproto3.FrontendMessage{
		{query("BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT 'a' || ''; ROLLBACK")},
		{query("BEGIN")},
		{parse("s2", "SELECT upper(email) FROM people"), bind("c", "s2"), syncMsg},
		{query("FETCH ALL FROM c")},
	}},
	{"FETCH after ROLLBACK TO SAVEPOINT closed the cursor", [][]pgproto3.FrontendMessage{
		{query("BEGIN; SAVEPOINT s; DECLARE c CURSOR FOR SELECT 'a' || ''; ROLLBACK TO SAVEPOINT s")},
		{parse("s2", "SELECT upper(email) FROM people"), bind("c", "s2"), syncMsg},
		{query("FETCH ALL FROM c")},
	}},
	{"MOVE then FETCH through a swapped portal", [][]pgproto3.FrontendMessage{
		{query("BEGIN")},
		{parse("s1", "SELECT 'x' || ''"), bind("c", "s1"), syncMsg},
		{query("CLOSE c; DECLARE c SCROLL CURSOR FOR SELECT email || '' FROM people; MOVE FORWARD 0 IN c")},
		{query("FETCH ALL FROM c")},
	}},
	{"SQL PREPARE over a protocol statement after DEALLOCATE, then Bind", [][]pgproto3.FrontendMessage{
		{parse("p", "SELECT 'a' || ''"), syncMsg},
		{query("DEALLOCATE p; PREPARE p AS SELECT upper(email) FROM people")},
		{bind("", "p"), execute(""), syncMsg},
	}},
	{"SQL PREPARE over a protocol statement after DEALLOCATE, then EXECUTE", [][]pgproto3.FrontendMessage{
		{parse("p", "SELECT 'a' || ''"), syncMsg},
		{query("DEALLOCATE p; PREPARE p AS SELECT upper(email) FROM people")},
		{query("EXECUTE p")},
	}},
	{"protocol Parse over a SQL-prepared statement, then EXECUTE", [][]pgproto3.FrontendMessage{
		{query("PREPARE p AS SELECT 'a' || ''")},
		{query("DEALLOCATE p")},
		{parse("p", "SELECT upper(email), ssn || '' FROM people"), syncMsg},
		{query("EXECUTE p")},
	}},
	{"DISCARD ALL, then a protocol statement under a SQL-prepared name", [][]pgproto3.FrontendMessage{
		{query("PREPARE p AS SELECT 'a' || ''")},
		{query("DISCARD ALL")},
		{parse("p", "SELECT upper(email) FROM people"), syncMsg},
		{query("EXECUTE p")},
	}},
	{"DEALLOCATE ALL, then PREPARE under a protocol statement's name", [][]pgproto3.FrontendMessage{
		{parse("p", "SELECT 'a' || ''"), syncMsg},
		{query("DEALLOCATE ALL; PREPARE p AS SELECT lower(email) FROM people")},
		{bind("", "p"), execute(""), syncMsg},
	}},
	{"EXECUTE of a protocol statement prepared over a failed PREPARE", [][]pgproto3.FrontendMessage{
		{parse("p", "SELECT upper(email) FROM people"), syncMsg},
		{query("PREPARE p AS SELECT 'a' || ''")}, // fails: p exists
		{query("EXECUTE p")},
	}},
}

// testNamespaceSwaps runs every namespace attack as the masked role, over
// the extended protocol where the attack needs it.
func testNamespaceSwaps(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()
	for _, a := range namespaceAttacks {
		t.Run(a.what, func(t *testing.T) {
			s := newRawSession(t, port, "support")
			var last reply
			var all []string
			for _, round := range a.rounds {
				last = s.round(round...)
				all = append(all, last.String())
			}
			t.Logf("%s", strings.Join(all, "\n"))
			if leak := leaked(strings.Join(all, "\n")); leak != "" {
				t.Fatalf("%s: a masked value came back raw: %q\n%s", a.what, leak, strings.Join(all, "\n"))
			}
			if len(last.rows) == 0 || len(last.errors) > 0 {
				t.Fatalf("%s: the last round returned no rows or an error, so the attack proves nothing: %s", a.what, last)
			}
		})
	}
}
