package pgwire

import "time"

// Outcome is how a statement ended.
type Outcome string

const (
	OutcomeOK        Outcome = "ok"        // completed (CommandComplete or an empty query)
	OutcomeSuspended Outcome = "suspended" // Execute stopped at its row limit (PortalSuspended)
	OutcomeError     Outcome = "error"     // the database answered with an error; see SQLState
	OutcomeDenied    Outcome = "denied"    // Inspect refused it; the database never saw it
	// OutcomeSkipped: the database discarded it unrun, because an earlier
	// message of the same pipeline failed (PostgreSQL skips to Sync).
	OutcomeSkipped Outcome = "skipped"
	// OutcomeUnfinished: the session ended before the database answered.
	OutcomeUnfinished Outcome = "unfinished"
)

// StatementEvent is the outcome of one statement, for Observe: one simple
// Query string (which may hold several statements), one Execute of a
// portal, or a Parse that was denied or failed.
type StatementEvent struct {
	SQL      string // empty for an Execute of a portal gatehouse did not see bound (a cursor from DECLARE)
	Extended bool
	// StatementName and Portal name the prepared statement and portal of an
	// extended-protocol statement ("" is the unnamed one).
	StatementName string
	Portal        string
	ParamCount    int // bind parameters of an Execute's portal
	// Parameters are their values, only when Upstream.RecordParameters
	// asked for them.
	Parameters []Parameter

	Outcome Outcome
	// SkippedAlso, for OutcomeSkipped: how many more Executes the database
	// discarded in the same pipeline after it, which are not reported one
	// by one (a client must not make the record grow by an event for
	// every few bytes it sends).
	SkippedAlso int64
	Detail      any // Verdict.Detail from Inspect

	Start    time.Time     // when gatehouse received the Query, Parse or Execute
	Duration time.Duration // from Start until the database's answer was complete
	// Rows is from the CommandComplete tags (summed over a multi-statement
	// string); for a suspended portal, the rows sent so far.
	Rows int64
	Tag  string // the last CommandComplete tag, e.g. "DELETE 3"
	// Bytes counts the result rows and COPY data sent to the client
	// (DataRow and CopyData messages, framing included).
	Bytes    int64
	SQLState string // of the first error the client was sent; "42501" for a denial
	// Rewritten are the notes of the row rewrites applied to the
	// statement's results (Upstream.Results), e.g. the columns masked.
	Rewritten []string
}

// Parameter is one bind parameter's value as the client sent it.
type Parameter struct {
	Value  []byte // nil for SQL NULL
	Binary bool   // in the type's binary format rather than text
}
