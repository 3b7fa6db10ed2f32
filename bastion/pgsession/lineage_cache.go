package pgsession

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy/lineage"
)

// lineageAnswers are the catalog lookups lineage made for one database
// and masking policy (a catalogCache key), shared by its sessions as the
// masking catalog is: otherwise each session's first statement over a
// relation waits for several catalog queries of its own. They are
// dropped when a session's DDL moves the database's generation on, and
// after catalogTTL, so that DDL made outside gatehouse is seen within it.
// Only answers are kept (found, or not found): a lookup that failed (a
// timeout, a lost connection) is asked again. The Relations handed out
// are shared and must not be changed.
type lineageAnswers struct {
	mu         sync.Mutex
	generation int
	since      time.Time
	relations  map[string]relationAnswer
	functions  map[string][]lineage.Function
}

type relationAnswer struct {
	rel lineage.Relation
	err error // nil or lineage.ErrNotFound
}

// lookupKey names a lookup: the search_path it was resolved under, the
// schema written (or none) and the name.
func lookupKey(searchPath []string, schema, name string) string {
	return strings.Join(searchPath, "\x00") + "\x01" + schema + "\x01" + name
}

// expire drops every answer when the database's generation is no longer
// the one they were read in, or they are older than catalogTTL.
func (a *lineageAnswers) expire(generation int, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.relations != nil && a.generation == generation && now.Sub(a.since) <= catalogTTL {
		return
	}
	a.relations, a.functions = map[string]relationAnswer{}, map[string][]lineage.Function{}
	a.generation, a.since = generation, now
}

func (a *lineageAnswers) relation(key string) (relationAnswer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.relations[key]
	return r, ok
}

// putRelation keeps an answer; a failed lookup is not one.
func (a *lineageAnswers) putRelation(key string, r relationAnswer) {
	if r.err != nil && !errors.Is(r.err, lineage.ErrNotFound) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.relations != nil {
		a.relations[key] = r
	}
}

func (a *lineageAnswers) function(key string) ([]lineage.Function, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.functions[key]
	return s, ok
}

func (a *lineageAnswers) putFunction(key string, fns []lineage.Function) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.functions != nil {
		a.functions[key] = fns
	}
}

// lineage returns the shared lineage answers of key.
func (c *catalogCache) lineage(key string) *lineageAnswers {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entry(key)
	if e.lineage == nil {
		e.lineage = &lineageAnswers{}
	}
	return e.lineage
}
