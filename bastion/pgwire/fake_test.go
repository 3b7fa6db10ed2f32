package pgwire

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// checkLeaks fails t if goroutines started during it outlive it. Call it
// first: its cleanup then runs last, after every other cleanup.
func checkLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// The upstream's real cancel key, which clients must never see.
const (
	fakePID    = 4242
	fakeSecret = "\xde\xad\xbe\xef"
)

// fakeUpstream is a PostgreSQL stand-in on a loopback TCP port that pgconn
// can connect to: trust authentication (or a cleartext password it always
// refuses, echoing it), a few ParameterStatus values, its BackendKeyData,
// then a small imitation of PostgreSQL's query handling (fakeQuery) that
// logs every message it gets.
type fakeUpstream struct {
	t        testing.TB
	ln       net.Listener
	password string // when set: ask for it and refuse it, echoing it back

	mu       sync.Mutex
	log      []string // messages received after startup, summarised
	startups []*pgproto3.StartupMessage
	conns    []net.Conn
	wg       sync.WaitGroup

	cancels chan *pgproto3.CancelRequest
	// onQuery, when set, may take over a simple query: it returns true
	// when it handled it.
	onQuery func(q string, be *pgproto3.Backend, conn net.Conn) bool
	// quiet: messages are not logged (benchmarks, whose log would grow
	// with b.N and count in their allocations).
	quiet bool
}

func newFakeUpstream(t testing.TB) *fakeUpstream {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUpstream{t: t, ln: ln, cancels: make(chan *pgproto3.CancelRequest, 4)}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.close)
	return f
}

func (f *fakeUpstream) close() {
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakeUpstream) accept() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, conn)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer conn.Close()
			f.serve(conn)
		}()
	}
}

// config is what Authorize returns to reach the fake.
func (f *fakeUpstream) config(t testing.TB) *pgconn.Config {
	pw := ""
	if f.password != "" {
		pw = ":" + f.password
	}
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("postgres://app_ro%s@%s/orders?sslmode=disable&connect_timeout=5", pw, f.ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (f *fakeUpstream) record(s string) {
	f.mu.Lock()
	f.log = append(f.log, s)
	f.mu.Unlock()
}

func (f *fakeUpstream) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// waitFor waits until the upstream has received msg.
func (f *fakeUpstream) waitFor(t *testing.T, msg string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if slices.Contains(f.messages(), msg) {
			return
		}
	}
	t.Fatalf("upstream got %q, never %q", f.messages(), msg)
}

func (f *fakeUpstream) lastStartup() *pgproto3.StartupMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.startups) == 0 {
		return nil
	}
	return f.startups[len(f.startups)-1]
}

func (f *fakeUpstream) serve(conn net.Conn) {
	be := pgproto3.NewBackend(conn, conn)
	for {
		msg, err := be.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch m := msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			conn.Write([]byte{'N'})
			continue
		case *pgproto3.CancelRequest:
			c := *m
			c.SecretKey = append([]byte(nil), m.SecretKey...)
			f.cancels <- &c
			return
		case *pgproto3.StartupMessage:
			f.mu.Lock()
			f.startups = append(f.startups, m)
			f.mu.Unlock()
		}
		break
	}
	if f.password != "" {
		be.Send(&pgproto3.AuthenticationCleartextPassword{})
		be.Flush()
		be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
		msg, err := be.Receive()
		if err != nil {
			return
		}
		pw := msg.(*pgproto3.PasswordMessage).Password
		be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01",
			Message: `password authentication failed for user "app_ro" (tried "` + pw + `")`})
		be.Flush()
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "15.0 (fake)"})
	be.Send(&pgproto3.ParameterStatus{Name: "client_encoding", Value: "UTF8"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: fakePID, SecretKey: []byte(fakeSecret)})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	(&fakeQuery{f: f, be: be, conn: conn, tx: 'I', stmts: map[string]bool{}}).run()
}

// fakeQuery imitates PostgreSQL's handling of queries closely enough for
// the relay: transaction status, simple and extended protocol, an error
// discarding the rest of an extended pipeline until Sync, and a syntax
// error for anything it does not know (among which refusedSQL).
type fakeQuery struct {
	f        *fakeUpstream
	be       *pgproto3.Backend
	conn     net.Conn
	tx       byte
	skipping bool
	stmts    map[string]bool // prepared statements that exist
}

func (q *fakeQuery) run() {
	for {
		msg, err := q.be.Receive()
		if err != nil {
			return
		}
		if _, ok := msg.(*pgproto3.Terminate); ok {
			q.f.record("X")
			return
		}
		if q.skipping {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				q.f.record("skipped " + summarizeFrontend(msg))
				continue
			}
			q.skipping = false
		}
		if !q.f.quiet {
			q.f.record(summarizeFrontend(msg))
		}
		q.handle(msg)
		if q.be.Flush() != nil {
			return
		}
	}
}

