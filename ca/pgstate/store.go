// Package pgstate keeps the CA's state in PostgreSQL (state.store:
// postgres), so that gatehouse replicas agree on it: access requests and
// their decisions, the certificates issued, and the revocation list, which
// reaches every replica through LISTEN/NOTIFY within a second (ca/state.go
// declares what the CA needs of it; the data_dir files are the other
// implementation).
//
// The schema is versioned migrations embedded in the binary
// (migrations/*.sql), applied by goose under a PostgreSQL advisory lock,
// so replicas starting together migrate once.
//
// Every error of a database that cannot be reached wraps
// ca.ErrStateUnavailable, which the CA turns into a refusal that names the
// cause and the fix.
package pgstate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-dev/gatehouse/ca"
)

// DefaultTimeout bounds each of the store's operations when Store.Timeout
// is 0: a database that does not answer refuses issuance after it, rather
// than holding the client.
const DefaultTimeout = 5 * time.Second

// Store is the CA's state in one PostgreSQL database. It is safe for
// concurrent use; Close it when done.
type Store struct {
	pool *pgxpool.Pool
	// Timeout bounds each operation; 0 means DefaultTimeout.
	Timeout time.Duration
	// OnError, if not nil, is called with each failed operation (op is a
	// short fixed name: "requests", "issued", "revocations", "watch",
	// "ping", "migrate") and its error, on the goroutine of the
	// operation; it must not block. A request found decided already
	// (ca.ErrDecided) is an answer, not a failure. Set it before the
	// store is used concurrently.
	OnError func(op string, err error)
}

// Open connects to the database of dsn (a libpq connection string or
// postgres:// URL), applies the schema's migrations under a lock, and
// returns the store.
func Open(ctx context.Context, dsn string) (*Store, error) {
	s, err := Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Connect connects to the database of dsn without migrating it (Open
// does both).
func Connect(ctx context.Context, dsn string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: say only where it failed.
		return nil, errors.New("pgstate: the state DSN does not parse as a PostgreSQL connection string or URL")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstate: connect: %w", err)
	}
	return &Store{pool: pool}, nil
}

// Close closes the store's connections.
func (s *Store) Close() { s.pool.Close() }

// Requests is the store's ca.AccessRequests.
func (s *Store) Requests() *Requests { return &Requests{s: s} }

// Issued is the store's record of issued certificates (ca.IssuedLog and
// ca.IssuedRecord).
func (s *Store) Issued() *Issued { return &Issued{s: s} }

// Revocations is the store's revocation list (ca.RevocationWriter, and
// the watcher that feeds a ca.RevocationList).
func (s *Store) Revocations() *Revocations { return &Revocations{s: s, Poll: DefaultPoll} }

// op is the context of one operation: bounded by Timeout.
func (s *Store) op() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.timeout())
}

func (s *Store) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultTimeout
	}
	return s.Timeout
}

// inTx runs fn in a transaction, and commits only if fn and then commit
// (the CA's recording of the step, which may be nil) succeed. commit runs
// while the transaction still holds its row locks, so that the step is
// recorded before any other replica can see it or act on it; its error is
// returned as it is.
func (s *Store) inTx(op, what string, fn func(context.Context, pgx.Tx) error, commit func() error) error {
	ctx, cancel := s.op()
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.dbError(op, what, err)
	}
	defer tx.Rollback(context.Background())
	if err := fn(ctx, tx); err != nil {
		return s.dbError(op, what, err)
	}
	if commit != nil {
		if err := commit(); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return s.dbError(op, what, err)
	}
	return nil
}

// Ping reports whether the database answers within the store's Timeout
// (or ctx's deadline, if sooner): /readyz's "state" check. Its error
// wraps ca.ErrStateUnavailable when the database cannot be reached.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return s.dbError("ping", "ping", err)
	}
	return nil
}

// dbError is dbError, reported to OnError as a failure of op.
func (s *Store) dbError(op, what string, err error) error {
	return s.failed(op, dbError(what, err))
}

// failed reports err to OnError unless it is nil or an answer
// (ca.ErrDecided), and returns it.
func (s *Store) failed(op string, err error) error {
	if err != nil && s.OnError != nil && !errors.Is(err, ca.ErrDecided) {
		s.OnError(op, err)
	}
	return err
}

// dbError wraps err with what was being done, and with
// ca.ErrStateUnavailable unless the database answered with an error of
// the statement itself (a constraint, a type): the server is then
// reachable and the fault is not an outage. Errors already classified
// (ca.ErrDecided, ca.ErrStateUnavailable) pass through.
func dbError(what string, err error) error {
	if errors.Is(err, ca.ErrDecided) || errors.Is(err, ca.ErrStateUnavailable) {
		return err
	}
	if errors.Is(err, errStored) {
		return fmt.Errorf("pgstate: %s: %w", what, err)
	}
	// A refused connection is an outage whatever the server said (a
	// database not accepting connections answers SQLSTATE 55000).
	var connErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	if !errors.As(err, &connErr) && errors.As(err, &pgErr) && !outage(pgErr.Code) {
		return fmt.Errorf("pgstate: %s: %w", what, err)
	}
	return fmt.Errorf("pgstate: %s: %w: %w", what, ca.ErrStateUnavailable, err)
}

// errStored is wrapped by the errors of rows that do not decode: the
// database answered, with something gatehouse did not write.
var errStored = errors.New("a stored row does not decode")

// outage reports whether a SQLSTATE says the server is going away or
// refuses work (PostgreSQL Appendix A: class 08 connection exception, 53
// insufficient resources, 57 operator intervention, 58 system error).
func outage(code string) bool {
	if len(code) < 2 {
		return true
	}
	switch code[:2] {
	case "08", "53", "57", "58":
		return true
	}
	return false
}
