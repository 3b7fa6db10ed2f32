package console

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/consoleindex"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// SessionIndex is what the lists read instead of the store when there is
// one: a *consoleindex.Index, kept current from the same store.
type SessionIndex interface {
	// Current brings the index up to date with the store, as fresh as
	// it is configured to be; the lists ask before reading it.
	Current(ctx context.Context) error
	// Sessions is recorder.Summaries of the store, verified with the
	// console's keys, as of the index's last sync.
	Sessions(f recorder.Filter, lag time.Duration) ([]recorder.Listed, error)
	// SessionsPage is the rows [offset, offset+limit) of what Sessions
	// lists, within scope when it is not nil, and how many in all.
	SessionsPage(f recorder.Filter, lag time.Duration, scope *consoleindex.Scope, offset, limit int) ([]recorder.Listed, int, error)
	// Overview counts the sessions f selects, jit being the serials of
	// certificates issued under access requests, and lists those that
	// may be exceptions (failed, refused, of a certificate n names).
	Overview(f recorder.Filter, lag time.Duration, scope *consoleindex.Scope, jit []uint64, n consoleindex.Notable) (consoleindex.Counts, []recorder.Listed, error)
	// IdentityGroups counts the readable sessions with an identity that
	// f selects, within scope, by identity and agent.
	IdentityGroups(f recorder.Filter, lag time.Duration, scope *consoleindex.Scope) ([]consoleindex.IdentityGroup, error)
	// IdentitySessions is one identity's sessions of those, and their
	// denials.
	IdentitySessions(identity string, f recorder.Filter, lag time.Duration, scope *consoleindex.Scope) ([]recorder.Listed, []consoleindex.Denial, error)
	// Snapshot begins a read of the index as it is, for an export to
	// count, then write, the rows of its cursors.
	Snapshot() (*consoleindex.Snapshot, error)
	// Reconcile names the sessions of [since, until) that the store and
	// the index disagree on.
	Reconcile(since, until time.Time) (consoleindex.Reconciliation, error)
}

// listed is the sessions f selects, as recorder.Summaries lists them
// (verified with the console's keys when verified is set), from the index
// when the console has one, else from the store.
func (c *Console) listed(f recorder.Filter, verified bool) ([]recorder.Listed, error) {
	if c.cfg.Index == nil {
		if !verified {
			return recorder.Summaries(c.cfg.Sessions, f, c.cfg.Lag)
		}
		return c.keyring().Summaries(c.cfg.Sessions, f, c.cfg.Lag)
	}
	if err := c.cfg.Index.Current(context.Background()); err != nil {
		return nil, err
	}
	list, err := c.cfg.Index.Sessions(f, c.cfg.Lag)
	if !verified {
		for i := range list {
			list[i].Verified, list[i].Verification = false, nil
		}
	}
	return list, err
}

// snapshot is a snapshot of the index, brought current first.
func (c *Console) snapshot() (*consoleindex.Snapshot, error) {
	if err := c.cfg.Index.Current(context.Background()); err != nil {
		return nil, err
	}
	return c.cfg.Index.Snapshot()
}

// exportIndexed is export of the rows rows reads from one snapshot of
// the index.
func exportIndexed[R any](c *Console, w http.ResponseWriter, q query, v viewer, t table[R], rows func(*consoleindex.Snapshot) rowSource[R]) {
	snap, err := c.snapshot()
	if err != nil {
		c.unreadable(w, t.noun, err)
		return
	}
	defer snap.Close()
	export(c, w, q, v.Auditor, t, rows(snap))
}

// indexedSessions reads from snap the sessions q selects that v may see,
// as SessionsPage pages through them; a row outside v's scope fails it.
func (c *Console) indexedSessions(q query, v viewer) func(*consoleindex.Snapshot) rowSource[row] {
	return func(snap *consoleindex.Snapshot) rowSource[row] {
		return func(each func(row) error) error {
			return snap.EachSession(q.filter, c.cfg.Lag, indexScope(v), func(s recorder.Listed) error {
				if err := checkScope(v, []recorder.Listed{s}); err != nil {
					return err
				}
				return each(rowOf(s))
			})
		}
	}
}

