package pgsession

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy/lineage"
)

// TestLineageAnswersShared: the answers of one database are shared by its
// sessions, dropped when its generation moves on or they are older than
// catalogTTL, and a failed lookup is not kept.
func TestLineageAnswersShared(t *testing.T) {
	var cache catalogCache
	start := time.Unix(1_700_000_000, 0)
	a := cache.lineage("orders/app/pii")
	if b := cache.lineage("orders/app/pii"); b != a {
		t.Fatal("two sessions of one database got different answers")
	}
	if b := cache.lineage("billing/app/pii"); b == a {
		t.Fatal("two databases share answers")
	}
	a.expire(0, start)
	key := lookupKey([]string{"public"}, "", "customers")
	a.putRelation(key, relationAnswer{rel: lineage.Relation{Schema: "public", Name: "customers"}})
	missing := lookupKey([]string{"public"}, "", "nothing")
	a.putRelation(missing, relationAnswer{err: lineage.ErrNotFound})
	failed := lookupKey([]string{"public"}, "", "timedout")
	a.putRelation(failed, relationAnswer{err: errors.New("looking up relation timedout: timeout")})
	a.putFunction(lookupKey([]string{"public"}, "", "f"), []lineage.Function{{Schema: "public"}})

	a.expire(0, start.Add(catalogTTL)) // same generation, not older than the TTL: kept
	if r, ok := a.relation(key); !ok || r.rel.Name != "customers" {
		t.Fatalf("answer lost within its TTL: %+v %v", r, ok)
	}
	if r, ok := a.relation(missing); !ok || !errors.Is(r.err, lineage.ErrNotFound) {
		t.Fatalf("not-found answer: %+v %v", r, ok)
	}
	if _, ok := a.relation(failed); ok {
		t.Fatal("a failed lookup was kept")
	}
	if s, ok := a.function(lookupKey([]string{"public"}, "", "f")); !ok || len(s) != 1 {
		t.Fatalf("functions: %v %v", s, ok)
	}

	a.expire(1, start.Add(time.Second)) // DDL moved the generation on
	if _, ok := a.relation(key); ok {
		t.Fatal("answer kept after the generation moved on")
	}
	a.putRelation(key, relationAnswer{rel: lineage.Relation{Name: "customers"}})
	a.expire(1, start.Add(time.Second+catalogTTL+time.Nanosecond))
	if _, ok := a.relation(key); ok {
		t.Fatal("answer kept past catalogTTL")
	}
	if _, ok := a.function(lookupKey([]string{"public"}, "", "f")); ok {
		t.Fatal("functions kept past catalogTTL")
	}
}

// TestTextArray: each value is quoted, with its backslashes and double
// quotes escaped, so that PostgreSQL reads back exactly the values.
func TestTextArray(t *testing.T) {
	got := string(textArray([]string{"public", `we"ird`, `back\slash`, ""}))
	if want := `{"public","we\"ird","back\\slash",""}`; got != want {
		t.Fatalf("textArray = %s, want %s", got, want)
	}
}
