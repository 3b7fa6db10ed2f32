package consoleindex

import (
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// Reconciliation is where the index and the store disagree on which
// session streams exist, each list in id order.
type Reconciliation struct {
	// NotIndexed are listed by the store but not (yet) in the index: the
	// lists leave them out until the next Sync reads them.
	NotIndexed []string
	// Gone are in the index but no longer listed by the store: deleted,
	// or renamed. The lists leave them out; the index keeps them.
	Gone []string
}

// Reconcile compares the store's listing of the sessions that started
// (by the time in their ids) in [since, until) with the index's; a zero
// bound is none, and an id without a time is always compared.
func (x *Index) Reconcile(since, until time.Time) (Reconciliation, error) {
	ids, err := x.src.List(recorder.KindSession)
	if err != nil {
		return Reconciliation{}, fmt.Errorf("consoleindex: list the store: %w", err)
	}
	inStore := make(map[string]bool, len(ids))
	for _, id := range ids {
		inStore[id] = true
	}
	rows, err := x.db.Query("SELECT id, gone FROM sessions ORDER BY id")
	if err != nil {
		return Reconciliation{}, fmt.Errorf("consoleindex: read the index: %w", err)
	}
	defer rows.Close()
	var r Reconciliation
	inIndex := map[string]bool{}
	for rows.Next() {
		var id string
		var gone bool
		if err := rows.Scan(&id, &gone); err != nil {
			return r, fmt.Errorf("consoleindex: read the index: %w", err)
		}
		inIndex[id] = !gone
		if (gone || !inStore[id]) && inPeriod(id, since, until) {
			r.Gone = append(r.Gone, id)
		}
	}
	if err := rows.Err(); err != nil {
		return r, fmt.Errorf("consoleindex: read the index: %w", err)
	}
	for _, id := range ids {
		if !inIndex[id] && inPeriod(id, since, until) {
			r.NotIndexed = append(r.NotIndexed, id)
		}
	}
	return r, nil
}

// inPeriod says whether the time in id is in [since, until); an id
// without one is.
func inPeriod(id string, since, until time.Time) bool {
	t, ok := recorder.IDTime(id)
	return !ok || ((since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until)))
}
