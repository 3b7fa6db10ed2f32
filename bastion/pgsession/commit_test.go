package pgsession

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/recorder"
)

// commitLog is a recorder Appender that commits as the journal does: a
// commit makes every line written so far durable (SyncThrough commits
// whatever is not durable yet). It logs, in
// order, the lines written ("write TYPE"), the commits ("commit TYPE…",
// the lines each made durable) and, from the client's connection, the
// bytes released to the client ("release").
type commitLog struct {
	mu      sync.Mutex
	log     []string
	written []string // the type of each line written
	durable int      // lines durable
	failOn  string   // a commit that would make a line of this type durable fails
}

func (c *commitLog) Append([]byte) error { panic("Append used although Write/SyncThrough exist") }
func (c *commitLog) Finish([]byte) error { return nil }

func (c *commitLog) Write(line []byte) (int64, error) {
	ev, err := recorder.Decode(line)
	if err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.written = append(c.written, string(ev.Type))
	c.log = append(c.log, "write "+string(ev.Type))
	return int64(len(c.written)), nil
}

func (c *commitLog) SyncThrough(int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.commit()
}

// commit makes every line written durable; c.mu is held.
func (c *commitLog) commit() error {
	if c.durable == len(c.written) {
		return nil
	}
	if c.failOn != "" && slices.Contains(c.written[c.durable:], c.failOn) {
		return errors.New("fdatasync: input/output error")
	}
	c.log = append(c.log, "commit "+strings.Join(c.written[c.durable:], " "))
	c.durable = len(c.written)
	return nil
}

func (c *commitLog) released() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.log); n == 0 || c.log[n-1] != "release" {
		c.log = append(c.log, "release")
	}
}

// since is the log from the first entry e on.
func (c *commitLog) since(e string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.log, e); i >= 0 {
		return slices.Clone(c.log[i:])
	}
	return nil
}

// releasing is the client's connection as pgwire writes to it: every
// write is logged as a release of bytes to the client.
type releasing struct {
	net.Conn
	log *commitLog
}

func (r releasing) Write(p []byte) (int, error) {
	r.log.released()
	return r.Conn.Write(p)
}

// failingConn is a Conn over a real stream that keeps why it was failed.
type failingConn struct {
	streamConn
	mu     sync.Mutex
	failed []error
}

func (c *failingConn) Fail(cause error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failed = append(c.failed, cause)
}

// fakeDatabase is the least of PostgreSQL that pgconn connects to and
// pgwire relays: trust authentication, then the same answer to every
// simple query, rows rows of rowBytes bytes each, with pause after the
// rows before the query is done (a result the relay must release in parts
// before it ends). It returns the pgconn config that reaches it.
func fakeDatabase(t *testing.T, rows, rowBytes int, pause time.Duration) *pgconn.Config {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		answerQueries(pgproto3.NewBackend(conn, conn), rows, rowBytes, pause)
	}()
	cfg, err := pgconn.ParseConfig(fmt.Sprintf("postgres://app_ro@%s/orders?sslmode=disable&connect_timeout=5", ln.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func answerQueries(be *pgproto3.Backend, rows, rowBytes int, pause time.Duration) {
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	be.Send(&pgproto3.ParameterStatus{Name: "server_version", Value: "17.0 (fake)"})
	be.Send(&pgproto3.BackendKeyData{ProcessID: 7, SecretKey: []byte("\x01\x02\x03\x04")})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	row := &pgproto3.DataRow{Values: [][]byte{[]byte(strings.Repeat("x", rowBytes))}}
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		if _, ok := msg.(*pgproto3.Query); !ok {
			return // Terminate, or more than this stand-in knows
		}
		be.Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{Name: []byte("abalance"), DataTypeOID: 25, DataTypeSize: -1, TypeModifier: -1}}})
		for range rows {
			be.Send(row)
		}
		if pause > 0 {
			if be.Flush() != nil {
				return
			}
			time.Sleep(pause)
		}
		be.Send(&pgproto3.CommandComplete{CommandTag: fmt.Appendf(nil, "SELECT %d", rows)})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		if be.Flush() != nil {
			return
		}
	}
}

// relayRead runs reads reads, one after the other, through pgwire's relay
// with this package's hooks, recording to a commitLog, and returns what the
// client received for the last, the log from the first read's decision on,
// before the session ends, and the connection.
func relayRead(t *testing.T, db *pgconn.Config, out *commitLog, reads int) (received, steps []string, conn *failingConn) {
	t.Helper()
	stream, err := (&recorder.Recorder{Store: oneAppender{out}}).Open(recorder.KindSession)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	s := policySession(t, "reader")
	conn = &failingConn{streamConn: streamConn{stream}}
	s.conn, s.stream, s.log, s.channel = conn, stream, slog.New(slog.DiscardHandler), 1
	cfg := s.config()
	cfg.Authorize = func(context.Context, pgwire.Startup) (*pgwire.Upstream, error) {
		return &pgwire.Upstream{Config: db}, nil
	}
	client, server := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- pgwire.Serve(context.Background(), releasing{server, out}, cfg) }()
	defer func() { client.Close(); <-served }()

	fe := pgproto3.NewFrontend(client, client)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersionNumber, Parameters: map[string]string{"user": "app_ro", "database": "orders"}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	untilReady(t, fe)
	for range reads {
		fe.Send(&pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = 1"})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		received = untilReady(t, fe)
	}
	return received, out.since("write db.decision"), conn
}

