package pgwire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// refusedSQL is what the database is sent in place of a denied Query or
// Parse. It is a syntax error wherever it arrives, raised by the parser
// before anything runs, so the database itself fails the statement exactly
// where the denied one stood: a transaction block becomes failed ('E'), an
// extended-protocol pipeline is discarded up to Sync, and every reply before
// it keeps its order. Its error is then shown to the client as gatehouse's
// refusal. In the database's log it reads as what it is.
const refusedSQL = "GATEHOUSE_REFUSED_STATEMENT"

// flushThreshold is how many bytes a copier lets accumulate before writing
// even without a reason to (Sync, Flush, an emptied input buffer).
const flushThreshold = 64 << 10

// aLongTimeAgo is a deadline that interrupts pending I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// session is one client connection and, once started, its upstream.
type session struct {
	cfg        *Config
	log        *slog.Logger
	client     io.ReadWriteCloser
	clientIn   *recordingReader
	fromClient *clientReader // clientToUpstream's input (start-up reads clientIn itself)
	toClient   output        // start-up's output, then upstreamToClient's, then closeClient's

	upstream       net.Conn
	fromDB         *upstreamReader // upstreamToClient's input
	toDB           output          // clientToUpstream's output, then closeUpstream's
	replies        *replies
	cancelUpstream func(context.Context) error

	recordParameters bool                     // Upstream.RecordParameters: keep bind values for Observe
	results          func(Result) *RowRewrite // Upstream.Results
	own              ownQuery                 // gatehouse's own query between statements (own.go)

	// held is the Hold of the last allowed string that had one: the
	// client is sent nothing until it returns nil (awaitHeld).
	held       atomic.Pointer[func() error]
	stopping   atomic.Bool // the relay is ending: I/O errors from now on are its own doing
	terminated atomic.Bool // the client's Terminate is on its way upstream
	upUnsent   int         // clientToUpstream: bytes sent since the last flush
	downUnsent int         // upstreamToClient: bytes sent since the last flush
}

// ending is why a copier, or the session, stopped.
type ending struct {
	reason   string // SessionEnd.Reason
	err      error  // the cause
	toClient *Error // the FATAL the client gets; nil: none
	// atBoundary: the copier stopped between whole messages to the
	// database, which may therefore still be sent a Terminate.
	atBoundary bool
}

func (e *ending) Error() string { return e.reason + ": " + fmt.Sprint(e.err) }

// returned is Serve's result for this ending.
func (e *ending) returned() error {
	switch e.reason {
	case reasonTerminated, reasonClientGone:
		return nil
	}
	return fmt.Errorf("pgwire: %s: %w", e.reason, e.err)
}

const (
	reasonTerminated     = "client terminated"
	reasonClientGone     = "client disconnected"
	reasonClientProtocol = "client protocol violation"
	reasonUpstreamGone   = "upstream lost"
	reasonUpstreamProto  = "upstream protocol violation"
	reasonEnded          = "session ended"
	reasonStopped        = "stopped" // interrupted by the relay itself; never the first
	reasonUnrecorded     = "statement record failed"
)

// msgUnrecorded is the client's FATAL when a Hold failed: the results
// waiting for it are not sent.
const msgUnrecorded = "gatehouse: session ended: a statement's record could not be made durable, so its results were withheld"

var errTerminate = errors.New("client sent Terminate")

// relay runs the two copiers until the session ends, then tells the client
// why when it can, cancels an upstream query still running for a client
// that is gone, and closes both connections. It returns only once both
// copiers have. upstreamToClient runs in relay's own goroutine, which
// would otherwise only wait: one goroutine fewer for every session, idle
// or not.
func (s *session) relay(ctx context.Context, cancel context.CancelCauseFunc) *ending {
	st := &stopper{s: s}
	upc := make(chan *ending, 1) // clientToUpstream's ending
	go func() {
		up := s.clientToUpstream(ctx)
		st.stop(up, false)
		upc <- up
	}()
	ctxDone := make(chan struct{})
	stopCtx := context.AfterFunc(ctx, func() {
		defer close(ctxDone)
		st.stop(ended(context.Cause(ctx)), false)
	})
	down := s.upstreamToClient()
	st.stop(down, true)
	if !stopCtx() {
		<-ctxDone // it ran, or is running: let it finish
	}
	first, expired := st.stopped()
	if first.reason == reasonUpstreamGone && s.terminated.Load() {
		// The database closed because the client's Terminate reached it.
		first = &ending{reason: reasonTerminated}
	}
	s.closeClient(first, down, expired)
	cancel(first) // an Inspect in progress returns
	up := <-upc
	s.closeUpstream(first, up)
	s.replies.abandon()
	return first
}

