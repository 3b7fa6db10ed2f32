package pgwire

import (
	"context"
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
	out     atomic.Bool // a query is out: take's test, once per message from the database
	mu      sync.Mutex
	waiting chan ownResult // non-nil while a query is out
	result  ownResult      // upstreamToClient's, while it is out
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
	if s.replies.busy() {
		return nil, 0, ErrNotIdle
	}
	done := make(chan ownResult, 1)
	s.own.mu.Lock()
	s.own.waiting, s.own.result = done, ownResult{}
	s.own.out.Store(true)
	s.own.mu.Unlock()
	_, err := s.sendDB(true, &pgproto3.Query{String: sql})
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
	case *pgproto3.RowDescription, *pgproto3.CommandComplete, *pgproto3.EmptyQueryResponse:
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
