package evidence

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/audit"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// revokedEnd is a session.revoked event: the bastion ended a session
// when its certificate was revoked.
type revokedEnd struct {
	session, reason string
	at              time.Time
	serial          uint64
	key             string
}

// revocationRow is one cert.revoked event of the period, with the
// bundle's sessions it ended and those begun after it.
type revocationRow struct {
	Time          string   `json:"time"`
	Stream        string   `json:"stream"`
	Seq           uint64   `json:"seq"`
	By            string   `json:"by"`   // the local account that ran gatehouse revoke
	What          string   `json:"what"` // serial N, identity NAME or key SHA256:…
	Reason        string   `json:"reason"`
	RevokedAt     string   `json:"revoked_at"`
	Matched       []uint64 `json:"matched"`        // serials of the valid certificates it revoked
	SessionsEnded []string `json:"sessions_ended"` // "ID at TIME: reason"
	SessionsAfter []string `json:"sessions_after"` // sessions begun after it with a certificate it covers: exceptions
}

var revocationHeader = []string{"time", "stream", "seq", "by", "what", "reason", "revoked_at", "matched", "sessions_ended", "sessions_after"}

func (r revocationRow) cells() []string {
	serials := make([]string, len(r.Matched))
	for i, s := range r.Matched {
		serials[i] = strconv.FormatUint(s, 10)
	}
	return []string{r.Time, cell(r.Stream), strconv.FormatUint(r.Seq, 10), cell(r.By), cell(r.What), cell(r.Reason), r.RevokedAt,
		strings.Join(serials, " "), cell(strings.Join(r.SessionsEnded, "; ")), cell(strings.Join(r.SessionsAfter, " "))}
}

// exceptionRow is one thing an auditor should look at first.
type exceptionRow struct {
	Kind    string `json:"kind"`
	Session string `json:"session"` // or the stream it is about
	Time    string `json:"time"`
	Detail  string `json:"detail"`
}

// The exceptions' kinds, in the order exceptions.csv lists them.
const (
	exFailed          = "verification failed"
	exAfterRevocation = "activity after revocation"
)

var exceptionKinds = []string{exFailed, exMissing, exNoManifest, exUnregistered, exNotLocked, exAfterRevocation}

// compareExceptions orders exceptions by kind, then session and time.
func compareExceptions(a, b exceptionRow) int {
	return cmp.Or(cmp.Compare(slices.Index(exceptionKinds, a.Kind), slices.Index(exceptionKinds, b.Kind)),
		strings.Compare(a.Session, b.Session), byTime(a.Time, b.Time))
}

var exceptionHeader = []string{"kind", "session", "time", "detail"}

func (r exceptionRow) cells() []string {
	return []string{r.Kind, cell(r.Session), r.Time, cell(r.Detail)}
}

// revocationRows are the revocations of the period (all, or with a
// scope those that name one of its identities or cover one of the
// bundle's sessions), with the sessions each ended and those begun
// after it, added as the sessions are read.
type revocationRows struct {
	revs    audit.Revocations
	rows    map[int]*revocationRow // index in revs → its row, for those of the period
	related map[int]bool           // those that ended or preceded one of the bundle's sessions
	done    []revocationRow        // in revs' order, once finished
}

func newRevocationRows(ca []recorder.Event, scope Scope) *revocationRows {
	rr := &revocationRows{rows: map[int]*revocationRow{}, related: map[int]bool{}}
	for _, ev := range ca {
		rr.revs.Add(ev)
	}
	for i, r := range rr.revs {
		if scope.inPeriod(r.Revocation.RevokedAt) {
			rr.rows[i] = newRevocationRow(r)
		}
	}
	return rr
}

// ended adds a session the bastion ended on a revocation to the
// revocations that did it.
func (rr *revocationRows) ended(e revokedEnd) {
	for _, i := range lastCovering(rr.revs, e.serial, e.key, e.at) {
		if rr.rows[i] != nil {
			rr.rows[i].SessionsEnded = append(rr.rows[i].SessionsEnded, fmt.Sprintf("%s at %s: %s", e.session, utc(e.at), e.reason))
			rr.related[i] = true
		}
	}
}

// addSession adds one of the bundle's sessions to the revocations of the
// period it began after, and says its exception when a revocation
// covering its certificate preceded it.
func (rr *revocationRows) addSession(s recorder.Summary) (exceptionRow, bool) {
	first, ok := rr.revs.Before(s)
	if !ok {
		return exceptionRow{}, false
	}
	for i, r := range rr.revs {
		if rr.rows[i] != nil && r.Covers(s.Serial, s.KeyFingerprint) && r.Revocation.RevokedAt.Before(s.Start) {
			rr.rows[i].SessionsAfter = append(rr.rows[i].SessionsAfter, s.ID)
			rr.related[i] = true
		}
	}
	return afterRevocation(s, first), true
}

// finish keeps the revocations the bundle holds.
func (rr *revocationRows) finish(scope Scope) {
	for i := range rr.revs {
		if r := rr.rows[i]; r != nil && (rr.related[i] || scope.namesRevoked(rr.revs[i])) {
			rr.done = append(rr.done, *r)
		}
	}
}

func newRevocationRow(r audit.Revocation) *revocationRow {
	row := &revocationRow{Time: utc(r.Revocation.RevokedAt), Stream: r.Stream, Seq: r.Seq, By: r.Revocation.By, What: r.What(),
		Reason: r.Revocation.Reason, RevokedAt: utc(r.Revocation.RevokedAt), Matched: []uint64{}, SessionsEnded: []string{},
		SessionsAfter: []string{}}
	for _, m := range r.Matched {
		row.Matched = append(row.Matched, m.Serial)
	}
	slices.Sort(row.Matched)
	return row
}

// lastCovering are the latest revocations covering serial or key made
// by at: those that ended a session at at (`gatehouse revoke --serial`
// of an agent revokes its key too, at the same time).
func lastCovering(revs audit.Revocations, serial uint64, key string, at time.Time) []int {
	var found []int
	for i, r := range revs {
		switch t := r.Revocation.RevokedAt; {
		case !r.Covers(serial, key) || t.After(at):
		case len(found) > 0 && t.Equal(revs[found[0]].Revocation.RevokedAt):
			found = append(found, i)
		case len(found) == 0 || t.After(revs[found[0]].Revocation.RevokedAt):
			found = []int{i}
		}
	}
	return found
}

func afterRevocation(s recorder.Summary, r audit.Revocation) exceptionRow {
	end := s.EndReason
	if end == "" {
		end = "open, or cut short"
	}
	return exceptionRow{Kind: exAfterRevocation, Session: s.ID, Time: utc(s.Start), Detail: fmt.Sprintf(
		"%s with certificate serial %d began after %s was revoked at %s (%s/%d); it opened %d channels, ran %d statements; end: %s",
		s.Identity, s.Serial, r.What(), utc(r.Revocation.RevokedAt), r.Stream, r.Seq, s.Channels, s.Statements, end)}
}

// namesRevoked says whether, with no scope, a revocation belongs in the
// bundle, or with one, whether it names one of its identities (or
// matched a certificate of one) while no target narrows it.
func (sc Scope) namesRevoked(r audit.Revocation) bool {
	if len(sc.Identities) == 0 && len(sc.Targets) == 0 {
		return true
	}
	if len(sc.Targets) > 0 {
		return false
	}
	return slices.Contains(sc.Identities, r.Revocation.Identity) ||
		slices.ContainsFunc(r.Matched, func(m event.RevokedCertificate) bool { return slices.Contains(sc.Identities, m.KeyID) })
}
