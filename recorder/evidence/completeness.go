package evidence

import (
	"fmt"
	"slices"
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

// census is what reconcile needs of the store besides its sessions.
type census struct {
	stored     []string // every session stream the store lists, in any period, sorted
	ledgers    *recorder.Ledgers
	haveLedger bool // the store holds a ledger at all
}

// tally counts the period's sessions as they are read.
type tally struct {
	listed    int // session streams the store lists begun in the period
	manifests int // of those, with a manifest
	bundle    int // rows of sessions.csv
	openAtEnd int // of those, open at the period's end
}

func (t *tally) addSession(r sessionRow) {
	t.bundle++
	if r.OpenAtEnd {
		t.openAtEnd++
	}
}

// takeCensus lists the store's sessions and ledgers.
func takeCensus(src Source, ledgers *recorder.Ledgers) (census, error) {
	c := census{ledgers: ledgers}
	ids, err := src.List(recorder.KindSession)
	if err != nil {
		return c, fmt.Errorf("listing sessions: %w", err)
	}
	slices.Sort(ids)
	c.stored = ids
	if ids, err = src.List(recorder.KindLedger); err != nil {
		return c, fmt.Errorf("listing the ledgers: %w", err)
	}
	c.haveLedger = len(ids) > 0
	return c, nil
}

// reconcile adds the counts of the period's sessions by the store, their
// manifests, the ledgers and the bundle, and as exceptions the sessions
// registered by a ledger but missing from the store (listed whatever the
// scope: whose they were is unknown). Those stored but registered by no
// ledger (when the store has ledgers), and those ended without a
// manifest, were added as they were read.
func (p *populations) reconcile(c census, scope Scope) error {
	opened := 0
	for _, op := range c.ledgers.Opened(recorder.KindSession) {
		if !scope.inPeriod(op.Time) {
			continue
		}
		opened++
		if _, stored := slices.BinarySearch(c.stored, op.Stream); !stored {
			ex := exceptionRow{Kind: exMissing, Session: op.Stream, Time: utc(op.Time),
				Detail: fmt.Sprintf("ledger %s registers it opened at seq %d; the store does not hold it", op.Ledger, op.Seq)}
			if err := p.exceptions.add(heldException{Row: ex}); err != nil {
				return err
			}
		}
	}
	t := p.tally
	p.completeness = []completenessRow{
		{"store", t.listed, "session streams the store lists begun in the period (any identity and target)"},
		{"manifests", t.manifests, "of those, with a session manifest (closed and signed)"},
		{"ledgers", opened, "sessions the ledgers register opened in the period"},
		{"bundle", t.bundle, "rows of sessions.csv (the scope's)"},
		{"open_at_end", t.openAtEnd, "of those, not ended by the period's end (marked open_at_end)"},
		{"exceptions", p.exceptions.n, "rows of exceptions.csv"},
	}
	return nil
}

// noManifest is the exception of a session that recorded its end but
// whose manifest the store lacks.
func noManifest(s recorder.Listed) exceptionRow {
	return exceptionRow{Kind: exNoManifest, Session: s.ID, Time: utc(s.Start),
		Detail: "it recorded its end at " + utc(s.End) + ", but the store holds no manifest for it"}
}
