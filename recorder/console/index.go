package console

import (
	"context"
	"fmt"
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
	// Statements finds at least the statements q selects in the
	// sessions f may select; the console checks each.
	Statements(f recorder.Filter, lag time.Duration, q consoleindex.StatementQuery) ([]consoleindex.Statement, error)
	// SessionsByID is the indexed sessions of ids, as Sessions lists
	// them, by id.
	SessionsByID(ids []string) (map[string]recorder.Listed, error)
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

// findIndexedStatements is findStatements from the index: the statements
// f selects, then, of their sessions, those sf selects that v may see
// (judged as listed does, but only for sessions with a statement found).
func (c *Console) findIndexedStatements(sf recorder.Filter, f statementFilter, v viewer) ([]foundStatement, error) {
	if err := c.cfg.Index.Current(context.Background()); err != nil {
		return nil, err
	}
	q := consoleindex.StatementQuery{Text: f.text, Rule: f.rule, Target: f.target}
	if f.decision != "" {
		allowed := f.decision == string(event.Allow)
		q.Allowed = &allowed
	}
	found, err := c.cfg.Index.Statements(sf, c.cfg.Lag, q)
	if err != nil {
		return nil, err
	}
	sessions, err := c.sessionsOf(found, sf, v)
	if err != nil {
		return nil, err
	}
	var out []foundStatement
	for _, st := range found {
		s, ok := sessions[st.Session]
		if !ok || !f.matches(st.Data, st.Target) {
			continue
		}
		out = append(out, foundStatement{Session: s.ID, Identity: s.Identity, Agent: s.Agent, Target: st.Target,
			statementRow: statementOf(recorder.Event{Seq: st.Seq, Time: st.Time}, st.Data)})
	}
	return out, nil
}

// sessionsOf is the summaries of the sessions of found that sf selects
// and v may see.
func (c *Console) sessionsOf(found []consoleindex.Statement, sf recorder.Filter, v viewer) (map[string]recorder.Summary, error) {
	var ids []string
	for i, st := range found {
		if i == 0 || st.Session != found[i-1].Session {
			ids = append(ids, st.Session)
		}
	}
	listed, err := c.cfg.Index.SessionsByID(ids)
	if err != nil {
		return nil, err
	}
	sessions := make(map[string]recorder.Summary, len(listed))
	for id, s := range listed {
		if s.Unreadable == nil && sf.MayMatch(id, c.cfg.Lag) && sf.Match(s.Summary) && v.allows(s.Summary) {
			sessions[id] = s.Summary
		}
	}
	return sessions, nil
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
