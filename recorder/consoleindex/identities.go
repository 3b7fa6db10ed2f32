package consoleindex

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// refusalsSchema holds, per session, the refusals besides denied
// statements that the console's identity pages list as denials (failed
// authentications, refused channels), and finds an identity's sessions.
const refusalsSchema = `
CREATE TABLE session_refusals (
	session TEXT NOT NULL,
	line INTEGER NOT NULL,      -- its line in the stream: the order shown
	seq INTEGER NOT NULL,
	time INTEGER NOT NULL,      -- unix ns
	type TEXT NOT NULL,         -- auth.failure or channel.refused
	data TEXT NOT NULL,         -- the event's payload, JSON, as recorded
	PRIMARY KEY (session, line)
) WITHOUT ROWID;
CREATE INDEX sessions_identity ON sessions (identity, id);
`

// refusal is one refusal event of a session, as session_refusals holds it.
type refusal struct {
	line int
	seq  uint64
	time time.Time
	typ  event.Type
	data json.RawMessage
}

func (s session) writeRefusals(tx *sql.Tx) error {
	for _, r := range s.refusals {
		if _, err := tx.Exec("INSERT INTO session_refusals (session, line, seq, time, type, data) VALUES (?, ?, ?, ?, ?, ?)",
			s.ID, r.line, int64(r.seq), r.time.UnixNano(), string(r.typ), string(r.data)); err != nil {
			return err
		}
	}
	return nil
}

// IdentityGroup is what the readable sessions of one identity (KeyId) and
// agent hold, counted by SQL; the scope fields let the caller check the
// group against a link's scope as it checks a session.
type IdentityGroup struct {
	Identity, Agent string
	FirstID         string // its first session's id
	Sessions        int
	Denials         int // denied statements, failed authentications and refused channels
	FirstStart      time.Time
	LastStart       time.Time
	NoStart         int      // sessions without a start
	Untargeted      int      // sessions without a target
	Targets         []string // of all its sessions
}

// identityGroupsSQL groups the sessions a where clause (%s)
// selects by identity and agent, first session first.
const identityGroupsSQL = `WITH sel AS MATERIALIZED (SELECT id, identity, agent, start, denied, targets FROM sessions
	WHERE %s AND unreadable IS NULL AND identity != '')
SELECT identity, agent, MIN(id), COUNT(*), SUM(denied) + SUM((SELECT COUNT(*) FROM session_refusals WHERE session = sel.id)),
	MIN(start), MAX(start), SUM(start IS NULL), SUM(targets = '[]')
FROM sel GROUP BY identity, agent ORDER BY MIN(id)`

// identityTargetsSQL is every target of each group's sessions.
const identityTargetsSQL = `WITH sel AS MATERIALIZED (SELECT id, identity, agent FROM sessions
	WHERE %s AND unreadable IS NULL AND identity != '')
SELECT DISTINCT sel.identity, sel.agent, t.target FROM sel JOIN session_targets t ON t.session = sel.id ORDER BY 1, 2, 3`

// IdentityGroups groups the readable sessions with an identity that f
// selects (as Sessions lists them), within scope when it is not nil, in
// the order of their first sessions; read in one snapshot.
func (x *Index) IdentityGroups(f recorder.Filter, lag time.Duration, scope *Scope) ([]IdentityGroup, error) {
	tx, err := x.db.Begin()
	if err != nil {
		return nil, fmt.Errorf("consoleindex: group identities: %w", err)
	}
	defer tx.Rollback() // read only
	where, args := scopedWhere(f, lag, scope)
	groups, err := readGroups(tx, fmt.Sprintf(identityGroupsSQL, where), args)
	if err != nil {
		return nil, fmt.Errorf("consoleindex: group identities: %w", err)
	}
	if err := addTargets(tx, fmt.Sprintf(identityTargetsSQL, where), args, groups); err != nil {
		return nil, fmt.Errorf("consoleindex: group identities' targets: %w", err)
	}
	return groups, nil
}

func readGroups(tx *sql.Tx, query string, args []any) ([]IdentityGroup, error) {
	rows, err := tx.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []IdentityGroup
	for rows.Next() {
		var g IdentityGroup
		var first, last sql.NullInt64
		if err := rows.Scan(&g.Identity, &g.Agent, &g.FirstID, &g.Sessions, &g.Denials, &first, &last, &g.NoStart, &g.Untargeted); err != nil {
			return nil, err
		}
		g.FirstStart, g.LastStart = fromNanos(first), fromNanos(last)
		out = append(out, g)
	}
	return out, rows.Err()
}

