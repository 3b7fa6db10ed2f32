package pgwire

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Defaults for the zero values of Config's limits.
const (
	// DefaultMaxMessageSize bounds a message body from the client. It is
	// far above what SQL text and bind parameters normally need and keeps a
	// client from making gatehouse buffer PostgreSQL's own 1 GiB limit.
	DefaultMaxMessageSize = 16 << 20
	// DefaultMaxUpstreamMessageSize bounds a message body from the
	// database: a single result row (DataRow) or COPY chunk.
	DefaultMaxUpstreamMessageSize = 64 << 20
	// DefaultHandshakeTimeout bounds the client's start-up packets, and
	// separately Authorize plus the upstream connection.
	DefaultHandshakeTimeout = 30 * time.Second
	// DefaultMaxPending bounds the client messages forwarded and not yet
	// answered. After an error the database discards everything up to
	// Sync without a word, so nothing else stops a client that sends
	// without Sync from making gatehouse remember messages without end;
	// a client that reads its answers never comes near it.
	DefaultMaxPending = 1 << 18
)

// Config is how one client connection is served. The bastion builds one per
// tunnel connection, so its hooks can close over who is on the other end.
type Config struct {
	// Authorize maps the client's start-up (user, database, the parameters
	// that passed the allowlist) to the upstream connection. Required.
	//
	// A returned error ends the session with a FATAL ErrorResponse. Only the
	// Message of an *Error reaches the client (with its Code, or 28000);
	// any other error is logged and the client sees a generic refusal.
	Authorize func(ctx context.Context, s Startup) (*Upstream, error)

	// Inspect decides one SQL string — a simple Query, or a Parse's query —
	// before anything of it is forwarded. It returns one verdict for the
	// whole string (which may hold several statements). A denied string
	// never reaches the database; the client gets SQLSTATE 42501 with
	// Verdict.Message. Required. It is called after Authorize succeeded,
	// from one goroutine at a time, and ctx ends with the session.
	Inspect func(ctx context.Context, q Query) Verdict

	// Bind, when set, decides each Bind before it is forwarded, given the
	// name of the prepared statement it binds, as the client wrote it. A
	// denied Bind never reaches the database as sent: the client gets
	// SQLSTATE 42501 with Verdict.Message in its place, the database skips
	// to Sync as after any failed message, and Observe is told of it. It
	// is called from Inspect's goroutine and may block; ask is as
	// Query.Ask. Nil: every Bind is forwarded.
	Bind func(ctx context.Context, statement string, ask AskFunc) Verdict

	// Observe is told the outcome of each statement: each simple Query
	// string, each Execute, and each Parse that was denied or failed. It is
	// called in the order the database answered, from one goroutine at a
	// time — mostly the one relaying the database's replies, so it must not
	// block. Nil: nothing.
	Observe func(StatementEvent)

	// OnStart is called once the upstream connection is up, before the
	// client is told it is authenticated. A non-nil error ends the session
	// (FATAL, as for Authorize): the bastion refuses sessions it cannot
	// record. Nil: nothing.
	OnStart func(SessionInfo) error

	// OnEnd is called once when a started session ends: one that got as far
	// as OnStart (which returned nil) and the relay. Nil: nothing.
	OnEnd func(SessionEnd)

	// StartupParameters lists the start-up parameters a client may send
	// (case-insensitive) besides user and database; any other parameter is
	// refused with a FATAL that names it. Nil means
	// DefaultStartupParameters. client_encoding and
	// standard_conforming_strings are further limited to values that keep
	// gatehouse's parser and the server's in agreement, whatever this says.
	StartupParameters []string

	// MaxMessageSize is the largest message body accepted from the client,
	// in bytes; a larger one ends the session with a FATAL error.
	// Zero means DefaultMaxMessageSize.
	MaxMessageSize int

	// MaxUpstreamMessageSize is the largest message body accepted from the
	// database; a larger one (say, a huge row) ends the session with a
	// FATAL error. Zero means DefaultMaxUpstreamMessageSize.
	MaxUpstreamMessageSize int

	// MaxPending is how many forwarded client messages may await the
	// database's answer; one more ends the session with a FATAL error
	// (54000). Zero means DefaultMaxPending.
	MaxPending int

	// HandshakeTimeout bounds reading the client's start-up packets, and
	// separately Authorize plus connecting upstream. Zero means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration

	// Cancels maps the cancel keys given to clients to their upstream
	// sessions. Share one registry among all sessions of a bastion, since a
	// CancelRequest arrives on a new connection. Nil: CancelRequests are
	// ignored (the connection is closed), as PostgreSQL does for unknown keys.
	Cancels *CancelRegistry

	// CancelTarget is kept with this session's cancel key in Cancels and
	// handed, as CancelAttempt.Target, to the OnCancel of the connection
	// whose CancelRequest names the key: it says who is being cancelled.
	// pgwire never looks inside it.
	CancelTarget any

	// OnCancel, if set, runs when the connection carries a CancelRequest
	// instead of a start-up, on Serve's goroutine, before the request is
	// forwarded (whether its key matched a session or not, so that a probe
	// of keys is seen too). It may block. An error keeps the request from
	// being forwarded; Serve returns it.
	OnCancel func(CancelAttempt) error

	// Logger receives operational messages. Nil: nothing is logged.
	Logger *slog.Logger

	// Now is the clock for statement timings. Nil means time.Now.
	Now func() time.Time
}

