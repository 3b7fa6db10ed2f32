package sqlclass

import (
	"maps"
	"slices"
	"sync"
)

// DefaultCacheSize is the number of query strings, and separately of
// query shapes and of quick shapes, a Classifier remembers when it is
// given no size.
const DefaultCacheSize = 4096

// MaxCachedLen is the longest query string a Classifier remembers, in
// bytes; longer ones are classified every time. It bounds the cache's
// memory at about 2 × size × MaxCachedLen.
const MaxCachedLen = 16 << 10

// Classifier is Classify with a bounded cache, safe for concurrent use.
//
// It remembers results under two keys. The exact text (a Go map hashes it
// and compares it in full, so no two texts share an entry) answers clients
// that repeat a statement or use parameters ($1). The shape answers the
// clients that write a new literal into each statement (pgbench -S, many
// ORMs' simple protocol): the text's tokens from PostgreSQL's own scanner,
// with the value of each constant left out but its token type kept (see
// shapeOf). PostgreSQL's grammar decides the tree from token types alone,
// so two texts of one shape have the same tree but for constants' values;
// a result is remembered by shape only when the walk read no constant's
// value (walker.readsConstants: set_config('role', ...) and
// set_config('work_mem', ...) are one shape but not one classification).
//
// pg_query's fingerprint is not a key: besides constants it leaves out
// aliases and everything nested deeper than 100 levels, so an entry would
// let a harmless statement vouch for a harmful one.
//
// Before the shape, a quick shape (quick.go) is tried: a key made by a loop
// over the bytes, for texts whose only constants are short integers, which
// answers them without PostgreSQL's scanner; it holds only results that
// their shape holds too, so it answers exactly as the shape would.
//
// When full, a map forgets an arbitrary entry (Go's randomised map order),
// which costs nothing to track. The zero value is ready to use, with
// DefaultCacheSize.
type Classifier struct {
	size    int
	mu      sync.RWMutex
	entries map[string][]Statement
	shapes  map[string]shapeEntry
	quick   map[string]*quickEntry // by quick shape (quick.go)
}

// shapeEntry is a result remembered by shape. Statement texts and
// locations are the only parts that differ between texts of one shape, so
// each statement's text is kept as the range of tokens it spans.
type shapeEntry struct {
	statements []Statement
	spans      []tokenSpan
}

// NewClassifier returns a Classifier remembering up to size query strings,
// size shapes and size quick shapes; size <= 0 means DefaultCacheSize.
func NewClassifier(size int) *Classifier {
	return &Classifier{size: size}
}

// Classify is the package's Classify, answered from the cache when the
// same text, or a text of the same shape, was classified before. Errors
// are not cached. The result is the caller's own: changing it does not
// change the cache.
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
	var kbuf [256]byte // on the stack for a statement of common length
	var cbuf [8]quickSpan
	qkey, consts, quick := quickShapeOf(kbuf[:0], cbuf[:0], sql)
	if quick {
		c.mu.RLock()
		e, ok := c.quick[string(qkey)]
		c.mu.RUnlock()
		if ok {
			return e.forText(sql, consts), nil
		}
	}
	sh, shaped := shapeOf(sql)
	if shaped {
		c.mu.RLock()
		e, ok := c.shapes[sh.key]
		c.mu.RUnlock()
		if ok {
			if sts, ok := e.forText(sql, sh); ok {
				c.storeQuick(qkey, quick, sts, sh, consts)
				return sts, nil
			}
		}
	}
	sts, readsConstants, err := classify(sql)
	if err != nil {
		return nil, err
	}
	var e *shapeEntry
	if shaped && !readsConstants {
		e = newShapeEntry(sts, sh)
	}
	c.store(sql, sts, sh.key, e)
	if e != nil {
		c.storeQuick(qkey, quick, sts, sh, consts)
	}
	return cloneStatements(sts), nil
}

func (c *Classifier) store(sql string, sts []Statement, shapeKey string, e *shapeEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	makeRoom(c.entries, c.capacity())
	c.entries[sql] = sts
	if e != nil {
		makeRoom(c.shapes, c.capacity())
		c.shapes[shapeKey] = *e
	}
}

// storeQuick remembers by quick shape a result that its shape answers
// (sts, of a text whose shape is sh), when the text has a quick shape and
// the scanner's constants in it are its integers.
func (c *Classifier) storeQuick(qkey []byte, quick bool, sts []Statement, sh shape, consts []quickSpan) {
	if !quick || !quickConstsMatch(sh.tokens, consts) {
		return
	}
	e := newQuickEntry(cloneStatements(sts), consts)
	if e == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.init()
	makeRoom(c.quick, c.capacity())
	c.quick[string(qkey)] = e
}

func (c *Classifier) init() {
	if c.entries == nil {
		c.entries = make(map[string][]Statement)
		c.shapes = make(map[string]shapeEntry)
		c.quick = make(map[string]*quickEntry)
	}
}

func (c *Classifier) capacity() int {
	if c.size <= 0 {
		return DefaultCacheSize
	}
	return c.size
}

func makeRoom[V any](m map[string]V, size int) {
	for k := range m {
		if len(m) < size {
			break
		}
		delete(m, k)
	}
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
		if s.Copy != nil {
			c := *s.Copy
			c.Options = maps.Clone(c.Options)
			s.Copy = &c
		}
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
