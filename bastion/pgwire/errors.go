package pgwire

import (
	"errors"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes gatehouse sends itself (PostgreSQL Appendix A).
const (
	codeInsufficientPrivilege = "42501" // a statement or start-up parameter refused by policy
	codeInvalidAuthorization  = "28000" // Authorize refused the session
	codeProtocolViolation     = "08P01"
	codeFeatureNotSupported   = "0A000"
	codeConnectionFailure     = "08006" // the upstream connection was lost
	codeUnableToConnect       = "08001" // the upstream connection could not be made
	codeAdminShutdown         = "57P01" // the bastion ended the session
	codeProgramLimitExceeded  = "54000" // a message over the size limit
	codeInternalError         = "XX000"
)

// Error is an error meant for the database client: Message is shown to it
// as is, in a FATAL ErrorResponse with SQLSTATE Code. Err is the cause, for
// logs and OnEnd, and is never shown to the client.
//
// The bastion returns an *Error from Authorize or OnStart, or cancels the
// session's context with one as the cause, to choose what the client reads.
type Error struct {
	Code    string // SQLSTATE; empty means the default of where it is used
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Message
	}
	return e.Message + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// clientError returns the *Error in err's chain, or a generic one with code
// and message when there is none (or it has no message).
func clientError(err error, code, message string) *Error {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		c := *e
		if c.Code == "" {
			c.Code = code
		}
		return &c
	}
	return &Error{Code: code, Message: message, Err: err}
}

// fatal is the ErrorResponse that ends a session (protocol §55.8, fields S,
// V, C, M).
func fatal(e *Error) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            "FATAL",
		SeverityUnlocalized: "FATAL",
		Code:                e.Code,
		Message:             e.Message,
	}
}

// refusal is the ErrorResponse a client gets for a denied statement, in
// place of the database's: SQLSTATE code ("" is 42501) and the
// position in the statement it points at (0: none).
func refusal(message, code string, position int32) *pgproto3.ErrorResponse {
	if message == "" {
		message = "gatehouse: statement not allowed by policy"
	}
	if code == "" {
		code = codeInsufficientPrivilege
	}
	return &pgproto3.ErrorResponse{
		Severity:            "ERROR",
		SeverityUnlocalized: "ERROR",
		Code:                code,
		Message:             message,
		Position:            position,
	}
}

// scrub removes every occurrence of secret from s. Messages about the
// upstream connection pass through it, so that not even a server that
// echoes what it was sent can show the client the password.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "********")
}

// redactError is what the client of a masked session gets for an error or
// notice of the database: only what cannot carry a value of the data.
// PostgreSQL writes values into its texts in many ways — quoted
// ("invalid input syntax for type integer: \"...\""), bare ("requested
// character too large for encoding: 100000007", a WARNING naming the pid
// pg_cancel_backend was given), in Detail ("Key (email)=(...)"), Where
// and the internal query — so no free text is kept: the message is the
// condition the SQLSTATE names, and the rest is dropped. What stays:
// the severity (one of PostgreSQL's own words), a SQLSTATE PostgreSQL
// defines (another is reported as its class, since a PL/pgSQL RAISE can
// choose any five characters) and the cursor position, a number about the
// statement's text, which the client wrote.
func redactError(m *pgproto3.ErrorResponse) *pgproto3.ErrorResponse {
	code := knownSQLState(m.Code)
	sev := knownSeverity(m)
	return &pgproto3.ErrorResponse{
		Severity:            sev,
		SeverityUnlocalized: sev,
		Code:                code,
		Message:             sqlstateNames[code] + redactedNote,
		Position:            m.Position,
	}
}

// redactedNote follows every message redactError writes, so that the
// client knows the text is gatehouse's, not the database's.
const redactedNote = " (the database's message is withheld by gatehouse: masking applies to this session)"

// knownSQLState returns code if PostgreSQL defines it, else its class's
// code if that is defined, else XX000.
func knownSQLState(code string) string {
	if _, ok := sqlstateNames[code]; ok {
		return code
	}
	if len(code) == 5 {
		if class := code[:2] + "000"; sqlstateNames[class] != "" {
			return class
		}
	}
	return codeInternalError
}

// severities are the words PostgreSQL uses for field S/V (protocol
// §55.8): ERROR, FATAL, PANIC in an ErrorResponse, the rest in a
// NoticeResponse.
var severities = []string{"ERROR", "FATAL", "PANIC", "WARNING", "NOTICE", "DEBUG", "INFO", "LOG"}

// knownSeverity is the message's unlocalized severity when it is one of
// severities, else ERROR: clients branch on it (FATAL ends the session).
func knownSeverity(m *pgproto3.ErrorResponse) string {
	if sev := severity(m); slices.Contains(severities, sev) {
		return sev
	}
	return "ERROR"
}
