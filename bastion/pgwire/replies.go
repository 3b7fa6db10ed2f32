package pgwire

import (
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// pending is one client message forwarded upstream that the database will
// answer, or skip. The database answers strictly in order, so matching its
// replies against this queue tells which message each reply belongs to —
// which error to turn into a refusal, which statement a row counts for —
// without parsing anything twice.
type pending struct {
	kind    byte        // the client message type: 'Q', 'F', 'P', 'B', 'D', 'E', 'C' or 'S'
	target  byte        // Close: 'S' (statement) or 'P' (portal)
	name    string      // Parse, Close: the statement or portal; Bind, Execute: the portal
	bindOf  string      // Bind: the statement bound
	params  int         // Bind: how many parameters
	values  []Parameter // Bind: their values, when they are recorded
	stmt    *prepared
	names   []NameEffect // Query: Verdict.Names, one per statement
	refusal string       // non-empty when Inspect denied it: the client's error message
	// refusalCode and refusalPosition: the refusal's SQLSTATE ("" is
	// 42501) and ErrorResponse position (Verdict.Code, Verdict.Position).
	refusalCode     string
	refusalPosition int32
	// ev accumulates what Observe is told, for Query, FunctionCall, Execute
	// and Parse; nil for the other kinds.
	ev *StatementEvent
	// results counts a simple Query's statements that have completed,
	// which tells Results which statement a RowDescription is for.
	results int
}

// maxKeptQueue is the largest queue array kept once every message is
// answered: enough for any ordinary pipeline.
const maxKeptQueue = 256

// kindOwnDescribe marks the Describe of a portal that gatehouse sends
// before each Execute for Upstream.Results; its reply goes no further.
const kindOwnDescribe = 'd'

// replies matches the database's replies to the client's forwarded
// messages. The client-side copier pushes; the upstream-side copier does
// everything else. Only the queue is shared, under mu.
type replies struct {
	mu    sync.Mutex
	queue []*pending
	// array is queue's array from its first element, which push reuses
	// once the queue is empty; popped entries in it are nil.
	array []*pending

	// Owned by the upstream-side copier.
	discarding bool // an extended-protocol message failed: the database skips to Sync
	// skippedRun is the first Execute the database skipped since
	// discarding began, reported with how many more it skipped
	// (skippedMore) when discarding ends.
	skippedRun  *pending
	skippedMore int64
	names       namespace
	sent        int64 // DataRows sent for the Execute at the head, for PortalSuspended
	fatalSeen   bool  // the database sent a FATAL error: it is closing
	observe     func(StatementEvent)
	results     func(Result) *RowRewrite // nil: rows pass unchanged
	// redactErrors: the database's errors and notices may echo masked
	// values (Upstream.Results is set), so their values are removed.
	redactErrors bool
	current      *RowRewrite // for the rows of the simple query at the head
	described    bool        // the head's current result was described: current applies to its rows
	width        int         // fields in that result's rows, as described
	rows         rowRewriter
	copyOut      pgproto3.CopyData // a rewritten CopyData, its buffer reused
	now          func() time.Time
	mismatch     func(string) // reports replies out of step (a bug, or a database surprise)
}

func newReplies(observe func(StatementEvent), now func() time.Time, mismatch func(string)) *replies {
	if observe == nil {
		observe = func(StatementEvent) {}
	}
	return &replies{
		names:    newNamespace(),
		observe:  observe,
		now:      now,
		mismatch: mismatch,
	}
}

// push records a message about to be forwarded. It must come before the
// message is sent, so that its reply always finds it.
// An emptied queue starts again at the front of its array, so that a
// session going statement by statement appends into the same one instead
// of growing a new array for every statement.
func (r *replies) push(p *pending) {
	r.mu.Lock()
	if len(r.queue) == 0 {
		r.queue = r.array[:0]
	}
	c := cap(r.queue)
	r.queue = append(r.queue, p)
	if cap(r.queue) != c {
		r.array = r.queue // append made a new array
	}
	r.mu.Unlock()
}

// pendingCount is how many messages await the database's answer.
func (r *replies) pendingCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue)
}