// untilReady reads the client's messages up to ReadyForQuery, or the end
// of the connection, and summarises them.
func untilReady(t *testing.T, fe *pgproto3.Frontend) []string {
	t.Helper()
	var got []string
	for {
		msg, err := fe.Receive()
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) || errors.Is(err, io.ErrUnexpectedEOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.ReadyForQuery:
			return got
		case *pgproto3.DataRow:
			got = append(got, "D")
		case *pgproto3.ErrorResponse:
			got = append(got, "E:"+m.Severity+":"+m.Message)
		case *pgproto3.CommandComplete:
			got = append(got, "C:"+string(m.CommandTag))
		}
	}
}

// TestReadCommitsWhileTheDatabaseWorks: under recording.overlap_reads a
// read's decision is committed once the read has gone to the database,
// while it runs (pgwire's TestHoldStartsBeforeTheDatabaseAnswers), and its
// result leaves once that commit is over. The outcome waits for no commit
// of its own: the read's commit makes it durable too when the database
// answered before the commit began, and the next read's does otherwise.
// Either way, one commit a statement.
func TestReadCommitsWhileTheDatabaseWorks(t *testing.T) {
	out := &commitLog{}
	received, got, _ := relayRead(t, fakeDatabase(t, 1, 8, 0), out, 2)
	if !slices.Equal(received, []string{"D", "C:SELECT 1"}) {
		t.Fatalf("the client received %q", received)
	}
	for i, read := range splitAfter(got, "release") {
		var commits []string
		for _, step := range read {
			if strings.HasPrefix(step, "commit ") {
				commits = append(commits, step)
			}
		}
		if len(read) == 0 || read[len(read)-1] != "release" || len(commits) != 1 || !strings.Contains(commits[0], "db.decision") {
			t.Fatalf("read %d's recording and release: %q; want one commit, of its decision, before its release (all: %q)", i+1, read, got)
		}
	}
	if n := strings.Count(strings.Join(got, " "), "db.statement"); n < 3 {
		t.Fatalf("the first read's outcome was not committed by the second read's commit: %q", got)
	}
}

// splitAfter cuts steps after each sep.
func splitAfter(steps []string, sep string) [][]string {
	var out [][]string
	for len(steps) > 0 {
		i := slices.Index(steps, sep)
		if i < 0 {
			return append(out, steps)
		}
		out = append(out, steps[:i+1])
		steps = steps[i+1:]
	}
	return out
}

// TestLargeReadWaitsForItsDecision: a result the relay must release in
// parts before the database is done leaves only once its decision is
// durable: the decision's commit comes before the first byte.
func TestLargeReadWaitsForItsDecision(t *testing.T) {
	out := &commitLog{}
	// 100 rows of 1 KiB, then a pause: the relay has them all before the
	// query ends, and sends them on while it waits.
	received, got, _ := relayRead(t, fakeDatabase(t, 100, 1024, 50*time.Millisecond), out, 1)
	if len(received) != 101 || received[100] != "C:SELECT 100" {
		t.Fatalf("the client received %d messages, ending %q", len(received), received[len(received)-1])
	}
	if len(got) < 3 || got[1] != "commit db.decision" || got[2] != "release" {
		t.Fatalf("the read's recording and release: %q; want its decision committed before the first release", got)
	}
	if i := slices.Index(got, "write db.statement"); i < 3 {
		t.Fatalf("the outcome was written before the first release (%q): the result was not released in parts", got)
	}
}

// TestFailedCommitFailsTheRead: when the commit a read's result waits
// for fails (the one of its decision), no row of it leaves: the client gets a FATAL, and the
// connection is failed (fail closed).
func TestFailedCommitFailsTheRead(t *testing.T) {
	out := &commitLog{failOn: "db.decision"}
	received, _, conn := relayRead(t, fakeDatabase(t, 1, 8, 0), out, 1)
	if len(received) != 1 || !strings.Contains(received[0], "E:FATAL:gatehouse: session ended: a statement's record could not be made durable") {
		t.Fatalf("the client received %q; want only the FATAL", received)
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	if len(conn.failed) == 0 || !strings.Contains(conn.failed[0].Error(), "input/output error") {
		t.Fatalf("the connection was failed with %v; want the commit's error", conn.failed)
	}
}
