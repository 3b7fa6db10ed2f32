package sqlclass

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestClassifierMatchesClassify(t *testing.T) {
	c := NewClassifier(4)
	queries := []string{
		"SELECT 1",
		"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
		"PREPARE p AS UPDATE t SET x = 1; EXECUTE p",
		"SELECT set_config('role', 'x', false)",
		"SELECT set_config('work_mem', 'x', false)",
		"BEGIN READ WRITE; RESET ALL",
		"",
	}
	for round := range 3 {
		for _, q := range queries {
			want, err := Classify(q)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Classify(q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round %d, %q: cached %+v, uncached %+v", round, q, got, want)
			}
		}
	}
	if n := len(c.entries); n > 4 {
		t.Errorf("cache holds %d entries, more than its size 4", n)
	}
}

func TestClassifierResultIsTheCallers(t *testing.T) {
	c := NewClassifier(0)
	q := "PREPARE p AS DELETE FROM t WHERE set_config('role', 'x', false) = ''"
	first, _ := c.Classify(q)
	first[0].Kinds[0] = "select"
	first[0].Relations[0] = "elsewhere"
	first[0].Settings[0] = "work_mem"
	first[0].Prepared.Kinds[0] = "select"
	first[0].Prepared.Settings[0] = "work_mem"
	again, _ := c.Classify(q)
	if again[0].Kinds[0] != "prepare" || again[0].Relations[0] != "t" || again[0].Settings[0] != "role" ||
		again[0].Prepared.Kinds[0] != "delete" || again[0].Prepared.Settings[0] != "role" {
		t.Errorf("a caller's change reached the cache: %+v %+v", again[0], again[0].Prepared)
	}
}

func TestClassifierErrorsAndLongText(t *testing.T) {
	var c Classifier // the zero value works
	for range 2 {
		if _, err := c.Classify("SELEC 1"); err == nil {
			t.Fatal("no error for a syntax error")
		}
	}
	long := "SELECT 1" + strings.Repeat(" ", MaxCachedLen)
	if sts, err := c.Classify(long); err != nil || len(sts) != 1 {
		t.Fatalf("long text: %v, %v", sts, err)
	}
	if _, ok := c.entries[long]; ok {
		t.Error("text longer than MaxCachedLen was cached")
	}
	if _, ok := c.entries["SELEC 1"]; ok {
		t.Error("an error was cached")
	}
}

func TestClassifierConcurrent(t *testing.T) {
	c := NewClassifier(16)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				q := fmt.Sprintf("SELECT * FROM t%d WHERE x = %d", (g+i)%32, i%5)
				sts, err := c.Classify(q)
				if err != nil || len(sts) != 1 || sts[0].Relations[0] != fmt.Sprintf("t%d", (g+i)%32) {
					t.Errorf("%q: %+v, %v", q, sts, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func benchQueries() []string {
	return []string{
		"SELECT id, email FROM public.customers WHERE id = $1",
		"WITH d AS (DELETE FROM orders WHERE created_at < now() - interval '1 year' RETURNING *) INSERT INTO archive SELECT * FROM d",
		"SELECT c.id, count(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id WHERE c.country = $1 GROUP BY c.id ORDER BY 2 DESC LIMIT 10",
	}
}

func BenchmarkClassifyUncached(b *testing.B) {
	qs := benchQueries()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Classify(qs[i%len(qs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassifyCached(b *testing.B) {
	qs := benchQueries()
	c := NewClassifier(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Classify(qs[i%len(qs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassifyCachedParallel(b *testing.B) {
	qs := benchQueries()
	c := NewClassifier(0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Classify(qs[i%len(qs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