// stopper keeps the first ending of a session, and stops the relay when
// it is known: I/O errors from then on are the relay's own doing, and
// upstreamToClient's reads and clientToUpstream's writes are interrupted.
// upstreamToClient, then the client's only writer, may be stuck writing
// to a client that does not read: unless it ended first, the client is
// closed if it has not stopped within clientWriteGrace.
type stopper struct {
	s     *session
	mu    sync.Mutex
	first *ending
	grace func() (expired bool) // nil: upstreamToClient ended first
}

// stop records e as the session's ending if it is the first; byDown says
// upstreamToClient ended with it.
func (st *stopper) stop(e *ending, byDown bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.first != nil {
		return
	}
	st.first = e
	st.s.stopping.Store(true)
	st.s.upstream.SetDeadline(aLongTimeAgo) // upstreamToClient's reads, clientToUpstream's writes
	if !byDown {
		st.grace = closeOnExpiry(context.Background(), clientWriteGrace, st.s.client)
	}
}

// stopped returns the first ending, once upstreamToClient has stopped, and
// whether the client was closed because it took longer than
// clientWriteGrace.
func (st *stopper) stopped() (first *ending, expired bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.grace != nil {
		expired = st.grace()
	}
	return st.first, expired
}

// closeClient tells the client why the session ends, if it should and can
// be told, and closes it. upstreamToClient, its only writer until then,
// has stopped.
func (s *session) closeClient(first, down *ending, expired bool) {
	defer s.client.Close()
	if expired || first.toClient == nil || down.reason == reasonClientGone {
		return
	}
	if err := s.awaitHeld(); err != nil {
		s.toClient.discard() // results whose statement's record may be lost
	}
	if err := s.toClient.send(fatal(first.toClient)); err != nil {
		s.log.Debug("pgwire: could not encode the final error", "err", err)
	}
	if err := s.flushClient(func() error { return s.toClient.flush(true) }); err != nil {
		s.log.Debug("pgwire: could not send the final error", "err", err)
	}
}

// closeUpstream ends the upstream connection: a query still running for a
// client that is gone is cancelled (closing the socket alone would leave it
// running until it next writes), and the database is told Terminate when
// the stream to it is whole.
func (s *session) closeUpstream(first, up *ending) {
	defer s.upstream.Close()
	switch first.reason {
	case reasonUpstreamGone, reasonUpstreamProto, reasonTerminated:
		return
	}
	if s.replies.busy() {
		ctx, stop := context.WithTimeout(context.Background(), cancelTimeout)
		err := s.cancelUpstream(ctx)
		stop()
		s.log.Info("pgwire: cancelled the running upstream query", "err", err)
	}
	if up.atBoundary {
		s.upstream.SetDeadline(time.Now().Add(time.Second))
		if s.toDB.send(&pgproto3.Terminate{}) == nil {
			s.toDB.flush(true)
		}
	}
}

// ended is the ending for a cancelled session context.
func ended(cause error) *ending {
	return &ending{
		reason:   reasonEnded,
		err:      cause,
		toClient: clientError(cause, codeAdminShutdown, "gatehouse: session ended"),
	}
}

