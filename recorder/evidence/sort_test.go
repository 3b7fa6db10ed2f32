package evidence

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

// TestSorterOrdersAcrossRuns: rows come out in order, equal ones in the
// order added, whether they were held, spilled to a few runs, or to
// more runs than are merged at once; a second read gives them again, and
// the runs are removed with the spools.
func TestSorterOrdersAcrossRuns(t *testing.T) {
	type kv struct {
		Key   int
		Added int
	}
	for _, c := range []struct{ rows, runRows, width int }{{50, 100, 4}, {500, 64, 32}, {1000, 7, 4}, {1000, 1, 2}} {
		t.Run(fmt.Sprintf("%d rows, runs of %d, merged %d at once", c.rows, c.runRows, c.width), func(t *testing.T) {
			withSortLimits(t, c.runRows, c.width)
			dir := t.TempDir()
			var spools []*spool
			s := newSorter(dir, "test", func(a, b kv) int { return cmp.Compare(a.Key, b.Key) }, &spools)
			want := make([]kv, c.rows)
			for i := range want {
				want[i] = kv{Key: rand.IntN(c.rows / 5), Added: i}
				if err := s.add(want[i]); err != nil {
					t.Fatal(err)
				}
			}
			slices.SortStableFunc(want, func(a, b kv) int { return cmp.Compare(a.Key, b.Key) })
			for read := range 2 {
				var got []kv
				if err := s.each(func(r kv) error { got = append(got, r); return nil }); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("read %d: %d rows out of order or lost (want %d)", read+1, len(got), len(want))
				}
			}
			if c.rows > c.runRows && len(s.runs) > mergeWidth {
				t.Errorf("%d runs kept, more than %d", len(s.runs), mergeWidth)
			}
			for _, sp := range spools {
				sp.remove()
			}
			if left, _ := os.ReadDir(dir); len(left) > 0 {
				t.Errorf("%d files left after the spools were removed", len(left))
			}
		})
	}
}

// withSortLimits sets the sorters' limits for the rest of the test.
func withSortLimits(t *testing.T, rows, width int) {
	old := [2]int{sortRunRows, mergeWidth}
	t.Cleanup(func() { sortRunRows, mergeWidth = old[0], old[1] })
	sortRunRows, mergeWidth = rows, width
}