// busy reports whether the database owes answers: a query is running or
// queued.
func (r *replies) busy() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.queue) > 0
}

func (r *replies) front() *pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return nil
	}
	return r.queue[0]
}

// after returns the message queued right after p, the head; nil if none.
func (r *replies) after(p *pending) *pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) < 2 || r.queue[0] != p {
		return nil
	}
	return r.queue[1]
}

func (r *replies) pop() {
	r.mu.Lock()
	r.queue[0] = nil
	r.queue = r.queue[1:]
	if len(r.queue) == 0 && cap(r.array) > maxKeptQueue {
		r.array = nil // a long pipeline's: not kept while idle
	}
	r.mu.Unlock()
	r.sent = 0
}

// head returns the message the database's next reply belongs to. After an
// extended-protocol error the database ignores every message up to Sync
// (protocol §55.2.3): those are dropped here, reported as skipped.
func (r *replies) head() *pending {
	for r.discarding {
		p := r.front()
		if p == nil {
			return nil
		}
		if p.kind == 'S' {
			r.discarding = false
			r.reportSkipped()
			break
		}
		r.pop()
		r.skipped(p)
	}
	return r.front()
}

// answer accounts one message from the database and returns what the
// client gets in its place (the message itself, or a refusal).
func (r *replies) answer(msg pgproto3.BackendMessage) (pgproto3.BackendMessage, error) {
	switch m := msg.(type) {
	case *pgproto3.NoticeResponse:
		if r.redactErrors {
			return (*pgproto3.NoticeResponse)(redactError((*pgproto3.ErrorResponse)(m))), nil
		}
	case *pgproto3.CopyOutResponse:
		r.copyStarts(m)
	case *pgproto3.ParameterDescription:
		return forClient(m), nil
	case *pgproto3.NotificationResponse, *pgproto3.ParameterStatus,
		*pgproto3.CopyInResponse, *pgproto3.CopyDone,
		*pgproto3.FunctionCallResponse:
		// Asynchronous, or part of a reply that goes on.
	case *pgproto3.ErrorResponse:
		if r.redactErrors {
			m = redactError(m)
		}
		return r.error(m), nil
	case *pgproto3.ReadyForQuery:
		r.ready(m)
	case *pgproto3.DataRow:
		p := r.head() // once per row: both below need it
		r.countFor(p, dataRowSize(m), 1)
		return r.rewriteRow(p, m), nil
	case *pgproto3.CopyData:
		r.count(int64(5+len(m.Data)), 0)
		if r.current != nil && r.current.CopyRow != nil {
			r.copyOut.Data = r.current.CopyRow(r.copyOut.Data[:0], m.Data)
			return &r.copyOut, nil
		}
	case *pgproto3.CommandComplete:
		r.commandComplete(m)
	case *pgproto3.EmptyQueryResponse:
		if p := r.head(); p != nil && p.kind == 'E' {
			r.pop()
			r.finish(p, OutcomeOK)
		}
	case *pgproto3.PortalSuspended:
		if p := r.head(); p != nil && p.kind == 'E' {
			p.ev.Rows = r.sent
			r.pop()
			r.finish(p, OutcomeSuspended)
		}
	case *pgproto3.ParseComplete:
		r.complete('P')
	case *pgproto3.BindComplete:
		r.complete('B')
	case *pgproto3.CloseComplete:
		r.complete('C')
	case *pgproto3.RowDescription, *pgproto3.NoData:
		// Ends a Describe; in a simple query a RowDescription starts a result.
		p := r.head()
		switch {
		case p == nil:
		case p.kind == 'D':
			r.pop()
		case p.kind == kindOwnDescribe:
			r.pop()
			r.describedPortal(p.name, msg)
			return nil, nil
		case p.kind == 'Q':
			if rd, ok := msg.(*pgproto3.RowDescription); ok {
				r.current, r.described, r.width = r.resultRewrite(rd.Fields, p), true, len(rd.Fields)
			}
		}
	default:
		// BackendKeyData would show the client the upstream's cancel key;
		// authentication, NegotiateProtocolVersion and CopyBothResponse
		// (replication) have no place in an established session.
		return nil, fmt.Errorf("unexpected %T from the database", msg)
	}
	return msg, nil
}