// clientToUpstream relays the client's messages to the database, deciding
// each SQL string before it is forwarded: Receive → inspect → Send → Flush.
// Each message is encoded (copied into toDB) before the next Receive
// reuses its memory. Writes go out at the points where the client
// waits for an answer (Sync, Flush, Query, end of COPY data), when much
// is buffered, and before gatehouse waits to read more from the client,
// not once per message: a pipeline that arrives at once is written at
// once, and a client that pauses after Parse has it parsed meanwhile, as
// it would on a direct connection.
func (s *session) clientToUpstream(ctx context.Context) *ending {
	s.clientIn.beforeRead = s.flushToDB
	defer func() { s.clientIn.beforeRead = nil }()
	for {
		msg, err := s.fromClient.Receive()
		if err != nil {
			if s.clientIn.beforeErr != nil {
				return s.upstreamFailed(s.clientIn.beforeErr, false)
			}
			return s.clientReadFailed(err)
		}
		flush, err := s.forward(ctx, msg)
		s.own.midRound = midRound(msg, s.own.midRound)
		if errors.Is(err, errTerminate) {
			s.terminated.Store(true)
			if err := s.toDB.flush(true); err != nil {
				return s.upstreamFailed(err, false)
			}
			return &ending{reason: reasonTerminated}
		}
		if err != nil {
			return &ending{reason: reasonClientProtocol, err: err, toClient: clientError(err, codeProtocolViolation, "gatehouse: protocol violation"), atBoundary: true}
		}
		if n := s.replies.pendingCount(); n > s.cfg.maxPending() {
			return &ending{reason: reasonClientProtocol, err: fmt.Errorf("%d messages await answers", n), atBoundary: true, toClient: &Error{
				Code:    codeProgramLimitExceeded,
				Message: fmt.Sprintf("gatehouse: more than %d messages are waiting for the database's answers; send Sync and read the answers before sending more", s.cfg.maxPending()),
			}}
		}
		if flush || s.upUnsent >= flushThreshold {
			s.upUnsent = 0
			if err := s.toDB.flush(flush); err != nil {
				return s.upstreamFailed(err, false)
			}
			s.startHeld()
		}
	}
}

// flushToDB writes what is waiting for the database, if anything.
func (s *session) flushToDB() error {
	if len(s.toDB.buf) == 0 {
		return nil
	}
	s.upUnsent = 0
	if err := s.toDB.flush(false); err != nil {
		return err
	}
	s.startHeld()
	return nil
}

// startHeld runs the pending Hold once its string has gone to the
// database, on this goroutine, which has nothing else to do before the
// client's next message: the record's fsync overlaps the database's work,
// and upstreamToClient, about to release the answer, finds it done or under
// way (awaitHeld) rather than starting it then, one fsync and one database
// round trip in a row. Its error is awaitHeld's too: the Hold gives every
// caller the first call's result, and ends the session itself.
func (s *session) startHeld() {
	if h := s.held.Load(); h != nil {
		_ = (*h)()
	}
}

// forward sends one client message upstream, or its substitute, and says
// whether to flush now.
func (s *session) forward(ctx context.Context, msg pgproto3.FrontendMessage) (bool, error) {
	switch m := msg.(type) {
	case *pgproto3.Query:
		v := s.cfg.Inspect(ctx, Query{SQL: m.String, Ask: s.ask})
		p := s.statement('Q', m.String, v)
		p.names = v.Names
		s.upUnsent += len(m.String)
		if !v.Allow {
			p.refuse(v)
			m = &pgproto3.Query{String: refusedSQL}
		}
		s.hold(v)
		s.replies.push(p)
		return s.sendDB(true, m)
	case *pgproto3.Parse:
		v := s.cfg.Inspect(ctx, Query{SQL: m.Query, Extended: true, StatementName: m.Name, ParamCount: len(m.ParameterOIDs), Ask: s.ask})
		p := s.statement('P', m.Query, v)
		p.name, p.stmt = m.Name, &prepared{sql: m.Query, detail: v.Detail, names: v.Names}
		p.ev.Extended, p.ev.StatementName = true, m.Name
		s.upUnsent += len(m.Query)
		if !v.Allow {
			p.refuse(v)
			m = &pgproto3.Parse{Name: m.Name, Query: refusedSQL}
		}
		s.hold(v)
		s.replies.push(p)
		return s.sendDB(false, m)
	case *pgproto3.Bind:
		p := &pending{kind: 'B', name: m.DestinationPortal, bindOf: m.PreparedStatement, params: len(m.Parameters)}
		m = s.checkBind(ctx, m, p)
		if s.recordParameters {
			p.values = bindValues(m)
		}
		s.replies.push(p)
		for _, v := range m.Parameters {
			s.upUnsent += len(v)
		}
		return s.sendDB(false, m)
	case *pgproto3.Describe:
		s.replies.push(&pending{kind: 'D', target: m.ObjectType, name: m.Name})
		return s.sendDB(false, m)
	case *pgproto3.Execute:
		return s.execute(m)
	case *pgproto3.Close:
		s.replies.push(&pending{kind: 'C', target: m.ObjectType, name: m.Name})
		return s.sendDB(false, m)
	case *pgproto3.Sync:
		s.replies.push(&pending{kind: 'S'})
		return s.sendDB(true, m)
	case *pgproto3.Flush:
		return s.sendDB(true, m)
	case *pgproto3.CopyData:
		s.upUnsent += len(m.Data)
		return s.sendDB(false, m)
	case *pgproto3.CopyDone, *pgproto3.CopyFail:
		return s.sendDB(true, m)
	case *pgproto3.FunctionCall:
		// The fast-path protocol calls a function by OID with no SQL to
		// inspect (libpq's large-object calls use it): refused, in step, by
		// the same substitution as a denied Query.
		p := &pending{kind: 'F', refusal: "gatehouse: function calls by OID (the fast-path protocol) are not allowed; call the function in SQL"}
		p.ev = &StatementEvent{SQL: fmt.Sprintf("-- fast-path call of function OID %d", m.Function), Start: s.cfg.now(), ParamCount: len(m.Arguments)}
		s.replies.push(p)
		return s.sendDB(true, &pgproto3.Query{String: refusedSQL})
	case *pgproto3.Terminate:
		if _, err := s.sendDB(true, m); err != nil {
			return false, err
		}
		return true, errTerminate
	}
	return false, &Error{Code: codeProtocolViolation, Message: fmt.Sprintf("gatehouse: unexpected message %T after startup", msg)}
}