// Startup is what the client asked for in its StartupMessage.
type Startup struct {
	User     string
	Database string // the user name when the client did not name one
	// Params are the client's other start-up parameters, all allowed ones,
	// by lower-case name (PostgreSQL's names ignore case: "Search_Path" is
	// "search_path" here). Serve passes them upstream as run-time
	// parameters (under Upstream.RuntimeParams, which win).
	Params map[string]string
	// ProtocolMinor is the minor protocol version the client asked for
	// (libpq 18 may ask for 2). The session always runs 3.0.
	ProtocolMinor int
	// ProtocolOptions are the "_pq_." options the client asked for; none is
	// supported, and the client is told so.
	ProtocolOptions []string
}

// Upstream is how to reach the database for one session.
type Upstream struct {
	// Config is built with pgconn.ParseConfig: host, port, user, password,
	// database, TLS. Serve works on a copy; the protocol is held to 3.0.
	Config *pgconn.Config
	// RuntimeParams are added to the copy's RuntimeParams, over the
	// client's, e.g. default_transaction_read_only=on, statement_timeout.
	RuntimeParams map[string]string
	// RecordParameters puts the values of bind parameters into
	// StatementEvent.Parameters; otherwise only their count is kept.
	RecordParameters bool
	// Results, when set, is asked how each result's rows are to be
	// rewritten before they reach the client (masking), once per result:
	// at a simple query's RowDescription, for the extended protocol at the
	// portal's description, which gatehouse asks the database for before
	// each Execute (the client may never Describe), and at the start of a
	// COPY TO's data (Result.Copy). It runs on the relay path: it must not
	// block. While it is set, rows gatehouse cannot place (a portal it did
	// not see bound, nothing pending) reach the client with every value
	// NULL, and the database's errors and notices keep none of their text
	// (see redactError).
	Results func(Result) *RowRewrite
}

// Query is one SQL string to decide.
type Query struct {
	SQL           string
	Extended      bool   // from a Parse message rather than a simple Query
	StatementName string // the Parse's statement name; "" is the unnamed statement
	// ParamCount is how many parameter types the Parse declared; the SQL
	// may use more ($n) than were declared.
	ParamCount int
	// Ask runs SQL of gatehouse's own on the client's upstream session, as
	// the client's earlier messages left it, and returns its rows as text
	// and the transaction status after it ('I', 'T' or 'E'). Nothing of it
	// reaches the client. It works only between the client's statements,
	// when everything forwarded before has been answered; otherwise
	// (a pipeline) it returns ErrNotIdle. The SQL runs inside the client's
	// transaction if one is open, so it must not fail or change anything.
	// Valid only during the Inspect or Bind call it was given to.
	Ask AskFunc
}