func (r *replies) count(bytes, rows int64) {
	r.countFor(r.head(), bytes, rows)
}

// countFor is count for the pending message p, already looked up.
func (r *replies) countFor(p *pending, bytes, rows int64) {
	if p == nil || p.ev == nil {
		return
	}
	p.ev.Bytes += bytes
	r.sent += rows
}

func (r *replies) commandComplete(m *pgproto3.CommandComplete) {
	p := r.head()
	if p == nil || p.ev == nil {
		return
	}
	r.current, r.described = nil, false
	tag := string(m.CommandTag)
	p.ev.Tag = tag
	p.ev.Rows += pgconn.NewCommandTag(tag).RowsAffected()
	effect := r.statementEffect(p)
	p.results++
	if p.kind == 'E' {
		r.pop()
		r.finish(p, OutcomeOK)
	}
	// After finish, which records the portal as it ran.
	r.names.apply(effect)
	if tag == "ROLLBACK" { // also ROLLBACK TO SAVEPOINT, and COMMIT of a failed block
		r.names.rolledBack()
	}
}

// statementEffect is what the statement that just completed for p does to
// the names: a Query's statement by its index, an Execute's by its
// portal's statement.
func (r *replies) statementEffect(p *pending) NameEffect {
	switch p.kind {
	case 'Q':
		if p.results < len(p.names) {
			return p.names[p.results]
		}
	case 'E':
		if pt := r.names.portals[p.name]; pt != nil {
			return pt.stmt.effect()
		}
	}
	return NameEffect{}
}

// complete handles ParseComplete, BindComplete and CloseComplete: the
// message succeeded, so its definitions take effect now, in the database's
// order. (Attributing Executes by this record of what the server holds,
// not by what the client last sent, is what keeps a re-used statement name
// from being recorded with another statement's text.)
func (r *replies) complete(kind byte) {
	p := r.head()
	if p == nil || p.kind != kind {
		r.mismatch(fmt.Sprintf("%c-complete does not match the pending message", kind))
		return
	}
	r.pop()
	switch kind {
	case 'P':
		r.names.statements[p.name] = p.stmt
	case 'B':
		r.names.portals[p.name] = &portal{stmtName: p.bindOf, stmt: r.names.statements[p.bindOf], params: p.params, values: p.values, inTxn: true}
	case 'C':
		if p.target == 'S' {
			delete(r.names.statements, p.name)
		} else {
			delete(r.names.portals, p.name)
		}
	}
}

// error handles a non-fatal ErrorResponse: it answers the head message.
// A denied message's answer is the database rejecting the substitute; the
// client gets gatehouse's refusal in its place, at the very point its own
// statement would have failed.
func (r *replies) error(m *pgproto3.ErrorResponse) pgproto3.BackendMessage {
	if sev := severity(m); sev == "FATAL" || sev == "PANIC" {
		r.fatalSeen = true
		return m
	}
	p := r.head()
	if p == nil {
		return m
	}
	r.current, r.described = nil, false
	r.names.txnFailed = true
	var out pgproto3.BackendMessage = m
	code := m.Code
	if p.refusal != "" {
		r := refusal(p.refusal, p.refusalCode, p.refusalPosition)
		out, code = r, r.Code
	}
	if p.ev != nil && p.ev.SQLState == "" {
		p.ev.SQLState = code
	}
	if p.kind == kindOwnDescribe {
		// The Execute it was sent for is skipped because of this error
		// (a portal that does not exist): the error is its outcome.
		if e := r.after(p); e != nil && e.kind == 'E' && e.ev != nil {
			e.ev.SQLState = code
		}
	}
	switch p.kind {
	case 'Q', 'F', 'S':
		// A simple query (or a failed commit at Sync) goes on to ReadyForQuery.
	default:
		r.pop()
		r.failed(p)
		r.discarding = true
	}
	return out
}