func (q *fakeQuery) handle(msg pgproto3.FrontendMessage) {
	switch m := msg.(type) {
	case *pgproto3.Query:
		if q.f.onQuery != nil && q.f.onQuery(m.String, q.be, q.conn) {
			return
		}
		delete(q.stmts, "")
		q.simple(m.String)
		q.be.Send(&pgproto3.ReadyForQuery{TxStatus: q.tx})
	case *pgproto3.Parse:
		if m.Name == "" {
			delete(q.stmts, "")
		}
		switch {
		case !knownSQL(m.Query):
			q.fail("42601", fmt.Sprintf("syntax error at or near %q", m.Query))
		case q.stmts[m.Name]:
			q.fail("42P05", fmt.Sprintf("prepared statement %q already exists", m.Name))
		default:
			q.stmts[m.Name] = true
			q.be.Send(&pgproto3.ParseComplete{})
		}
	case *pgproto3.Bind:
		if !q.stmts[m.PreparedStatement] {
			q.fail("26000", fmt.Sprintf("prepared statement %q does not exist", m.PreparedStatement))
			return
		}
		q.be.Send(&pgproto3.BindComplete{})
	case *pgproto3.Describe:
		if m.ObjectType == 'S' {
			q.be.Send(&pgproto3.ParameterDescription{})
		}
		q.be.Send(oneColumn())
	case *pgproto3.Execute:
		q.be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("1")}})
		if m.MaxRows == 1 {
			q.be.Send(&pgproto3.PortalSuspended{})
			return
		}
		q.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
	case *pgproto3.Close:
		if m.ObjectType == 'S' {
			delete(q.stmts, m.Name)
		}
		q.be.Send(&pgproto3.CloseComplete{})
	case *pgproto3.Sync:
		q.be.Send(&pgproto3.ReadyForQuery{TxStatus: q.tx})
	}
}

// fail is an ERROR: in an extended pipeline, skip to Sync; in a block, the
// transaction fails.
func (q *fakeQuery) fail(code, msg string) {
	q.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: code, Message: msg})
	q.skipping = true
	if q.tx == 'T' {
		q.tx = 'E'
	}
}

func (q *fakeQuery) simple(sql string) {
	stmt := strings.ToUpper(strings.TrimSpace(sql))
	switch {
	case q.tx == 'E' && stmt != "COMMIT" && stmt != "ROLLBACK" && knownSQL(sql):
		q.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "25P02", Message: "current transaction is aborted, commands ignored until end of transaction block"})
	case stmt == "BEGIN":
		q.tx = 'T'
		q.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("BEGIN")})
	case stmt == "COMMIT" && q.tx == 'E':
		q.tx = 'I'
		q.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("ROLLBACK")})
	case stmt == "COMMIT" || stmt == "ROLLBACK":
		q.tx = 'I'
		q.be.Send(&pgproto3.CommandComplete{CommandTag: []byte(stmt)})
	case strings.HasPrefix(stmt, "SELECT"):
		q.be.Send(oneColumn())
		q.be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("1")}})
		q.be.Send(&pgproto3.DataRow{Values: [][]byte{[]byte("2")}})
		q.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 2")})
	case strings.HasPrefix(stmt, "DELETE"):
		q.be.Send(&pgproto3.CommandComplete{CommandTag: []byte("DELETE 7")})
	case stmt == "" || strings.HasPrefix(stmt, "--") && !strings.Contains(stmt, "\n"):
		// As PostgreSQL answers a string with no statement: pgconn's Ping
		// ("-- ping"), which its Hijack may send under load.
		q.be.Send(&pgproto3.EmptyQueryResponse{})
	default:
		q.be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42601", Message: fmt.Sprintf("syntax error at or near %q", sql)})
		if q.tx == 'T' {
			q.tx = 'E'
		}
	}
}

func knownSQL(sql string) bool {
	s := strings.ToUpper(strings.TrimSpace(sql))
	for _, p := range []string{"SELECT", "DELETE", "BEGIN", "COMMIT", "ROLLBACK"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func oneColumn() *pgproto3.RowDescription {
	return &pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("n"), DataTypeOID: 23, DataTypeSize: 4, TypeModifier: -1}}}
}

func summarizeFrontend(msg pgproto3.FrontendMessage) string {
	switch m := msg.(type) {
	case *pgproto3.Query:
		return "Q:" + m.String
	case *pgproto3.Parse:
		return "P:" + m.Name + ":" + m.Query
	case *pgproto3.Bind:
		return "B:" + m.DestinationPortal + ":" + m.PreparedStatement
	case *pgproto3.Execute:
		return "E:" + m.Portal
	case *pgproto3.Describe:
		return "D:" + string(m.ObjectType) + m.Name
	case *pgproto3.Close:
		return "C:" + string(m.ObjectType) + m.Name
	case *pgproto3.Sync:
		return "S"
	case *pgproto3.Flush:
		return "H"
	}
	return fmt.Sprintf("%T", msg)
}

