package evidence

import (
	"container/heap"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Sorting runs: a sorter holds at most sortRunRows rows, and keeps at
// most mergeWidth runs (the newest are merged into one when there are
// more), each read through a runBuffer, so that what it holds (memory
// and open files) does not grow with the period.
var (
	sortRunRows = 1 << 13
	mergeWidth  = 32
)

const runBuffer = 4 << 10

// sorter puts in order rows too many to hold (the denials, exceptions
// and report lines of a period): it holds up to sortRunRows of them,
// writes them sorted to a temporary file (a run) when full, and merges
// the runs when read. Rows that compare equal come out in the order
// they were added. Runs are gob, which keeps strings exactly but reads
// an empty slice back as nil: rows that reach JSON with slices go
// through no sorter.
type sorter[R any] struct {
	dir, name string
	cmp       func(a, b R) int
	held      []R
	runs      []*spool
	spools    *[]*spool
	n         int
}

func newSorter[R any](dir, name string, cmp func(a, b R) int, spools *[]*spool) *sorter[R] {
	return &sorter[R]{dir: dir, name: name, cmp: cmp, spools: spools}
}

// add takes one row.
func (s *sorter[R]) add(r R) error {
	s.held = append(s.held, r)
	s.n++
	if len(s.held) < sortRunRows {
		return nil
	}
	return s.spill()
}

// spill writes the rows held, sorted, as a run.
func (s *sorter[R]) spill() error {
	slices.SortStableFunc(s.held, s.cmp)
	run, err := s.newRun()
	if err != nil {
		return err
	}
	enc := gob.NewEncoder(run)
	for _, r := range s.held {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("evidence: sorting %s: %w", s.name, err)
		}
	}
	clear(s.held)
	s.held = s.held[:0]
	if err := run.seal(); err != nil {
		return fmt.Errorf("evidence: sorting %s: %w", s.name, err)
	}
	s.runs = append(s.runs, run)
	if len(s.runs) > mergeWidth {
		return s.mergeLast()
	}
	return nil
}

func (s *sorter[R]) newRun() (*spool, error) {
	run, err := newSpool(s.dir, s.name+"-run")
	if err != nil {
		return nil, err
	}
	*s.spools = append(*s.spools, run)
	return run, nil
}

// each calls fn with every row in order, and stops at its first error.
// It may be called again, and gives the same rows.
func (s *sorter[R]) each(fn func(R) error) error {
	if len(s.runs) == 0 {
		slices.SortStableFunc(s.held, s.cmp)
		for _, r := range s.held {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.held) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
	}
	return s.merge(s.runs, fn)
}

// mergeLast merges the newest mergeWidth/2 runs into one, in their
// place: runs are in the order their rows were added, which is their
// rows' order among equals. Runs thus grow geometrically, and each row
// is merged again only a few times.
func (s *sorter[R]) mergeLast() error {
	k := len(s.runs) - max(mergeWidth/2, 2)
	last := s.runs[k:]
	merged, err := s.newRun()
	if err != nil {
		return err
	}
	enc := gob.NewEncoder(merged)
	if err := s.merge(last, func(r R) error { return enc.Encode(r) }); err != nil {
		return fmt.Errorf("evidence: sorting %s: %w", s.name, err)
	}
	if err := merged.seal(); err != nil {
		return fmt.Errorf("evidence: sorting %s: %w", s.name, err)
	}
	for _, r := range last {
		r.remove()
	}
	s.runs = append(s.runs[:k], merged)
	return nil
}

// merge calls fn with the rows of runs in order, the earlier run's first
// among equals.
func (s *sorter[R]) merge(runs []*spool, fn func(R) error) error {
	h := &runHeap[R]{cmp: s.cmp}
	for i, run := range runs {
		r, err := run.reader(runBuffer)
		if err != nil {
			return fmt.Errorf("evidence: sorting %s: %w", s.name, err)
		}
		c := &runCursor[R]{dec: gob.NewDecoder(r), index: i}
		if ok, err := c.next(); err != nil {
			return fmt.Errorf("evidence: sorting %s: %w", s.name, err)
		} else if ok {
			h.cursors = append(h.cursors, c)
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		c := h.cursors[0]
		if err := fn(c.row); err != nil {
			return err
		}
		ok, err := c.next()
		if err != nil {
			return fmt.Errorf("evidence: sorting %s: %w", s.name, err)
		}
		if ok {
			heap.Fix(h, 0)
		} else {
			heap.Pop(h)
		}
	}
	return nil
}

// runCursor is a run being merged, and its next row.
type runCursor[R any] struct {
	dec   *gob.Decoder
	row   R
	index int
}

func (c *runCursor[R]) next() (bool, error) {
	var r R
	err := c.dec.Decode(&r)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	c.row = r
	return err == nil, err
}

// runHeap orders runs by their next rows, then by their order.
type runHeap[R any] struct {
	cursors []*runCursor[R]
	cmp     func(a, b R) int
}

func (h *runHeap[R]) Len() int { return len(h.cursors) }
func (h *runHeap[R]) Less(i, j int) bool {
	a, b := h.cursors[i], h.cursors[j]
	if c := h.cmp(a.row, b.row); c != 0 {
		return c < 0
	}
	return a.index < b.index
}
func (h *runHeap[R]) Swap(i, j int) { h.cursors[i], h.cursors[j] = h.cursors[j], h.cursors[i] }
func (h *runHeap[R]) Push(x any)    { h.cursors = append(h.cursors, x.(*runCursor[R])) }
func (h *runHeap[R]) Pop() any {
	c := h.cursors[len(h.cursors)-1]
	h.cursors = h.cursors[:len(h.cursors)-1]
	return c
}