// execute forwards an Execute. Under Results it is preceded by a Describe
// of the portal whose reply goes no further: the rows an Execute returns
// come with no description, and the portal may not be what the last Bind
// made it (a SQL CLOSE and DECLARE can replace it; see namespace), so
// what the server holds under the name is asked for every time, with the
// formats its rows will be in.
func (s *session) execute(m *pgproto3.Execute) (bool, error) {
	exec := withEvent('E', StatementEvent{Extended: true, Portal: m.Portal, Start: s.cfg.now()})
	exec.name = m.Portal
	if s.results == nil {
		s.replies.push(exec)
		return s.sendDB(false, m)
	}
	s.replies.push(&pending{kind: kindOwnDescribe, name: m.Portal})
	s.replies.push(exec)
	return s.sendDB(false, &pgproto3.Describe{ObjectType: 'P', Name: m.Portal}, m)
}

// hold makes the client wait for an allowed string's Hold. It is set
// before the string is sent, so no reply to it can be flushed first; a
// later Hold replaces an earlier one, which it covers, the record being
// one stream made durable in order.
func (s *session) hold(v Verdict) {
	if v.Allow && v.Hold != nil {
		s.held.Store(&v.Hold)
	}
}

// awaitHeld returns once what the client is about to be sent may go: nil
// at once unless a Hold is pending, else its result.
func (s *session) awaitHeld() error {
	h := s.held.Load()
	if h == nil {
		return nil
	}
	if err := (*h)(); err != nil {
		return err
	}
	s.held.CompareAndSwap(h, nil)
	return nil
}

// sendDB encodes msgs for the database, and passes on whether forward's
// caller is to flush now. An encoding error (a message the protocol cannot
// carry) leaves what was encoded before it whole.
func (s *session) sendDB(flush bool, msgs ...pgproto3.FrontendMessage) (bool, error) {
	for _, m := range msgs {
		if err := s.toDB.send(m); err != nil {
			return false, fmt.Errorf("gatehouse: cannot forward %T: %w", m, err)
		}
	}
	return flush, nil
}

// statement is the pending message of a SQL string Inspect decided, with
// its event.
func (s *session) statement(kind byte, sql string, v Verdict) *pending {
	return withEvent(kind, StatementEvent{SQL: sql, Detail: v.Detail, Start: s.cfg.now()})
}

// withEvent is a pending message with its event, the two made in one
// allocation: one of each per statement, on the relay's path.
func withEvent(kind byte, ev StatementEvent) *pending {
	both := &struct {
		p  pending
		ev StatementEvent
	}{pending{kind: kind}, ev}
	both.p.ev = &both.ev
	return &both.p
}

// bindValues copies a Bind's parameter values (the message's memory is
// reused by the next Receive), with the format of each: no format codes
// mean text, one applies to all, otherwise one per parameter.
func bindValues(m *pgproto3.Bind) []Parameter {
	out := make([]Parameter, len(m.Parameters))
	for i, v := range m.Parameters {
		var format int16
		switch len(m.ParameterFormatCodes) {
		case 0:
		case 1:
			format = m.ParameterFormatCodes[0]
		default:
			if i < len(m.ParameterFormatCodes) {
				format = m.ParameterFormatCodes[i]
			}
		}
		out[i] = Parameter{Binary: format == 1}
		if v != nil {
			out[i].Value = append([]byte{}, v...)
		}
	}
	return out
}