// summarize renders a message from the relay for comparisons.
func summarize(msg pgproto3.BackendMessage) string {
	switch m := msg.(type) {
	case *pgproto3.ReadyForQuery:
		return "Z:" + string(m.TxStatus)
	case *pgproto3.ErrorResponse:
		return "E:" + m.Severity + ":" + m.Code + ":" + m.Message
	case *pgproto3.CommandComplete:
		return "C:" + string(m.CommandTag)
	case *pgproto3.DataRow:
		var vs []string
		for _, v := range m.Values {
			vs = append(vs, string(v))
		}
		return "D:" + strings.Join(vs, ",")
	case *pgproto3.RowDescription:
		return "T"
	case *pgproto3.ParseComplete:
		return "1"
	case *pgproto3.BindComplete:
		return "2"
	case *pgproto3.CloseComplete:
		return "3"
	case *pgproto3.ParameterDescription:
		return "t"
	case *pgproto3.NoData:
		return "n"
	case *pgproto3.EmptyQueryResponse:
		return "I"
	case *pgproto3.ParameterStatus:
		return "S:" + m.Name + "=" + m.Value
	case *pgproto3.BackendKeyData:
		return "K"
	case *pgproto3.AuthenticationOk:
		return "R:ok"
	case *pgproto3.NegotiateProtocolVersion:
		return fmt.Sprintf("v:%d:%s", m.NewestMinorProtocol, strings.Join(m.UnrecognizedOptions, ","))
	case *pgproto3.NoticeResponse:
		return "N:" + m.Message
	}
	return fmt.Sprintf("%T", msg)
}

// testClient is the client end of a net.Pipe that Serve serves.
type testClient struct {
	t    testing.TB
	conn net.Conn
	fe   *pgproto3.Frontend
	done chan error // Serve's result
	key  *pgproto3.BackendKeyData
}

// serveClient starts Serve on one end of a pipe and returns the other. The
// test's cleanup closes the client and waits for Serve.
func serveClient(t testing.TB, ctx context.Context, cfg Config) *testClient {
	t.Helper()
	clientEnd, serverEnd := net.Pipe()
	c := &testClient{t: t, conn: clientEnd, fe: pgproto3.NewFrontend(clientEnd, clientEnd), done: make(chan error, 1)}
	go func() { c.done <- Serve(ctx, serverEnd, cfg) }()
	t.Cleanup(func() {
		clientEnd.Close()
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after the client closed")
		}
	})
	return c
}

func (c *testClient) send(msgs ...pgproto3.FrontendMessage) {
	c.t.Helper()
	for _, m := range msgs {
		c.fe.Send(m)
	}
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.fe.Flush(); err != nil {
		c.t.Fatalf("client send: %v", err)
	}
}

func (c *testClient) receive() (pgproto3.BackendMessage, error) {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	return c.fe.Receive()
}

// until reads messages up to and including one that stop accepts, and
// returns them summarised.
func (c *testClient) until(stop func(pgproto3.BackendMessage) bool) []string {
	c.t.Helper()
	var got []string
	for {
		msg, err := c.receive()
		if err != nil {
			c.t.Fatalf("client receive after %q: %v", got, err)
		}
		if k, ok := msg.(*pgproto3.BackendKeyData); ok {
			c.key = &pgproto3.BackendKeyData{ProcessID: k.ProcessID, SecretKey: append([]byte(nil), k.SecretKey...)}
		}
		got = append(got, summarize(msg))
		if stop(msg) {
			return got
		}
	}
}

func (c *testClient) untilReady() []string {
	c.t.Helper()
	return c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ReadyForQuery); return ok })
}

// untilEOF reads until the connection ends, and returns what came.
func (c *testClient) untilEOF() []string {
	c.t.Helper()
	var got []string
	for {
		msg, err := c.receive()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open after %q", got)
			}
			return got
		}
		got = append(got, summarize(msg))
	}
}

func (c *testClient) result() error {
	c.t.Helper()
	select {
	case err := <-c.done:
		c.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		c.t.Fatal("Serve did not return")
		return nil
	}
}

func startup(user string, params ...string) *pgproto3.StartupMessage {
	m := &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": user, "database": "orders"}}
	for i := 0; i+1 < len(params); i += 2 {
		m.Parameters[params[i]] = params[i+1]
	}
	return m
}

// policyDenyingDelete allows everything but SQL mentioning DELETE.
func policyDenyingDelete(ctx context.Context, q Query) Verdict {
	if strings.Contains(strings.ToUpper(q.SQL), "DELETE") {
		return Verdict{Message: `gatehouse: delete not allowed by statement policy "readonly"`, Detail: "rule:readonly"}
	}
	return Verdict{Allow: true, Detail: "ok"}
}

// eventLog collects Observe's events.
type eventLog struct {
	mu     sync.Mutex
	events []StatementEvent
}

func (l *eventLog) observe(ev StatementEvent) {
	l.mu.Lock()
	l.events = append(l.events, ev)
	l.mu.Unlock()
}

func (l *eventLog) all() []StatementEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]StatementEvent(nil), l.events...)
}

// baseConfig reaches f, with policyDenyingDelete.
func baseConfig(t testing.TB, f *fakeUpstream) Config {
	return Config{
		Authorize: func(ctx context.Context, s Startup) (*Upstream, error) {
			return &Upstream{Config: f.config(t), RuntimeParams: map[string]string{"default_transaction_read_only": "on"}}, nil
		},
		Inspect:          policyDenyingDelete,
		HandshakeTimeout: 5 * time.Second,
	}
}