// addTargets gives each group the targets of its sessions.
func addTargets(tx *sql.Tx, query string, args []any, groups []IdentityGroup) error {
	at := map[[2]string]int{}
	for i, g := range groups {
		at[[2]string{g.Identity, g.Agent}] = i
	}
	rows, err := tx.Query(query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var identity, agent, target string
		if err := rows.Scan(&identity, &agent, &target); err != nil {
			return err
		}
		i, ok := at[[2]string{identity, agent}]
		if !ok {
			return fmt.Errorf("targets of %q, which no group holds", identity)
		}
		groups[i].Targets = append(groups[i].Targets, target)
	}
	return rows.Err()
}

// Denial is one refusal in a session, as an event the console reads as
// the store's: a denied statement (its text put back), a failed
// authentication or a refused channel.
type Denial struct {
	Session string
	Event   recorder.Event
}

// IdentitySessions is the readable sessions of identity (KeyId) that f
// selects, within scope when it is not nil, in id order, each checked with
// f; and their denials, by session and line. Read in one snapshot.
func (x *Index) IdentitySessions(identity string, f recorder.Filter, lag time.Duration, scope *Scope) ([]recorder.Listed, []Denial, error) {
	tx, err := x.db.Begin()
	if err != nil {
		return nil, nil, fmt.Errorf("consoleindex: read an identity's sessions: %w", err)
	}
	defer tx.Rollback() // read only
	where, args := scopedWhere(f, lag, scope)
	where, args = where+" AND unreadable IS NULL AND identity = ?", append(args, identity)
	sessions, err := identitySessions(tx, where, args, f, lag)
	if err != nil {
		return nil, nil, fmt.Errorf("consoleindex: read an identity's sessions: %w", err)
	}
	denials, err := identityDenials(tx, where, args, sessions)
	if err != nil {
		return nil, nil, fmt.Errorf("consoleindex: read an identity's denials: %w", err)
	}
	return sessions, denials, nil
}

func identitySessions(tx *sql.Tx, where string, args []any, f recorder.Filter, lag time.Duration) ([]recorder.Listed, error) {
	rows, err := tx.Query("SELECT "+sessionColumns+" FROM sessions WHERE "+where+" ORDER BY id", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []recorder.Listed
	for rows.Next() {
		s, err := scanMatching(rows, f, lag)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// identityDenials reads the denials of the sessions where selects; each
// must be of one of sessions (read from the same snapshot).
func identityDenials(tx *sql.Tx, where string, args []any, sessions []recorder.Listed) ([]Denial, error) {
	ids := map[string]bool{}
	for _, s := range sessions {
		ids[s.ID] = true
	}
	sel := "(SELECT id FROM sessions WHERE " + where + ")"
	rows, err := tx.Query(`SELECT session, line, seq, time, 'db.statement', text, data FROM statements WHERE allowed = 0 AND session IN `+sel+`
		UNION ALL SELECT session, line, seq, time, type, NULL, data FROM session_refusals WHERE session IN `+sel+`
		ORDER BY 1, 2`, slices.Concat(args, args)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Denial
	for rows.Next() {
		d, err := scanDenial(rows)
		if err != nil {
			return nil, err
		}
		if !ids[d.Session] {
			return nil, fmt.Errorf("a denial of %s, not one of the identity's sessions", d.Session)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func scanDenial(rows *sql.Rows) (Denial, error) {
	var d Denial
	var line, seq, at int64
	var typ, data string
	var text sql.NullString
	err := rows.Scan(&d.Session, &line, &seq, &at, &typ, &text, &data)
	if err != nil {
		return d, err
	}
	d.Event = recorder.Event{Seq: uint64(seq), Time: time.Unix(0, at).UTC(), Type: event.Type(typ), Data: json.RawMessage(data)}
	if !text.Valid {
		return d, nil
	}
	// A statement's text is kept apart from its payload: put it back.
	var st event.DBStatement
	if err := json.Unmarshal([]byte(data), &st); err != nil {
		return d, fmt.Errorf("statement %s/%d: %w", d.Session, seq, err)
	}
	st.Text = text.String
	d.Event.Data, err = json.Marshal(st)
	return d, err
}
