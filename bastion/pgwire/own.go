package pgwire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ErrNotIdle is Query.Ask's answer when the client's session is not
// between statements: something the client sent before is still being
// answered (a pipeline), so a query of gatehouse's own would run in the
// middle of it.
var ErrNotIdle = errors.New("pgwire: the session is not between statements")

// ownQuery is a query of gatehouse's own on the client's upstream session
// (Query.Ask): clientToUpstream sends it while nothing else is pending, and
// upstreamToClient hands its replies here instead of to the client.
type ownQuery struct {
	out atomic.Bool // a query is out: take's test, once per message from the database
	// name is the statement and portal gatehouse's query runs under: the
	// extended protocol with names of its own leaves the client's unnamed
	// statement and portal alone, which a simple Query would destroy.
	// Random per session, so no client can guess it and collide.
	name string
	// midRound: the client has sent extended-protocol messages since its
	// last Sync (or Query), so an implicit transaction of its own may be
	// open, which a Sync of gatehouse's would end. Owned by
	// clientToUpstream.
	midRound bool
	mu       sync.Mutex
	waiting  chan ownResult // non-nil while a query is out
	result   ownResult      // upstreamToClient's, while it is out
}

type ownResult struct {
	rows     [][]string
	txStatus byte
	err      error
}

// ask runs sql on the upstream session and returns its rows as text, and
// the transaction status after it. It runs on clientToUpstream's goroutine
// (from Inspect or Bind), so no client message can be forwarded meanwhile.
func (s *session) ask(ctx context.Context, sql string) ([][]string, byte, error) {
	if s.replies.busy() || s.own.midRound {
		return nil, 0, ErrNotIdle
	}
	done := make(chan ownResult, 1)
	s.own.mu.Lock()
	s.own.waiting, s.own.result = done, ownResult{}
	s.own.out.Store(true)
	s.own.mu.Unlock()
	_, err := s.sendDB(true, s.own.messages(sql)...)
	if err == nil {
		err = s.toDB.flush(true)
	}
	if err != nil {
		// Nothing (or not all of it) reached the database: nothing to take.
		s.own.mu.Lock()
		s.own.waiting = nil
		s.own.out.Store(false)
		s.own.mu.Unlock()
		return nil, 0, fmt.Errorf("pgwire: sending gatehouse's own query: %w", err)
	}
	select {
	case r := <-done:
		return r.rows, r.txStatus, r.err
	case <-ctx.Done():
		return nil, 0, context.Cause(ctx)
	}
}

// messages runs sql under the query's own name, closed first (a Close of a
// name that does not exist is no error, and an earlier run that failed
// half-way may have left it) and after. Rows come in text.
func (o *ownQuery) messages(sql string) []pgproto3.FrontendMessage {
	if o.name == "" {
		var b [8]byte
		rand.Read(b[:])
		o.name = "gatehouse_" + hex.EncodeToString(b[:])
	}
	return []pgproto3.FrontendMessage{
		&pgproto3.Close{ObjectType: 'P', Name: o.name},
		&pgproto3.Close{ObjectType: 'S', Name: o.name},
		&pgproto3.Parse{Name: o.name, Query: sql},
		&pgproto3.Bind{DestinationPortal: o.name, PreparedStatement: o.name},
		&pgproto3.Execute{Portal: o.name},
		&pgproto3.Close{ObjectType: 'P', Name: o.name},
		&pgproto3.Close{ObjectType: 'S', Name: o.name},
		&pgproto3.Sync{},
	}
}

// take keeps msg from the client when it answers gatehouse's own query,
// and reports whether it did. Messages that may come at any time
// (notices, notifications, parameter changes) and FATAL errors go on as
// usual. Called by upstreamToClient only.
func (o *ownQuery) take(msg pgproto3.BackendMessage) bool {
	if !o.out.Load() {
		return false
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.waiting == nil {
		return false
	}
	switch m := msg.(type) {
	case *pgproto3.RowDescription, *pgproto3.CommandComplete, *pgproto3.EmptyQueryResponse,
		*pgproto3.ParseComplete, *pgproto3.BindComplete, *pgproto3.CloseComplete, *pgproto3.NoData:
	case *pgproto3.DataRow:
		row := make([]string, len(m.Values))
		for i, v := range m.Values {
			row[i] = string(v)
		}
		o.result.rows = append(o.result.rows, row)
	case *pgproto3.ErrorResponse:
		if sev := severity(m); sev == "FATAL" || sev == "PANIC" {
			return false
		}
		o.result.err = fmt.Errorf("pgwire: gatehouse's own query failed: %s (SQLSTATE %s)", m.Message, m.Code)
	case *pgproto3.ReadyForQuery:
		o.result.txStatus = m.TxStatus
		o.waiting <- o.result
		o.waiting, o.result = nil, ownResult{}
		o.out.Store(false)
	default:
		return false
	}
	return true
}

// checkBind asks Config.Bind about a Bind. A denied Bind is sent on naming
// a statement that does not exist, so the database fails it where it
// stands (and skips to Sync), and its error becomes the refusal, as for a
// denied Parse.
func (s *session) checkBind(ctx context.Context, m *pgproto3.Bind, p *pending) *pgproto3.Bind {
	if s.cfg.Bind == nil {
		return m
	}
	v := s.cfg.Bind(ctx, m.PreparedStatement, s.ask)
	if v.Allow {
		return m
	}
	p.refuse(v)
	p.ev = &StatementEvent{SQL: fmt.Sprintf("-- Bind of prepared statement %q", m.PreparedStatement), Detail: v.Detail, Start: s.cfg.now(), Extended: true, StatementName: m.PreparedStatement}
	refused := *m
	refused.PreparedStatement = refusedSQL
	return &refused
}

// midRound says whether, after msg, the client is inside an extended-
// protocol round: from its first Parse, Bind, Describe, Execute, Close or
// Flush up to its Sync.
func midRound(msg pgproto3.FrontendMessage, was bool) bool {
	switch msg.(type) {
	case *pgproto3.Sync, *pgproto3.Query:
		return false
	case *pgproto3.Parse, *pgproto3.Bind, *pgproto3.Describe, *pgproto3.Execute, *pgproto3.Close, *pgproto3.Flush:
		return true
	}
	return was
}
