package evidence

import (
	"fmt"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/recorder"
)

// completenessRow is one count of the period's sessions, from one
// source; the rows reconcile (docs/evidence.md), and every session that
// makes them differ is an exception.
type completenessRow struct {
	Count  string `json:"count"`
	Value  int    `json:"value"`
	Source string `json:"source"`
}

var completenessHeader = []string{"count", "value", "source"}

func (r completenessRow) cells() []string {
	return []string{r.Count, strconv.Itoa(r.Value), cell(r.Source)}
}

// More exceptions' kinds: sessions the store, the manifests and the
// ledgers do not agree on.
const (
	exMissing      = "missing from the store"
	exUnregistered = "not in the ledgers"
	exNoManifest   = "closed without a manifest"
	exNotLocked    = "not locked"
)

// census is what reconcile needs of the period's sessions.
type census struct {
	listed      []recorder.Listed // every session the store lists in the period, in scope or not
	hasManifest map[string]bool   // of those, the ones with a manifest
	ledgers     *recorder.Ledgers
	stored      map[string]bool // every session stream the store lists, in any period
	haveLedger  bool            // the store holds a ledger at all
}

// takeCensus looks up what reconcile needs besides the listed sessions.
func takeCensus(src Source, listed []recorder.Listed, ledgers *recorder.Ledgers) (census, error) {
	c := census{listed: listed, hasManifest: map[string]bool{}, ledgers: ledgers, stored: map[string]bool{}}
	ids, err := src.List(recorder.KindSession)
	if err != nil {
		return c, fmt.Errorf("listing sessions: %w", err)
	}
	for _, id := range ids {
		c.stored[id] = true
	}
	if ids, err = src.List(recorder.KindLedger); err != nil {
		return c, fmt.Errorf("listing the ledgers: %w", err)
	}
	c.haveLedger = len(ids) > 0
	for _, s := range listed {
		if _, err := src.Manifest(recorder.KindSession, s.ID); err == nil {
			c.hasManifest[s.ID] = true
		}
	}
	return c, nil
}

// reconcile adds the counts of the period's sessions by the store, their
// manifests, the ledgers and the bundle, and as exceptions each session
// that makes them differ: registered by a ledger but missing from the
// store, stored but registered by no ledger (when the store has
// ledgers), ended without a manifest. Missing sessions are listed
// whatever the scope: whose they were is unknown.
func (p *populations) reconcile(c census, scope Scope) {
	opened := 0
	for _, op := range c.ledgers.Opened(recorder.KindSession) {
		if !scope.inPeriod(op.Time) {
			continue
		}
		opened++
		if !c.stored[op.Stream] {
			p.exceptions = append(p.exceptions, exceptionRow{Kind: exMissing, Session: op.Stream, Time: utc(op.Time),
				Detail: fmt.Sprintf("ledger %s registers it opened at seq %d; the store does not hold it", op.Ledger, op.Seq)})
		}
	}
	for _, s := range c.listed {
		if c.haveLedger && c.ledgers.Registered(recorder.KindSession, s.ID) == "" {
			p.exceptions = append(p.exceptions, exceptionRow{Kind: exUnregistered, Session: s.ID, Time: utc(s.Start),
				Detail: "the store holds it; no ledger registers it opened"})
		}
	}
	openAtEnd := 0
	for _, r := range p.sessions {
		openAtEnd += map[bool]int{true: 1}[r.OpenAtEnd]
	}
	p.completeness = []completenessRow{
		{"store", len(c.listed), "session streams the store lists begun in the period (any identity and target)"},
		{"manifests", len(c.hasManifest), "of those, with a session manifest (closed and signed)"},
		{"ledgers", opened, "sessions the ledgers register opened in the period"},
		{"bundle", len(p.sessions), "rows of sessions.csv (the scope's)"},
		{"open_at_end", openAtEnd, "of those, not ended by the period's end (marked open_at_end)"},
		{"exceptions", len(p.exceptions), "rows of exceptions.csv"},
	}
}

// noManifest is the exception of a session that recorded its end but
// whose manifest the store lacks.
func noManifest(s recorder.Listed) exceptionRow {
	return exceptionRow{Kind: exNoManifest, Session: s.ID, Time: utc(s.Start),
		Detail: "it recorded its end at " + utc(s.End) + ", but the store holds no manifest for it"}
}