func severity(m *pgproto3.ErrorResponse) string {
	if m.SeverityUnlocalized != "" {
		return m.SeverityUnlocalized
	}
	return m.Severity
}

// ready handles ReadyForQuery: it ends a simple query or a Sync.
func (r *replies) ready(m *pgproto3.ReadyForQuery) {
	for {
		p := r.head()
		if p == nil {
			r.mismatch("ReadyForQuery with nothing pending")
			return
		}
		r.pop()
		switch p.kind {
		case 'Q', 'F':
			// A simple Query destroys the unnamed statement and portal
			// (protocol §55.2.3).
			delete(r.names.statements, "")
			delete(r.names.portals, "")
			r.finish(p, queryOutcome(p))
		case 'S':
		default:
			r.mismatch(fmt.Sprintf("ReadyForQuery while %c is pending", p.kind))
			r.abandoned(p)
			continue
		}
		if m.TxStatus == 'I' {
			r.names.idle()
		}
		return
	}
}

func queryOutcome(p *pending) Outcome {
	switch {
	case p.refusal != "":
		return OutcomeDenied
	case p.ev.SQLState != "":
		return OutcomeError
	}
	return OutcomeOK
}

// failed reports a message the database answered with an error.
func (r *replies) failed(p *pending) {
	// A failed Parse or Bind into the unnamed statement or portal has
	// already destroyed the previous one.
	if p.kind == 'P' && p.name == "" {
		delete(r.names.statements, "")
	}
	if p.kind == 'B' && p.name == "" {
		delete(r.names.portals, "")
	}
	if p.ev == nil {
		return
	}
	if p.refusal != "" {
		r.finish(p, OutcomeDenied)
	} else {
		r.finish(p, OutcomeError)
	}
}

// skipped reports a message the database discarded unanswered.
func (r *replies) skipped(p *pending) {
	switch {
	case p.ev == nil:
	case p.refusal != "":
		r.finish(p, OutcomeDenied)
	case p.kind == 'E' && p.ev.SQLState != "":
		r.finish(p, OutcomeError) // its portal's description failed
	case p.kind == 'E' && r.skippedRun != nil:
		r.skippedMore++
	case p.kind == 'E':
		r.skippedRun = p
	case p.kind == 'Q' || p.kind == 'F':
		r.finish(p, OutcomeSkipped)
	}
}

// reportSkipped reports the run of skipped Executes that discarding
// produced, as its first one and a count.
func (r *replies) reportSkipped() {
	if p := r.skippedRun; p != nil {
		p.ev.SkippedAlso = r.skippedMore
		r.finish(p, OutcomeSkipped)
	}
	r.skippedRun, r.skippedMore = nil, 0
}

// abandoned reports a message whose answer never came.
func (r *replies) abandoned(p *pending) {
	switch {
	case p.ev == nil:
	case p.refusal != "":
		r.finish(p, OutcomeDenied)
	case p.kind != 'P':
		r.finish(p, OutcomeUnfinished)
	}
}

// abandon reports everything still pending when the session ends. Only
// after the upstream-side copier has stopped.
func (r *replies) abandon() {
	r.reportSkipped()
	for p := r.front(); p != nil; p = r.front() {
		r.pop()
		r.abandoned(p)
	}
}

// finish tells Observe about p's statement.
func (r *replies) finish(p *pending, o Outcome) {
	ev := p.ev
	if p.kind == 'E' {
		// The portal as the database holds it now, everything before this
		// Execute having been answered.
		if pt := r.names.portals[p.name]; pt != nil {
			ev.StatementName, ev.ParamCount, ev.Parameters = pt.stmtName, pt.params, pt.values
			if pt.rewrite != nil {
				ev.Rewritten = pt.rewrite.Notes
			}
			if pt.stmt != nil {
				ev.SQL, ev.Detail = pt.stmt.sql, pt.stmt.detail
			}
		}
	}
	ev.Outcome = o
	ev.Duration = r.now().Sub(ev.Start)
	r.observe(*ev)
}

