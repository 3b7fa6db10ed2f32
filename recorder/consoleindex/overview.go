package consoleindex

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// Counts are what the console's overview counts of the sessions of a
// period: the same numbers it counts from Sessions' list, by SQL.
type Counts struct {
	Sessions   int
	Humans     int // distinct identities of readable sessions without an agent
	Agents     int // distinct agents
	Statements int
	Denials    int
	JustInTime int // readable sessions with a certificate issued under an access request
	Standing   int // readable sessions with an identity, the others
	Verified   int
	Failed     int // verification failed, the chain is broken or the stream unreadable
	Incomplete int // no manifest: never closed, or cut short
	Unverified int // verified without keys
}

// Notable names the certificates whose sessions the overview looks at
// one by one besides the failed ones and those refused from their
// address: the serials and key fingerprints of revocations and dev
// logins.
type Notable struct {
	Serials []uint64
	Keys    []string
}

// countsSQL counts what Counts holds; its parameters are the
// just-in-time serials twice, as JSON arrays, then the filter's.
const countsSQL = `SELECT COUNT(*),
	COALESCE(SUM(unreadable IS NULL AND chain_error IS NULL AND NOT verified), 0),
	COALESCE(SUM(unreadable IS NULL AND chain_error IS NULL AND verified AND verification IS NULL), 0),
	COALESCE(SUM(unreadable IS NULL AND chain_error IS NULL AND verified AND verification IS NOT NULL AND incomplete), 0),
	COALESCE(SUM(CASE WHEN unreadable IS NULL THEN statements END), 0),
	COALESCE(SUM(CASE WHEN unreadable IS NULL THEN denied END), 0),
	COUNT(DISTINCT CASE WHEN unreadable IS NULL AND agent = '' AND identity != '' THEN identity END),
	COUNT(DISTINCT CASE WHEN unreadable IS NULL AND agent != '' THEN agent END),
	COALESCE(SUM(unreadable IS NULL AND serial IN (SELECT value FROM json_each(?))), 0),
	COALESCE(SUM(unreadable IS NULL AND identity != '' AND serial NOT IN (SELECT value FROM json_each(?))), 0)
	FROM sessions WHERE `

// Overview counts the sessions f selects (as Sessions lists them),
// within scope when it is not nil; jit
// being the serials of certificates issued under access requests, and
// lists, in Sessions' order, those that may be exceptions: unreadable,
// broken, not verified whole, refused beyond their denied statements, or
// of a certificate n names. Both are read in one snapshot.
func (x *Index) Overview(f recorder.Filter, lag time.Duration, scope *Scope, jit []uint64, n Notable) (Counts, []recorder.Listed, error) {
	var c Counts
	tx, err := x.db.Begin()
	if err != nil {
		return c, nil, fmt.Errorf("consoleindex: count sessions: %w", err)
	}
	defer tx.Rollback() // read only
	where, args := scopedWhere(f, lag, scope)
	serials := serialsJSON(jit)
	var unverified, verified, incomplete int
	err = tx.QueryRow(countsSQL+where, append([]any{serials, serials}, args...)...).Scan(&c.Sessions, &unverified, &verified, &incomplete,
		&c.Statements, &c.Denials, &c.Humans, &c.Agents, &c.JustInTime, &c.Standing)
	if err != nil {
		return c, nil, fmt.Errorf("consoleindex: count sessions: %w", err)
	}
	c.Unverified, c.Verified, c.Incomplete = unverified, verified, incomplete
	c.Failed = c.Sessions - unverified - verified - incomplete
	keys, _ := json.Marshal(append([]string{}, n.Keys...))
	rows, err := tx.Query("SELECT "+sessionColumns+" FROM sessions WHERE "+where+` AND (unreadable IS NOT NULL OR chain_error IS NOT NULL
		OR (verified AND verification IS NOT NULL) OR (refusals > denied AND client_addr != '')
		OR serial IN (SELECT value FROM json_each(?)) OR key_fingerprint IN (SELECT value FROM json_each(?))) ORDER BY id`,
		append(args, serialsJSON(n.Serials), string(keys))...)
	if err != nil {
		return c, nil, fmt.Errorf("consoleindex: list notable sessions: %w", err)
	}
	defer rows.Close()
	var out []recorder.Listed
	for rows.Next() {
		s, err := scanMatching(rows, f, lag)
		if err != nil {
			return c, nil, fmt.Errorf("consoleindex: list notable sessions: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return c, nil, fmt.Errorf("consoleindex: list notable sessions: %w", err)
	}
	return c, out, nil
}

// serialsJSON is serials as the index stores them (int64), a JSON array
// for json_each: never null, which IN would make unknown.
func serialsJSON(serials []uint64) string {
	stored := make([]int64, 0, len(serials))
	for _, s := range serials {
		stored = append(stored, int64(s))
	}
	b, _ := json.Marshal(stored)
	return string(b)
}
