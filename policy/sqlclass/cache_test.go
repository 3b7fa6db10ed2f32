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

// TestClassifierShapes: a text of a shape seen before is answered from the
// shape, with its own statement texts and locations, and the answer is
// the parser's.
func TestClassifierShapes(t *testing.T) {
	pairs := []struct{ name, seen, asked string }{
		{"integer", "SELECT abalance FROM pgbench_accounts WHERE aid = 1;", "SELECT abalance FROM pgbench_accounts WHERE aid = 987654;"},
		{"strings of other lengths", "SELECT * FROM t WHERE a = 'x' AND b = $$y$$", "SELECT * FROM t WHERE a = 'longer ''quoted''' AND b = $q$ ; DELETE FROM t $q$"},
		{"layout", "  SELECT 1 ,2 ; ", "SELECT 100000,\n\t25;\n"},
		{"several statements", "BEGIN; UPDATE t SET x = 1 WHERE id = 2; COMMIT", "BEGIN;UPDATE t SET x = 17 WHERE id = 42;   COMMIT"},
		{"comments", "/* a */ SELECT 1 -- b", "/* a */ SELECT 2222 -- b"},
		{"negative", "SELECT -1", "SELECT - 12"},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			c := NewClassifier(0)
			if _, err := c.Classify(p.seen); err != nil {
				t.Fatal(err)
			}
			if len(c.shapes) != 1 {
				t.Fatalf("%q was not remembered by shape", p.seen)
			}
			got, err := c.Classify(p.asked)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.entries) != 1 {
				t.Fatalf("%q was parsed, not answered from its shape", p.asked)
			}
			want, err := Classify(p.asked)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("from the shape %+v, from the parser %+v", got, want)
			}
		})
	}
}

// TestClassifierShapeKeepsValuesApart: texts whose classification depends
// on a constant's value are never answered by shape, and texts that differ
// in anything but constants' values are different shapes.
func TestClassifierShapeKeepsValuesApart(t *testing.T) {
	pairs := []struct{ name, seen, asked string }{
		{"set_config name", "SELECT set_config('work_mem', '1MB', false)", "SELECT set_config('role', 'admin', false)"},
		{"set_config in a PREPARE", "PREPARE p AS SELECT set_config('work_mem', '1', false)", "PREPARE p AS SELECT set_config('role', '1', false)"},
		{"COPY file name", "COPY t FROM ''", "COPY t FROM '/etc/passwd'"},
		{"EXPLAIN option", "EXPLAIN (ANALYZE 'off') UPDATE t SET x = 1", "EXPLAIN (ANALYZE 'on') UPDATE t SET x = 1"},
		{"EXPLAIN option number", "EXPLAIN (ANALYZE 0) DELETE FROM t", "EXPLAIN (ANALYZE 1) DELETE FROM t"},
		{"keyword for a constant", "SELECT NULL", "SELECT 1"},
		{"parameter for a constant", "SELECT set_config($1, 'x', false)", "SELECT set_config('role', 'x', false)"},
		{"identifier for a constant", "SELECT * FROM t WHERE a = 'x'", "SELECT * FROM t WHERE a = x"},
		{"another token type", "SELECT * FROM t LIMIT 1", "SELECT * FROM t LIMIT 1.5"},
		{"another relation", "SELECT * FROM public_data WHERE id = 1", "SELECT * FROM customers WHERE id = 1"},
	}
	for _, p := range pairs {
		t.Run(p.name, func(t *testing.T) {
			c := NewClassifier(0)
			if _, err := c.Classify(p.seen); err != nil {
				t.Fatal(err)
			}
			got, err := c.Classify(p.asked)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.entries) != 2 {
				t.Errorf("%q was answered from the shape of %q", p.asked, p.seen)
			}
			want, _ := Classify(p.asked)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("cached %+v, from the parser %+v", got, want)
			}
		})
	}
}
