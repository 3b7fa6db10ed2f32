package pgstate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-dev/gatehouse/ca"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// Requests is the access requests of a Store: ca.AccessRequests shared by
// every replica.
type Requests struct{ s *Store }

var _ ca.AccessRequests = (*Requests)(nil)

// Get returns the request with id.
func (q *Requests) Get(id string) (ca.AccessRequest, bool, error) {
	ctx, cancel := q.s.op()
	defer cancel()
	rs, err := queryRequests(ctx, q.s, `SELECT request FROM gatehouse_access_requests WHERE id = $1`, id)
	if err != nil || len(rs) == 0 {
		return ca.AccessRequest{}, false, err
	}
	return rs[0], true, nil
}

// All returns every request kept, oldest first.
func (q *Requests) All() ([]ca.AccessRequest, error) {
	ctx, cancel := q.s.op()
	defer cancel()
	return queryRequests(ctx, q.s, `SELECT request FROM gatehouse_access_requests ORDER BY filed_at, id`)
}

// Approved returns requester's approvals lasting past now, newest first.
func (q *Requests) Approved(requester policy.Identity, now time.Time) ([]ca.AccessRequest, error) {
	ctx, cancel := q.s.op()
	defer cancel()
	return queryRequests(ctx, q.s, `SELECT request FROM gatehouse_access_requests
		WHERE state = 'approved' AND subject = $1 AND issuer = $2 AND expires_at > $3
		ORDER BY decided_at DESC, id`, requester.Subject, requester.Issuer, now)
}

// Add keeps the pending request r, and drops those decided and done with
// for longer than ca.RequestHistory, in one transaction that commits only
// once commit has recorded the step.
func (q *Requests) Add(r ca.AccessRequest, now time.Time, commit func() error) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("pgstate: encode access request %s: %w", r.ID, err)
	}
	return q.s.inTx("requests", "file access request "+r.ID, func(ctx context.Context, tx pgx.Tx) error {
		cutoff := now.Add(-ca.RequestHistory)
		if _, err := tx.Exec(ctx, `DELETE FROM gatehouse_access_requests
			WHERE (state = 'approved' AND expires_at < $1) OR (state = 'denied' AND decided_at < $1)`, cutoff); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO gatehouse_access_requests (id, state, subject, issuer, filed_at, request)
			VALUES ($1, $2, $3, $4, $5, $6)`, r.ID, r.State, r.Requester.Subject, r.Requester.Issuer, r.FiledAt, doc)
		return err
	}, commit)
}

// Decide replaces the pending request r.ID with r. The UPDATE's WHERE
// state = 'pending' is the decision: a second Decide of the request, on
// any replica, waits on the first one's row lock, then finds the row no
// longer pending (PostgreSQL re-checks the condition on the committed
// row, READ COMMITTED §13.2.1) and fails with ca.ErrDecided; if the first
// one rolls back, the second decides.
func (q *Requests) Decide(r ca.AccessRequest, commit func() error) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("pgstate: encode access request %s: %w", r.ID, err)
	}
	return q.s.inTx("requests", "decide access request "+r.ID, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE gatehouse_access_requests
			SET state = $2, decided_at = $3, expires_at = $4, request = $5
			WHERE id = $1 AND state = 'pending'`, r.ID, r.State, r.DecidedAt, nullTime(r.ExpiresAt), doc)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("pgstate: decide %s: %w", r.ID, ca.ErrDecided)
		}
		return nil
	}, commit)
}

// Import keeps r as it is unless a request with its id is already
// kept, and reports whether it was added (`gatehouse state import`).
func (q *Requests) Import(r ca.AccessRequest) (bool, error) {
	doc, err := json.Marshal(r)
	if err != nil {
		return false, fmt.Errorf("pgstate: encode access request %s: %w", r.ID, err)
	}
	ctx, cancel := q.s.op()
	defer cancel()
	tag, err := q.s.pool.Exec(ctx, `INSERT INTO gatehouse_access_requests
		(id, state, subject, issuer, filed_at, decided_at, expires_at, request)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.State, r.Requester.Subject, r.Requester.Issuer, r.FiledAt, nullTime(r.DecidedAt), nullTime(r.ExpiresAt), doc)
	if err != nil {
		return false, q.s.dbError("requests", "import access request "+r.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// nullTime is NULL for the zero time (not decided, no expiry).
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// queryRequests runs a query whose one column is a request's JSON.
func queryRequests(ctx context.Context, s *Store, sql string, args ...any) ([]ca.AccessRequest, error) {
	return queryJSON[ca.AccessRequest](ctx, s, "requests", "read access requests", sql, args...)
}

// queryJSON runs a query whose one column is JSON of a T, and decodes
// each row; a failure is one of op.
func queryJSON[T any](ctx context.Context, s *Store, op, what, sql string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, s.dbError(op, what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) {
		var v T
		var doc []byte
		if err := row.Scan(&doc); err != nil {
			return v, err
		}
		if err := json.Unmarshal(doc, &v); err != nil {
			return v, fmt.Errorf("%w: %w", errStored, err)
		}
		return v, nil
	})
	if err != nil {
		return nil, s.dbError(op, what, err)
	}
	return out, nil
}