// AskFunc runs SQL of gatehouse's own on the client's upstream session
// (see Query.Ask).
type AskFunc func(ctx context.Context, sql string) (rows [][]string, txStatus byte, err error)

// Verdict is Inspect's decision on one SQL string.
type Verdict struct {
	Allow bool
	// Message is shown to the client when the string is denied, e.g.
	// `gatehouse: delete not allowed by statement policy "readonly"`.
	// Empty means "gatehouse: statement not allowed by policy".
	Message string
	// Code is the SQLSTATE of a denial; empty means 42501
	// (insufficient_privilege). Position, when not 0, is where in the SQL
	// string the denial points, in characters from 1 (ErrorResponse
	// field P): a string that does not parse is answered as PostgreSQL
	// would answer it, 42601 at the parser's position.
	Code     string
	Position int
	// Detail is opaque to pgwire and handed back in StatementEvent, for
	// recording (kinds, relations, the deciding rule).
	Detail any
	// Names says, for each statement of the string in order, what it
	// does to the session's cursors and prepared statements (see
	// NameOp). pgwire applies each once the database has run the
	// statement, and describes the rows of a FETCH, an EXECUTE or an
	// Execute of a portal by what the server holds under the name. Nil:
	// no statement touches them; a string that may touch names out of
	// sight must say NamesUnknown.
	Names []NameEffect
	// Hold, when set on an allowed string, lets it reach the database
	// before its record is durable: nothing the database sends from then
	// on reaches the client until Hold has returned nil. An error ends
	// the session without sending what was held. It is called once the
	// string has gone to the database, on Inspect's goroutine (so that it
	// overlaps the database's work), and again before the first reply is
	// released, on another: every call must return the first's result.
	Hold func() error
}

// SessionInfo describes an established session, for OnStart.
type SessionInfo struct {
	Startup          Startup
	UpstreamUser     string
	UpstreamDatabase string
	UpstreamAddr     string // the address the upstream connection reached
	UpstreamPID      uint32 // the upstream backend's process id (pg_stat_activity.pid)
	ServerVersion    string // the upstream's server_version
	TLS              bool   // whether the upstream connection uses TLS
	TLSVersion       string // e.g. "TLS 1.3"; empty without TLS
	ProtocolVersion  string // the version spoken on both sides: "3.0"
}

// SessionEnd says why a session ended, for OnEnd.
type SessionEnd struct {
	// Reason is short and stable: "client terminated", "client
	// disconnected", "upstream lost", "protocol violation", "session ended".
	Reason string
	// Err is the cause, for logs; nil when the client terminated.
	Err error
}

func (c *Config) check() error {
	var errs []error
	if c.Authorize == nil {
		errs = append(errs, errors.New("Config.Authorize is nil"))
	}
	if c.Inspect == nil {
		errs = append(errs, errors.New("Config.Inspect is nil"))
	}
	if c.MaxMessageSize < 0 || c.MaxUpstreamMessageSize < 0 || c.HandshakeTimeout < 0 || c.MaxPending < 0 {
		errs = append(errs, errors.New("Config limits must not be negative"))
	}
	return errors.Join(errs...)
}

func (c *Config) maxMessageSize() int {
	if c.MaxMessageSize == 0 {
		return DefaultMaxMessageSize
	}
	return c.MaxMessageSize
}

func (c *Config) maxUpstreamMessageSize() int {
	if c.MaxUpstreamMessageSize == 0 {
		return DefaultMaxUpstreamMessageSize
	}
	return c.MaxUpstreamMessageSize
}

func (c *Config) maxPending() int {
	if c.MaxPending == 0 {
		return DefaultMaxPending
	}
	return c.MaxPending
}

func (c *Config) handshakeTimeout() time.Duration {
	if c.HandshakeTimeout == 0 {
		return DefaultHandshakeTimeout
	}
	return c.HandshakeTimeout
}

func (c *Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
