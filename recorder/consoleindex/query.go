package consoleindex

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// sessionColumns are what Sessions reads of a session, in scanSession's
// order.
const sessionColumns = `id, unreadable, start, end_time, identity, agent, serial, key_fingerprint, client_addr,
	channels, statements, denied, refusals, end_reason, targets, chain_error, verified, verification, incomplete, human, roles, masked`

// Sessions lists the indexed sessions, not gone from the store, that f
// selects, as recorder.Summaries lists them (same order, same unreadable
// sessions, verified with the index's keys); lag is as for
// Filter.MayMatch. SQL narrows the rows; f itself decides each one, so
// the answer is exactly Summaries'.
func (x *Index) Sessions(f recorder.Filter, lag time.Duration) ([]recorder.Listed, error) {
	where, args := sessionWhere(f, lag, "")
	// Sorted here, not by SQL: ORDER BY id would walk the id index and
	// fetch every row from the table apart, ten times slower than a scan.
	rows, err := x.db.Query("SELECT "+sessionColumns+" FROM sessions WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("consoleindex: list sessions: %w", err)
	}
	defer rows.Close()
	var out []recorder.Listed
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("consoleindex: list sessions: %w", err)
		}
		if f.MayMatch(s.ID, lag) && (s.Unreadable != nil || f.MatchListed(s)) {
			out = append(out, s)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("consoleindex: list sessions: %w", err)
	}
	slices.SortFunc(out, func(a, b recorder.Listed) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// SessionsPage is the rows [offset, offset+limit) of what Sessions lists
// for f, within scope when it is not nil, and how many it lists in all, read in one snapshot: SQL picks,
// orders and counts them, so a page costs what it shows, not what the
// index holds. Each row is checked with f (scanMatching).
func (x *Index) SessionsPage(f recorder.Filter, lag time.Duration, scope *Scope, offset, limit int) ([]recorder.Listed, int, error) {
	tx, err := x.db.Begin()
	if err != nil {
		return nil, 0, fmt.Errorf("consoleindex: list sessions: %w", err)
	}
	defer tx.Rollback() // read only
	where, args := scopedWhere(f, lag, scope)
	var total int
	if err := tx.QueryRow("SELECT COUNT(*) FROM sessions WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("consoleindex: count sessions: %w", err)
	}
	// The ids first, from the (gone, id) index in order; then the rows of
	// the page only, so that an offset skips index entries, not rows.
	rows, err := tx.Query("SELECT "+sessionColumns+" FROM sessions WHERE id IN (SELECT id FROM sessions WHERE "+where+
		" ORDER BY id LIMIT ? OFFSET ?) ORDER BY id", append(args, limit, offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("consoleindex: list sessions: %w", err)
	}
	defer rows.Close()
	var out []recorder.Listed
	for rows.Next() {
		s, err := scanMatching(rows, f, lag)
		if err != nil {
			return nil, 0, fmt.Errorf("consoleindex: list sessions: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("consoleindex: list sessions: %w", err)
	}
	return out, total, nil
}

// scanMatching is scanSession of a row SQL selected for f, checked with f
// as Sessions checks it: a row f rejects is an error (the SQL and the
// filter disagree), never shown.
func scanMatching(rows *sql.Rows, f recorder.Filter, lag time.Duration) (recorder.Listed, error) {
	s, err := scanSession(rows)
	if err != nil {
		return s, err
	}
	if !f.MayMatch(s.ID, lag) || (s.Unreadable == nil && !f.MatchListed(s)) {
		return s, fmt.Errorf("%s does not match the filter the index selected it for", s.ID)
	}
	return s, nil
}

// SessionsByID is the indexed sessions of ids, not gone from the store,
// by id; an id the index does not hold is left out.
func (x *Index) SessionsByID(ids []string) (map[string]recorder.Listed, error) {
	out := make(map[string]recorder.Listed, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 500) // under SQLite's limit on bound parameters
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		rows, err := x.db.Query("SELECT "+sessionColumns+" FROM sessions WHERE gone = 0 AND id IN (?"+strings.Repeat(", ?", n-1)+")", args...)
		if err != nil {
			return nil, fmt.Errorf("consoleindex: read sessions: %w", err)
		}
		for rows.Next() {
			s, err := scanSession(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("consoleindex: read sessions: %w", err)
			}
			out[s.ID] = s
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, fmt.Errorf("consoleindex: read sessions: %w", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// sessionWhere is SQL selecting exactly the sessions f selects, as
// Filter.MayMatch and Filter.Match judge them (p is the sessions table's
// alias and a dot, or ""): SessionsPage counts and pages by it.
func sessionWhere(f recorder.Filter, lag time.Duration, p string) (string, []any) {
	conds := []string{p + "gone = 0"}
	var args []any
	add := func(cond string, a ...any) { conds, args = append(conds, cond), append(args, a...) }
	// MayMatch: judged by the time in the id, whatever else it holds.
	if !f.Since.IsZero() {
		add("("+p+"id_time IS NULL OR "+p+"id_time >= ?)", clampedNanos(f.Since.Add(-lag-time.Second)))
	}
	if !f.Until.IsZero() {
		add("("+p+"id_time IS NULL OR "+p+"id_time < ?)", clampedNanos(f.Until))
	}
	// Match, for the sessions that could be read.
	var match []string
	addMatch := func(cond string, a ...any) { match, args = append(match, cond), append(args, a...) }
	if f.Identity != "" {
		// As bytes, as strings.Contains compares: instr of texts counts
		// characters, and would misjudge invalid UTF-8.
		addMatch("instr(CAST("+p+"identity AS BLOB), CAST(? AS BLOB)) > 0", f.Identity)
	}
	if f.Agent != "" {
		addMatch(p+"agent = ?", f.Agent)
	}
	if f.Target != "" {
		addMatch(p+"id IN (SELECT session FROM session_targets WHERE target = ?)", f.Target)
	}
	if !f.Since.IsZero() {
		addMatch(p+"start >= ?", clampedNanos(f.Since))
	}
	if !f.Until.IsZero() {
		addMatch("("+p+"start IS NULL OR "+p+"start < ?)", clampedNanos(f.Until))
	}
	switch f.Outcome {
	case recorder.OutcomeRefused:
		addMatch(p + "refusals > 0")
	case recorder.OutcomeClean:
		addMatch(p + "end_time IS NOT NULL AND " + p + "refusals = 0 AND " + p + "chain_error IS NULL")
	case recorder.OutcomeOpen:
		addMatch(p + "end_time IS NULL")
	}
	match, args = newFilterWhere(f, p, match, args)
	if len(match) > 0 {
		conds = append(conds, "("+p+"unreadable IS NOT NULL OR ("+strings.Join(match, " AND ")+"))")
	}
	return strings.Join(conds, " AND "), args
}

// newFilterWhere adds to match (and its args) the SQL of f's human,
// role, decision, denials, masked and verification, as Filter.MatchListed
// judges them.
func newFilterWhere(f recorder.Filter, p string, match []string, args []any) ([]string, []any) {
	addMatch := func(cond string, a ...any) { match, args = append(match, cond), append(args, a...) }
	if f.Human != "" {
		addMatch(p+"human = ?", f.Human)
	}
	if f.Role != "" {
		// Roles hold "target:role"; a target name holds no colon. As
		// bytes, as strings.Cut splits.
		addMatch("EXISTS (SELECT 1 FROM json_each("+p+"roles) r WHERE substr(CAST(r.value AS BLOB), instr(CAST(r.value AS BLOB), X'3A') + 1) = CAST(? AS BLOB))", f.Role)
	}
	switch f.Decision {
	case string(event.Allow):
		addMatch(p + "statements > " + p + "denied")
	case string(event.Deny):
		addMatch(p + "denied > 0")
	}
	if c := yesNoSQL(f.Denials, p+"refusals > 0"); c != "" {
		addMatch(c)
	}
	if c := yesNoSQL(f.Masked, p+"masked > 0"); c != "" {
		addMatch(c)
	}
	switch f.Verification {
	case recorder.VerificationVerified:
		addMatch(p + "verified = 1 AND " + p + "verification IS NULL")
	case recorder.VerificationFailed:
		addMatch(p + "verified = 1 AND " + p + "verification IS NOT NULL AND " + p + "incomplete = 0")
	case recorder.VerificationIncomplete:
		addMatch(p + "verified = 1 AND " + p + "verification IS NOT NULL AND " + p + "incomplete = 1")
	}
	return match, args
}

// yesNoSQL is cond for recorder.Yes, its negation for recorder.No, and ""
// for neither.
func yesNoSQL(want, cond string) string {
	switch want {
	case recorder.Yes:
		return cond
	case recorder.No:
		return "NOT (" + cond + ")"
	}
	return ""
}

// Scope is an external auditor's link's: the readable sessions that
// started in [From, To) (a zero bound is open) with at least one target,
// all of them in Targets (none: any target). The console checks each row
// with the link again.
type Scope struct {
	From, To time.Time
	Targets  []string
}

// scopedWhere is sessionWhere, and within scope when it is not nil.
func scopedWhere(f recorder.Filter, lag time.Duration, scope *Scope) (string, []any) {
	where, args := sessionWhere(f, lag, "")
	if scope == nil {
		return where, args
	}
	where += " AND unreadable IS NULL AND start IS NOT NULL"
	if !scope.From.IsZero() {
		where, args = where+" AND start >= ?", append(args, clampedNanos(scope.From))
	}
	if !scope.To.IsZero() {
		where, args = where+" AND start < ?", append(args, clampedNanos(scope.To))
	}
	if len(scope.Targets) > 0 {
		targets, _ := json.Marshal(scope.Targets)
		where += ` AND EXISTS (SELECT 1 FROM session_targets WHERE session = id)
			AND NOT EXISTS (SELECT 1 FROM session_targets WHERE session = id AND target NOT IN (SELECT value FROM json_each(?)))`
		args = append(args, string(targets))
	}
	return where, args
}

// clampedNanos is t in unix ns, clamped to what an int64 holds (a filter
// may name the year 9999; UnixNano is undefined beyond 2262).
func clampedNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// scanSession reads one row of sessionColumns.
func scanSession(rows *sql.Rows) (recorder.Listed, error) {
	var s recorder.Listed
	var unreadable, chainError, verification sql.NullString
	var start, end sql.NullInt64
	var serial int64
	var targets, roles string
	var incomplete bool
	err := rows.Scan(&s.ID, &unreadable, &start, &end, &s.Identity, &s.Agent, &serial, &s.KeyFingerprint, &s.ClientAddr,
		&s.Channels, &s.Statements, &s.Denied, &s.Refusals, &s.EndReason, &targets, &chainError, &s.Verified, &verification, &incomplete,
		&s.Human, &roles, &s.Masked)
	if err != nil {
		return s, err
	}
	if unreadable.Valid {
		return recorder.Listed{Summary: recorder.Summary{ID: s.ID}, Unreadable: errors.New(unreadable.String)}, nil
	}
	s.Serial, s.Start, s.End = uint64(serial), fromNanos(start), fromNanos(end)
	if err := json.Unmarshal([]byte(targets), &s.Targets); err != nil {
		return s, fmt.Errorf("targets of %s: %w", s.ID, err)
	}
	if err := json.Unmarshal([]byte(roles), &s.Roles); err != nil {
		return s, fmt.Errorf("roles of %s: %w", s.ID, err)
	}
	if len(s.Targets) == 0 {
		s.Targets = nil
	}
	if len(s.Roles) == 0 {
		s.Roles = nil
	}
	if chainError.Valid {
		s.ChainError = errors.New(chainError.String)
	}
	if verification.Valid {
		s.Verification = &indexedError{verification.String, incomplete}
	}
	return s, nil
}

func fromNanos(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

// indexedError is a verification failure as the index recorded it: its
// text, and whether it was recorder.ErrIncomplete.
type indexedError struct {
	text       string
	incomplete bool
}

func (e *indexedError) Error() string        { return e.text }
func (e *indexedError) Is(target error) bool { return target == recorder.ErrIncomplete && e.incomplete }

// StatementQuery narrows a statement search: Text is a substring, any
// case; Allowed, when set, the decision; Rule and Target match whole.
// The caller applies its own filter to what is found: these only make the
// search fast.
type StatementQuery struct {
	Text    string
	Allowed *bool
	Rule    string
	Target  string
}

// Statement is one db.statement found, with the session it belongs to.
type Statement struct {
	Session string
	Seq     uint64
	Time    time.Time
	Target  string // of its channel
	Data    event.DBStatement
}

// statementsQuery is Statements' SQL. With a text to search for, the
// trigram index's matches lead (CROSS JOIN keeps the statements first):
// left to itself, SQLite walked every session's every statement and
// looked each up in the matches: a time that grew with the statements
// held (170 ms at a million, against 7 ms from the matches).
func statementsQuery(f recorder.Filter, lag time.Duration, q StatementQuery) (string, []any) {
	where, args := sessionWhere(f, lag, "s.")
	where += " AND s.unreadable IS NULL"
	add := func(cond string, a any) { where, args = where+" AND "+cond, append(args, a) }
	join := "JOIN"
	if utf8.RuneCountInString(q.Text) >= minTrigramText {
		join = "CROSS JOIN"
		add("st.rowid IN (SELECT rowid FROM statement_text WHERE statement_text MATCH ?)", `"`+strings.ReplaceAll(q.Text, `"`, `""`)+`"`)
	}
	if q.Allowed != nil {
		add("st.allowed = ?", *q.Allowed)
	}
	if q.Rule != "" {
		add("st.rule = ?", q.Rule)
	}
	if q.Target != "" {
		add("st.target = ?", q.Target)
	}
	return `SELECT st.session, st.seq, st.time, st.target, st.text, st.data FROM statements st
		` + join + ` sessions s ON s.id = st.session WHERE ` + where + ` ORDER BY st.session, st.line`, args
}

// minTrigramText is the shortest text the trigram index can search for;
// shorter ones read every statement the other conditions select.
const minTrigramText = 3

// Statements finds the statements of readable, indexed sessions that f
// may select (the caller checks each session with f, as Sessions does)
// and q selects, in the order of their sessions' ids and of their lines.
func (x *Index) Statements(f recorder.Filter, lag time.Duration, q StatementQuery) ([]Statement, error) {
	var out []Statement
	err := eachStatement(x.db, f, lag, q, func(st Statement) error {
		out = append(out, st)
		return nil
	})
	return out, err
}

// querier is the database, or a transaction on it.
type querier interface {
	Query(query string, args ...any) (*sql.Rows, error)
}

// eachStatement passes what Statements finds to each, one at a time from
// a cursor, and stops at each's first error.
func eachStatement(db querier, f recorder.Filter, lag time.Duration, q StatementQuery, each func(Statement) error) error {
	query, args := statementsQuery(f, lag, q)
	rows, err := db.Query(query, args...)
	if err != nil {
		return fmt.Errorf("consoleindex: search statements: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st Statement
		var seq, at int64
		var text, data string
		if err := rows.Scan(&st.Session, &seq, &at, &st.Target, &text, &data); err != nil {
			return fmt.Errorf("consoleindex: search statements: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &st.Data); err != nil {
			return fmt.Errorf("consoleindex: statement %s/%d: %w", st.Session, seq, err)
		}
		st.Seq, st.Time, st.Data.Text = uint64(seq), time.Unix(0, at).UTC(), text
		if err := each(st); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("consoleindex: search statements: %w", err)
	}
	return nil
}