// dataRowSize is a DataRow's size on the wire: type, length, column
// count, and each value with its length.
func dataRowSize(m *pgproto3.DataRow) int64 {
	n := int64(1 + 4 + 2)
	for _, v := range m.Values {
		n += 4 + int64(len(v))
	}
	return n
}

// describedPortal keeps what Results says of a portal's rows, from the
// reply to gatehouse's own Describe.
func (r *replies) describedPortal(name string, msg pgproto3.BackendMessage) {
	if r.results == nil {
		return // gatehouse asks only under Results
	}
	pt := r.names.portals[name]
	if pt == nil {
		// A portal the server has and gatehouse did not see made (a
		// cursor a function opened): described, with no source.
		pt = &portal{stmt: &prepared{untrusted: true}, inTxn: true}
		r.names.portals[name] = pt
	}
	res := Result{Detail: r.names.rowsSource(pt.stmt.effect(), pt.stmt.source())}
	if rd, ok := msg.(*pgproto3.RowDescription); ok {
		res.Fields = rd.Fields
	}
	pt.rewrite, pt.described, pt.width = r.results(res), true, len(res.Fields)
}

// resultRewrite asks Results about the result of the simple query p's
// current statement; the rewrite's notes go into the statement's record.
// A FETCH's or EXECUTE's rows are described by the query the server holds
// under the name it uses.
func (r *replies) resultRewrite(fields []pgproto3.FieldDescription, p *pending) *RowRewrite {
	if r.results == nil {
		return nil
	}
	ev := p.ev
	res := Result{Fields: fields, Statement: p.results}
	if ev != nil {
		res.Detail = ev.Detail
	}
	if e := r.statementEffect(p); e.Op == FetchCursor || e.Op == ExecuteStatement {
		res.Detail, res.Statement = r.names.rowsSource(e, nil), 0
	}
	rw := r.results(res)
	if ev != nil && rw != nil {
		ev.Rewritten = append(ev.Rewritten, rw.Notes...)
	}
	return rw
}

// rewriteRow applies the rewrite of the result at the head to a row.
// Without Results rows pass as they are; with it, rows gatehouse cannot
// place — of an Execute whose portal it did not see described, of a Query
// before the RowDescription of their result, with no Query or Execute
// pending, or with more or fewer values than the description has fields —
// are all NULL (fail closed).
func (r *replies) rewriteRow(p *pending, m *pgproto3.DataRow) pgproto3.BackendMessage {
	if r.results == nil {
		return m
	}
	var rw *RowRewrite
	width := -1
	switch {
	case p == nil || (p.kind != 'Q' && p.kind != 'E'):
	case p.kind == 'Q' && r.described:
		rw, width = r.current, r.width
	case p.kind == 'E':
		if pt := r.names.portals[p.name]; pt != nil && pt.described {
			rw, width = pt.rewrite, pt.width
		}
	}
	switch {
	case len(m.Values) != width: // not placed, or not as described
		return r.rows.allNull(m)
	case !rw.active():
		return m
	}
	return r.rows.rewrite(rw, m)
}

// copyStarts asks Results how the rows of a COPY TO are to be rewritten.
func (r *replies) copyStarts(m *pgproto3.CopyOutResponse) {
	if r.results == nil {
		return
	}
	p := r.head()
	res := Result{Copy: true, Columns: len(m.ColumnFormatCodes)}
	switch {
	case p == nil:
	case p.kind == 'Q':
		res.Statement = p.results
		if p.ev != nil {
			res.Detail = p.ev.Detail
		}
	case p.kind == 'E':
		if pt := r.names.portals[p.name]; pt != nil {
			res.Detail = pt.stmt.source()
		}
	}
	r.current = r.results(res)
	if rw := r.current; rw != nil && p != nil && p.ev != nil {
		p.ev.Rewritten = append(p.ev.Rewritten, rw.Notes...)
	}
}
