package sqlclass

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// TestQuickShape: which texts have a quick shape, and what it leaves out.
func TestQuickShape(t *testing.T) {
	tests := []struct {
		sql    string
		key    string // "" for no quick shape; \x00 stands for an integer
		consts int
	}{
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 42;", "SELECT abalance FROM pgbench_accounts WHERE aid = \x00;", 1},
		{"UPDATE t1 SET x=-7 WHERE id IN (1,22,333)", "UPDATE t1 SET x=-\x00 WHERE id IN (\x00,\x00,\x00)", 4},
		{"SELECT a[1:2]::int4 FROM s.t", "SELECT a[\x00:\x00]::int4 FROM s.t", 2},
		{"SELECT 123456789", "SELECT \x00", 1},
		{"", "", 0},
		{"SELECT 1234567890", "", 0},  // may not fit int4: FCONST
		{"SELECT 1.5", "", 0},         // a point
		{"SELECT .5", "", 0},          // a point before
		{"SELECT 1e5", "", 0},         // an exponent
		{"SELECT 0x1f", "", 0},        // hexadecimal
		{"SELECT 1_000", "", 0},       // an underscore
		{"SELECT 1abc", "", 0},        // junk after a number
		{"SELECT $1", "", 0},          // a parameter
		{"SELECT 'x'", "", 0},         // a string
		{`SELECT "A1"`, "", 0},        // a quoted identifier
		{"SELECT 1 -- c", "", 0},      // a comment
		{"SELECT /* c */ 1", "", 0},   // a comment
		{"SELECT 1 +-- c\n 2", "", 0}, // a comment after an operator
		{"SELECT 'é'", "", 0},         // not ASCII
		{"SELECT\f1", "", 0},          // a blank the loop does not take
		{"SELECT E'\\x'", "", 0},
	}
	for _, tt := range tests {
		key, consts, ok := quickShapeOf(nil, nil, tt.sql)
		if want := tt.key != "" || tt.sql == ""; ok != want {
			t.Errorf("%q: quick shape %v, want %v", tt.sql, ok, want)
			continue
		}
		if ok && (string(key) != tt.key || len(consts) != tt.consts) {
			t.Errorf("%q: key %q with %d integers, want %q with %d", tt.sql, key, len(consts), tt.key, tt.consts)
		}
	}
}

// TestQuickShapeAnswersAsTheParser runs a corpus both ways: each text is
// asked after another of its quick shape was seen, and the answer, which
// comes from the quick shape, is the parser's.
func TestQuickShapeAnswersAsTheParser(t *testing.T) {
	pairs := []struct{ seen, asked string }{
		{"SELECT abalance FROM pgbench_accounts WHERE aid = 1;", "SELECT abalance FROM pgbench_accounts WHERE aid = 987654321;"},
		{"BEGIN; UPDATE t SET x = 1 WHERE id = 2; COMMIT", "BEGIN; UPDATE t SET x = 17 WHERE id = 42; COMMIT"},
		{"SELECT 1;SELECT 22;SELECT 333", "SELECT 4444;SELECT 5;SELECT 66"},
		{"  SELECT 1 , 2 ;  ", "  SELECT 100000 , 25 ;  "},
		{"SELECT * FROM t WHERE a IN (1, 2) ORDER BY 1 LIMIT 10 OFFSET 5", "SELECT * FROM t WHERE a IN (3, 4) ORDER BY 2 LIMIT 1 OFFSET 50"},
		{"SELECT a[1:2] FROM t", "SELECT a[10:20] FROM t"},
		{"INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, -4, now())", "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (10, 20, 30, -40, now())"},
		{"SELECT x::varchar(10) FROM t", "SELECT x::varchar(200) FROM t"},
		{"DELETE FROM t WHERE id = 1 RETURNING *", "DELETE FROM t WHERE id = 123 RETURNING *"},
		{"PREPARE p AS SELECT * FROM t WHERE id = 1; EXECUTE p", "PREPARE p AS SELECT * FROM t WHERE id = 12; EXECUTE p"},
	}
	for _, p := range pairs {
		c := NewClassifier(0)
		if _, err := c.Classify(p.seen); err != nil {
			t.Fatalf("%q: %v", p.seen, err)
		}
		if len(c.quick) != 1 {
			t.Errorf("%q was not remembered by quick shape", p.seen)
			continue
		}
		shapes := len(c.shapes)
		got, err := c.Classify(p.asked)
		want, errWant := Classify(p.asked)
		if err != nil || errWant != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q after %q: quick %+v, %v; parser %+v, %v", p.asked, p.seen, got, err, want, errWant)
		}
		if len(c.entries) != 1 || len(c.shapes) != shapes {
			t.Errorf("%q was not answered from its quick shape", p.asked)
		}
	}
}

