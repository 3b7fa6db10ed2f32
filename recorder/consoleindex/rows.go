package consoleindex

import (
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// Snapshot is a read of the index as it was when the snapshot began (a
// read transaction): an export reads its rows twice, to count them for
// its first line and then to write them, and both readings agree. Rows
// come from cursors, one at a time, never as a whole list. Close it.
type Snapshot struct{ tx *sql.Tx }

// Snapshot begins a snapshot of the index.
func (x *Index) Snapshot() (*Snapshot, error) {
	tx, err := x.db.Begin()
	if err != nil {
		return nil, fmt.Errorf("consoleindex: begin a snapshot: %w", err)
	}
	return &Snapshot{tx}, nil
}

// Close ends the snapshot.
func (s *Snapshot) Close() error { return s.tx.Rollback() }

// EachSession passes to each the sessions SessionsPage pages through for
// f and scope, in id order, each checked with f; it stops at each's first
// error.
func (s *Snapshot) EachSession(f recorder.Filter, lag time.Duration, scope *Scope, each func(recorder.Listed) error) error {
	where, args := scopedWhere(f, lag, scope)
	rows, err := s.tx.Query("SELECT "+sessionColumns+" FROM sessions WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return fmt.Errorf("consoleindex: list sessions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		l, err := scanMatching(rows, f, lag)
		if err != nil {
			return fmt.Errorf("consoleindex: list sessions: %w", err)
		}
		if err := each(l); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("consoleindex: list sessions: %w", err)
	}
	return nil
}

// EachStatement passes to each what Statements finds, in its order; it
// stops at each's first error.
func (s *Snapshot) EachStatement(f recorder.Filter, lag time.Duration, q StatementQuery, each func(Statement) error) error {
	return eachStatement(s.tx, f, lag, q, each)
}

// Session is the indexed session id, not gone from the store; ok is false
// when the index does not hold it.
func (s *Snapshot) Session(id string) (l recorder.Listed, ok bool, err error) {
	rows, err := s.tx.Query("SELECT "+sessionColumns+" FROM sessions WHERE gone = 0 AND id = ?", id)
	if err != nil {
		return l, false, fmt.Errorf("consoleindex: read session %s: %w", id, err)
	}
	defer rows.Close()
	if rows.Next() {
		if l, err = scanSession(rows); err != nil {
			return l, false, fmt.Errorf("consoleindex: read session %s: %w", id, err)
		}
		ok = true
	}
	return l, ok, rows.Err()
}
