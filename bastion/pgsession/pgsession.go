// Package pgsession is gatehouse's PostgreSQL session adapter: it turns
// the policy into bastion/pgwire's hooks for one session through an SSH
// channel. It checks the startup's role against the certificate's grants,
// connects with the role's own (or leased) credentials, judges every
// statement by the statement policy, masks results, counts sessions under
// the targets' limits, matches cancel requests, and records each decision
// and statement.
//
// Its caller, the SSH server, owns the connection: it gives each channel
// a Conn (where events are recorded, and how the connection is failed
// closed), the connection's recording Stream and the facts the
// certificate proved (Channel), and creates one Proxy per process with
// New.
package pgsession

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/masking"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// Config is what a Proxy needs. Policy is required; the rest have
// defaults.
type Config struct {
	// Policy names the targets, roles, statement and masking policies,
	// and the recording's durability rules.
	Policy *policy.Config
	// Credentials leases the credentials of roles whose credentials.vault
	// names a path (credentials.go). If nil, such roles are refused.
	Credentials CredentialSource
	// Masker masks the columns of roles with a masking policy (its hash
	// mask is keyed). If nil, sessions of such roles are refused.
	Masker *masking.Masker
	// Classifier parses statements. If nil, sqlclass.NewClassifier(0).
	Classifier *sqlclass.Classifier
	// HandshakeTimeout bounds a client's startup (pgwire.Config's).
	HandshakeTimeout time.Duration
	// Clock is used for statement durations and the catalog's age. If
	// nil, time.Now is used.
	Clock func() time.Time
	// Statement, if set, is told of every statement's outcome as it is
	// recorded (db.statement): the decision ("allow", "deny") and how
	// long it took. It runs on the relay's path and must not block
	// (metrics).
	Statement func(decision string, took time.Duration)
}

// Proxy serves the PostgreSQL sessions of every SSH connection: it owns
// what they share, which lives as long as the process.
type Proxy struct {
	cfg        Config
	classifier *sqlclass.Classifier
	// cancels maps the cancel keys pgwire gives clients to their upstream
	// sessions; shared by all channels, since a CancelRequest arrives on a
	// new one.
	cancels    pgwire.CancelRegistry
	catalogs   catalogCache // what masking knows of each database
	dbSessions dbSessions   // open database sessions, for the targets' limits
	lineages   lineagePool  // lineage connections shared by masked sessions
	serving    sync.WaitGroup
}

// New checks cfg and prepares a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Policy == nil {
		return nil, errors.New("pgsession: config: Policy is required")
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	p := &Proxy{cfg: cfg, classifier: cfg.Classifier}
	if p.classifier == nil {
		p.classifier = sqlclass.NewClassifier(0)
	}
	return p, nil
}

// Wait returns once every session Serve was given has ended, and with it
// what the session held: its database connections, its lease, its share
// of a lineage connection. The SSH server calls it as it stops.
func (p *Proxy) Wait() { p.serving.Wait() }

// Conn is the SSH connection a channel came on, as a session uses it.
// A failed recording fails the connection: gatehouse lets nothing happen
// that it cannot record.
type Conn interface {
	// Record appends an event to the connection's recording and logs it.
	// When that fails the connection is closed and the error returned;
	// the caller refuses the action the event describes.
	Record(typ event.Type, data any) error
	// RecordOutcome is Record for what has already happened and whose
	// decision was durable before it went ahead (db.statement): it does
	// not wait for the event to be durable, and logs it at level.
	RecordOutcome(typ event.Type, data any, level slog.Level) error
	// Fail closes the connection with cause, which its end records.
	Fail(cause error)
}

// Stream is the connection's recording, for the decisions a statement
// waits on (*recorder.Stream).
type Stream interface {
	// Ready says why the recorder cannot take on more, or nil.
	Ready() error
	// Emit appends an event, durable when it returns.
	Emit(typ event.Type, data any) error
	// EmitHeld appends an event; wait returns once it, and every event
	// written before wait was called, is durable.
	EmitHeld(typ event.Type, data any) (wait func() error, err error)
	// EmitWithin appends an event, durable within window.
	EmitWithin(typ event.Type, data any, window time.Duration) error
}

// Channel is one channel to a postgres target and what the connection's
// certificate proved.
type Channel struct {
	Conn    Conn
	Stream  Stream
	Session string // the recording's ID, which other sessions' cancel records name
	Logger  *slog.Logger
	ID      int // the channel's number in its connection

	Target   string
	Spec     *policy.Target
	Roles    []string // the certificate's roles on Target
	Identity policy.Identity
	Cert     *gossh.Certificate // counted under the target's limits
}