// TestQuickShapeIsTheOneAsked: the quick shape answers without the
// scanner: a result planted under it is what comes back (so the tests
// above exercise it, not the shape behind it).
func TestQuickShapeIsTheOneAsked(t *testing.T) {
	c := NewClassifier(0)
	if _, err := c.Classify("SELECT * FROM t WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	for _, e := range c.quick {
		e.statements[0].Relations = []string{"planted"}
	}
	got, err := c.Classify("SELECT * FROM t WHERE id = 2")
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0].Relations, []string{"planted"}) {
		t.Fatalf("got %+v, %v; want the planted result", got, err)
	}
}

// TestQuickShapeKeepsValuesApart: a text whose answer depends on a
// constant, or whose integers the scanner reads as another token, is not
// remembered by quick shape.
func TestQuickShapeKeepsValuesApart(t *testing.T) {
	for _, sql := range []string{
		"EXPLAIN (ANALYZE 0) DELETE FROM t", // reads its constant
		"SELECT set_config(current_setting(1), 2, false)",
	} {
		c := NewClassifier(0)
		if _, err := c.Classify(sql); err != nil {
			t.Fatalf("%q: %v", sql, err)
		}
		if len(c.quick) != 0 {
			t.Errorf("%q remembered by quick shape", sql)
		}
	}
}

// BenchmarkClassifyNewLiteral is pgbench -S's statement with a new aid
// each time, as its clients send it: no two texts alike, one shape.
func BenchmarkClassifyNewLiteral(b *testing.B) {
	c := NewClassifier(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Classify("SELECT abalance FROM pgbench_accounts WHERE aid = " + strconv.Itoa(1+i%1_000_000) + ";"); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzClassifierQuickShape: after any text, a text with other digits in
// place of each run of digits (of other lengths, some too long for int4)
// is answered as the parser answers it, from the quick shape or not.
func FuzzClassifierQuickShape(f *testing.F) {
	for _, s := range []string{
		"SELECT abalance FROM pgbench_accounts WHERE aid = 1",
		"UPDATE t1 SET x = -7 WHERE id IN (1, 22, 333)",
		"EXPLAIN (ANALYZE 0) DELETE FROM t",
		"SELECT a[1:2]::numeric(10,2) FROM s1.t2 LIMIT 5",
		"SELECT 1;SELECT 22 ; BEGIN;COMMIT",
	} {
		f.Add(s, uint64(1))
	}
	f.Fuzz(func(t *testing.T, sql string, seed uint64) {
		variant := otherDigits(sql, seed)
		c := NewClassifier(8)
		c.Classify(sql)
		got, errGot := c.Classify(variant)
		want, errWant := Classify(variant)
		if (errGot == nil) != (errWant == nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q after %q: cached %+v, %v; parser %+v, %v", variant, sql, got, errGot, want, errWant)
		}
	})
}

// otherDigits replaces every run of ASCII digits in sql with digits of a
// length from 1 to 12, chosen by seed.
func otherDigits(sql string, seed uint64) string {
	var b strings.Builder
	for i := 0; i < len(sql); {
		if sql[i] < '0' || sql[i] > '9' {
			b.WriteByte(sql[i])
			i++
			continue
		}
		for i < len(sql) && sql[i] >= '0' && sql[i] <= '9' {
			i++
		}
		seed = seed*6364136223846793005 + 1442695040888963407
		for n := 1 + int(seed>>60)%12; n > 0; n-- {
			b.WriteByte('0' + byte(seed>>(n*4))%10)
		}
	}
	return b.String()
}