// refuse marks p denied by v, with what its refusal says.
func (p *pending) refuse(v Verdict) {
	p.refusal, p.refusalCode, p.refusalPosition = v.Message, v.Code, int32(v.Position)
	if p.refusal == "" {
		p.refusal = "gatehouse: statement not allowed by policy"
	}
}

// clientReadFailed classifies an error from reading the client: the
// connection failing, or a message gatehouse will not accept.
func (s *session) clientReadFailed(err error) *ending {
	if s.clientIn.err != nil {
		return &ending{reason: reasonClientGone, err: err, atBoundary: true}
	}
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &tooBig) {
		return &ending{reason: reasonClientProtocol, err: err, atBoundary: true, toClient: &Error{
			Code:    codeProgramLimitExceeded,
			Message: fmt.Sprintf("gatehouse: message of %d bytes exceeds the limit of %d bytes", tooBig.ActualBodyLen, tooBig.MaxExpectedBodyLen),
		}}
	}
	return &ending{reason: reasonClientProtocol, err: err, atBoundary: true, toClient: &Error{
		Code: codeProtocolViolation, Message: "gatehouse: invalid message: " + err.Error(),
	}}
}

// upstreamFailed classifies an error from the upstream connection.
func (s *session) upstreamFailed(err error, fatalRelayed bool) *ending {
	if s.stopping.Load() {
		return &ending{reason: reasonStopped, err: err}
	}
	var tooBig *pgproto3.ExceededMaxBodyLenErr
	if errors.As(err, &tooBig) {
		return &ending{reason: reasonUpstreamProto, err: err, toClient: &Error{
			Code:    codeProgramLimitExceeded,
			Message: fmt.Sprintf("gatehouse: a message of %d bytes from the database exceeds the limit of %d bytes", tooBig.ActualBodyLen, tooBig.MaxExpectedBodyLen),
		}}
	}
	e := &ending{reason: reasonUpstreamGone, err: err}
	if !fatalRelayed {
		e.toClient = &Error{Code: codeConnectionFailure, Message: "gatehouse: the connection to the database was lost"}
	}
	return e
}

// upstreamToClient relays the database's messages to the client, matching
// each against what the client sent (replies.answer). It flushes when its
// input is drained, or when the client must act on what it has (a
// ReadyForQuery, a CopyInResponse), or when much is buffered.
func (s *session) upstreamToClient() *ending {
	for {
		msg, err := s.fromDB.Receive()
		if err != nil {
			return s.upstreamFailed(err, s.replies.fatalSeen)
		}
		if s.own.take(msg) {
			continue
		}
		out, err := s.replies.answer(msg)
		if err != nil {
			return &ending{reason: reasonUpstreamProto, err: err, toClient: &Error{Code: codeProtocolViolation, Message: "gatehouse: the database broke the protocol"}}
		}
		if out == nil { // a reply to gatehouse's own message
			continue
		}
		if err := s.toClient.send(out); err != nil {
			return &ending{reason: reasonUpstreamProto, err: err, toClient: &Error{Code: codeProgramLimitExceeded, Message: "gatehouse: a message from the database is too large to send on"}}
		}
		switch m := out.(type) {
		case *pgproto3.DataRow:
			s.downUnsent += int(dataRowSize(m))
		case *rewrittenRow:
			s.downUnsent += int(dataRowSize(m.src))
		case *pgproto3.CopyData:
			s.downUnsent += len(m.Data)
		}
		if !mustFlush(out) && s.fromDB.buffered() > 0 && s.downUnsent < flushThreshold {
			continue
		}
		s.downUnsent = 0
		if err := s.awaitHeld(); err != nil {
			return &ending{reason: reasonUnrecorded, err: err, toClient: &Error{Code: codeInternalError, Message: msgUnrecorded}}
		}
		_, idle := out.(*pgproto3.ReadyForQuery)
		if err := s.toClient.flush(idle); err != nil {
			return &ending{reason: reasonClientGone, err: err}
		}
	}
}

func mustFlush(m pgproto3.BackendMessage) bool {
	switch m.(type) {
	case *pgproto3.ReadyForQuery, *pgproto3.CopyInResponse, *pgproto3.ErrorResponse:
		return true
	}
	return false
}