// indexedStatements reads from snap the statements f selects, of the
// sessions sf selects that v may see (judged as listed does, one session
// at a time as the statements come), in findStatements' order.
func (c *Console) indexedStatements(sf recorder.Filter, f statementFilter, v viewer) func(*consoleindex.Snapshot) rowSource[foundStatement] {
	q := consoleindex.StatementQuery{Text: f.text, Rule: f.rule, Target: f.target}
	if f.decision != "" {
		allowed := f.decision == string(event.Allow)
		q.Allowed = &allowed
	}
	return func(snap *consoleindex.Snapshot) rowSource[foundStatement] {
		return func(each func(foundStatement) error) error {
			var at string
			var s recorder.Listed
			var shown bool
			return snap.EachStatement(sf, c.cfg.Lag, q, func(st consoleindex.Statement) error {
				if st.Session != at {
					var err error
					if s, shown, err = snap.Session(st.Session); err != nil {
						return err
					}
					at, shown = st.Session, shown && s.Unreadable == nil && sf.MayMatch(s.ID, c.cfg.Lag) && sf.Match(s.Summary) && v.allows(s.Summary)
				}
				if !shown || !f.matches(st.Data, st.Target) {
					return nil
				}
				return each(foundStatement{Session: s.ID, Identity: s.Identity, Agent: s.Agent, Target: st.Target,
					statementRow: statementOf(recorder.Event{Seq: st.Seq, Time: st.Time}, st.Data)})
			})
		}
	}
}

// findIndexedStatements is findStatements from the index.
func (c *Console) findIndexedStatements(sf recorder.Filter, f statementFilter, v viewer) ([]foundStatement, error) {
	snap, err := c.snapshot()
	if err != nil {
		return nil, err
	}
	defer snap.Close()
	var out []foundStatement
	err = c.indexedStatements(sf, f, v)(snap)(func(s foundStatement) error {
		out = append(out, s)
		return nil
	})
	return out, err
}

// Exceptions the overview adds when the lists read an index.
const (
	exNotIndexed = "not yet indexed"
	exGone       = "gone from the store"
)

// indexExceptions are the sessions of f's period that the store lists
// and the index does not yet hold (the lists leave them out until it
// does), and those the index holds that the store no longer lists.
func (c *Console) indexExceptions(f recorder.Filter) ([]exception, error) {
	if c.cfg.Index == nil {
		return nil, nil
	}
	r, err := c.cfg.Index.Reconcile(f.Since, f.Until)
	if err != nil {
		return nil, err
	}
	var out []exception
	for _, id := range r.NotIndexed {
		out = append(out, exception{exNotIndexed, id + ": in the store, not yet in the console's index (the lists show it once it is)", "/sessions/" + url.PathEscape(id)})
	}
	for _, id := range r.Gone {
		out = append(out, exception{exGone, id + ": in the console's index, but the store no longer lists it: deleted or renamed", "/sessions/" + url.PathEscape(id)})
	}
	return out, nil
}

// indexScope is v's link's scope as the index selects by it; nil for an
// auditor who sees every session.
func indexScope(v viewer) *consoleindex.Scope {
	if v.Scope == nil {
		return nil
	}
	return &consoleindex.Scope{From: v.Scope.From, To: v.Scope.To, Targets: v.Scope.Targets}
}

// checkScope fails when the index gave a session outside v's scope: the
// index's SQL and the link disagree, and nothing is shown.
func checkScope(v viewer, list []recorder.Listed) error {
	for _, s := range list {
		if v.Scope != nil && (s.Unreadable != nil || !v.allows(s.Summary)) {
			return fmt.Errorf("console: the index gave %s, outside the link's scope", s.ID)
		}
	}
	return nil
}
