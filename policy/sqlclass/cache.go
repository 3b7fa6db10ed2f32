package sqlclass

import (
	"slices"
	"sync"
)

// DefaultCacheSize is the number of query strings a Classifier remembers
// when it is given no size.
const DefaultCacheSize = 4096

// MaxCachedLen is the longest query string a Classifier remembers, in
// bytes; longer ones are classified every time. It bounds the cache's
// memory at about size × MaxCachedLen.
const MaxCachedLen = 16 << 10

// Classifier is Classify with a bounded cache, safe for concurrent use.
//
// The cache is keyed by the exact query text (a Go map hashes it and
// compares it in full, so no two texts can share an entry). It is not
// keyed by fingerprint: a fingerprint leaves out what decides a
// classification — constants (set_config('role', ...) and
// set_config('work_mem', ...) share one), and everything nested deeper than
// 100 levels (a relation or a pg_read_file call deep in nested subqueries)
// — so a fingerprint-keyed entry would let a harmless statement vouch for
// a harmful one of the same shape. Clients that repeat a statement with
// different values use parameters ($1), which keep the text the same.
//
// When full, it forgets an arbitrary entry (Go's randomised map order),
// which costs nothing to track. The zero value is ready to use, with DefaultCacheSize.
type Classifier struct {
	size    int
	mu      sync.RWMutex
	entries map[string][]Statement
}

// NewClassifier returns a Classifier remembering up to size query strings;
// size <= 0 means DefaultCacheSize.
func NewClassifier(size int) *Classifier {
	return &Classifier{size: size}
}

// Classify is the package's Classify, answered from the cache when the
// same text was classified before. Errors are not cached. The result is
// the caller's own: changing it does not change the cache.
func (c *Classifier) Classify(sql string) ([]Statement, error) {
	if len(sql) > MaxCachedLen {
		return Classify(sql)
	}
	c.mu.RLock()
	sts, ok := c.entries[sql]
	c.mu.RUnlock()
	if ok {
		return cloneStatements(sts), nil
	}
	sts, err := Classify(sql)
	if err != nil {
		return nil, err
	}
	c.store(sql, sts)
	return cloneStatements(sts), nil
}

func (c *Classifier) store(sql string, sts []Statement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = make(map[string][]Statement)
	}
	size := c.size
	if size <= 0 {
		size = DefaultCacheSize
	}
	for k := range c.entries {
		if len(c.entries) < size {
			break
		}
		delete(c.entries, k)
	}
	c.entries[sql] = sts
}

func cloneStatements(sts []Statement) []Statement {
	out := slices.Clone(sts)
	for i := range out {
		s := &out[i]
		s.Kinds = slices.Clone(s.Kinds)
		s.Relations = slices.Clone(s.Relations)
		s.Functions = slices.Clone(s.Functions)
		s.Settings = slices.Clone(s.Settings)
		s.Executes = slices.Clone(s.Executes)
		if s.Prepared != nil {
			p := *s.Prepared
			p.Kinds = slices.Clone(p.Kinds)
			p.Relations = slices.Clone(p.Relations)
			p.Functions = slices.Clone(p.Functions)
			p.Settings = slices.Clone(p.Settings)
			s.Prepared = &p
		}
	}
	return out
}
