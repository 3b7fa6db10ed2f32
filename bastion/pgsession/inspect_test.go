package pgsession

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// statementPolicies are the statement policies the inspect tests judge
// by: a read-only one with a statement timeout, and one that allows
// every kind and sets no timeout, so that only the walls refuse.
var statementPolicies = &policy.Config{Statements: map[string]policy.StatementPolicy{
	"reader": {
		Allow:            []sqlkind.Kind{sqlkind.Select, sqlkind.Prepare, sqlkind.Execute, sqlkind.Set, sqlkind.Show, sqlkind.Transaction},
		DenyRelations:    []string{"secrets"},
		StatementTimeout: policy.Duration(5 * time.Second),
	},
	"writer": {Allow: []sqlkind.Kind{sqlkind.All}},
}}

// policySession is a session under statement policy name, as authorize
// leaves it, with no database behind it: inspect needs none.
func policySession(t testing.TB, name string) *pgSession {
	t.Helper()
	p, err := New(Config{Policy: statementPolicies})
	if err != nil {
		t.Fatal(err)
	}
	return &pgSession{p: p, policyName: name, readOnly: statementPolicies.ReadOnly(name),
		prepared: map[string]preparedStatement{}}
}

// TestInspect judges SQL strings by the statement policy: each statement
// of a string must be allowed, EXECUTE is judged by what it runs and
// refused when gatehouse did not see it prepared, the settings that back
// the policy up cannot be changed, and what does not parse is answered
// as PostgreSQL would.
func TestInspect(t *testing.T) {
	tests := []struct {
		name   string
		policy string
		before []string // strings inspected first, in the same session
		// prepared are statements the session saw prepared in SQL before.
		prepared map[string]preparedStatement
		sql      string
		allow    bool
		rule     string // the deciding rule recorded
		msg      string // in the client's message, when refused
		code     string
		pos      int
	}{
		{name: "allowed", policy: "reader", sql: "SELECT * FROM orders", allow: true, rule: "statements.reader.allow"},
		{name: "no policy", policy: "", sql: "DELETE FROM orders", allow: true, rule: "statements: unset"},
		{name: "kind not allowed", policy: "reader", sql: "DELETE FROM orders",
			rule: "statements.reader.allow: delete not listed", msg: `gatehouse: delete not allowed by statement policy "reader"`},
		{name: "relation denied", policy: "reader", sql: "SELECT * FROM secrets",
			rule: "statements.reader.deny_relations: secrets", msg: "relation secrets not allowed"},
		{name: "every statement of a string", policy: "reader", sql: "SELECT 1; DELETE FROM orders",
			rule: "statements.reader.allow: delete not listed", msg: "delete not allowed"},
		{name: "execute of a statement never prepared", policy: "reader", sql: "EXECUTE q",
			rule: "execute", msg: "gatehouse: EXECUTE q refused: gatehouse did not see that statement prepared in this session"},
		{name: "prepare then execute in one string", policy: "reader", sql: "PREPARE q AS SELECT 1; EXECUTE q",
			allow: true, rule: "statements.reader.allow"},
		{name: "execute of a statement prepared before", policy: "reader", before: []string{"PREPARE q AS SELECT * FROM orders"},
			sql: "EXECUTE q", allow: true, rule: "statements.reader.allow"},
		{name: "execute judged by what it runs", policy: "reader", sql: "PREPARE q AS SELECT * FROM secrets; EXECUTE q",
			rule: "statements.reader.deny_relations: secrets", msg: "relation secrets not allowed"},
		{name: "prepare of a refused string is forgotten", policy: "reader", before: []string{"PREPARE q AS SELECT 1; DELETE FROM orders"},
			sql: "EXECUTE q", rule: "execute", msg: "EXECUTE q refused"},
		{name: "wall: read-only default", policy: "reader", sql: "SET default_transaction_read_only = off",
			rule: "walls", msg: "changing default_transaction_read_only is not allowed"},
		{name: "wall: read-only transaction", policy: "reader", sql: "SET transaction_read_only = off",
			rule: "walls", msg: "changing transaction_read_only is not allowed"},
		{name: "no read-only wall for a writer", policy: "writer", sql: "SET default_transaction_read_only = off",
			allow: true, rule: "statements.writer.allow"},
		{name: "wall: statement timeout", policy: "reader", sql: "SET statement_timeout = 0",
			rule: "walls", msg: "changing statement_timeout is not allowed"},
		{name: "no timeout wall without a timeout", policy: "writer", sql: "SET statement_timeout = 0",
			allow: true, rule: "statements.writer.allow"},
		{name: "wall: standard_conforming_strings", policy: "writer", sql: "SET standard_conforming_strings = off",
			rule: "walls", msg: "changing standard_conforming_strings is not allowed"},
		{name: "wall: client_encoding", policy: "writer", sql: "SET client_encoding = 'SJIS'",
			rule: "walls", msg: "changing client_encoding is not allowed"},
		{name: "wall: a setting gatehouse cannot name", policy: "writer", sql: "SELECT set_config(current_user, 'off', false)",
			rule: "walls", msg: "changing a setting gatehouse cannot name"},
		{name: "wall: prepared", policy: "writer", sql: "PREPARE e AS SELECT set_config('client_encoding', 'SJIS', false)",
			rule: "walls", msg: "changing client_encoding is not allowed"},
		{name: "wall through execute", policy: "writer",
			prepared: map[string]preparedStatement{"e": {kinds: []sqlkind.Kind{sqlkind.Select}, settings: []string{"client_encoding"}}},
			sql:      "EXECUTE e", rule: "walls", msg: "changing client_encoding is not allowed"},
		{name: "execute of a statement prepared earlier, by what it runs", policy: "reader",
			prepared: map[string]preparedStatement{"d": {kinds: []sqlkind.Kind{sqlkind.Delete}, relations: []string{"orders"}}},
			sql:      "EXECUTE d", rule: "statements.reader.allow: delete not listed", msg: "delete not allowed"},
		{name: "unparsable", policy: "writer", sql: "SELECT 1 FROM",
			rule: "parse", msg: "syntax error at end of input", code: "42601", pos: 14},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := policySession(t, tt.policy)
			maps.Copy(s.prepared, tt.prepared)
			for _, sql := range tt.before {
				s.inspect(context.Background(), pgwireQuery(sql))
			}
			v := s.inspect(context.Background(), pgwireQuery(tt.sql))
			d, _ := v.Detail.(*statementDetail)
			if d == nil {
				t.Fatalf("no statement detail: %+v", v)
			}
			if v.Allow != tt.allow || d.Allow != tt.allow || d.Rule != tt.rule {
				t.Errorf("allow %v (recorded %v), rule %q; want allow %v, rule %q (message %q)", v.Allow, d.Allow, d.Rule, tt.allow, tt.rule, v.Message)
			}
			if !strings.Contains(v.Message, tt.msg) || (tt.allow && v.Message != "") {
				t.Errorf("message %q, want one with %q", v.Message, tt.msg)
			}
			if v.Code != tt.code || v.Position != tt.pos {
				t.Errorf("code %q at %d, want %q at %d", v.Code, v.Position, tt.code, tt.pos)
			}
		})
	}
}

// TestWallBreach: which settings a session may not change depends on its
// policy: the encoding and string-literal settings always, the read-only
// default under a read-only policy, the timeout under a policy that sets
// one, and a setting whose name is unknown always.
func TestWallBreach(t *testing.T) {
	tests := []struct {
		policy   string
		settings []string
		refused  string // the setting named in the refusal; "" allowed
	}{
		{"writer", nil, ""},
		{"writer", []string{"search_path", "work_mem"}, ""},
		{"writer", []string{"work_mem", "client_encoding"}, "client_encoding"},
		{"writer", []string{"standard_conforming_strings"}, "standard_conforming_strings"},
		{"writer", []string{"default_transaction_read_only", "transaction_read_only", "statement_timeout"}, ""},
		{"writer", []string{"*"}, "a setting gatehouse cannot name (set_config with a computed name, or SQL text gatehouse cannot read)"},
		{"reader", []string{"default_transaction_read_only"}, "default_transaction_read_only"},
		{"reader", []string{"transaction_read_only"}, "transaction_read_only"},
		{"reader", []string{"statement_timeout"}, "statement_timeout"},
		{"reader", []string{"search_path"}, ""},
	}
	for _, tt := range tests {
		got := policySession(t, tt.policy).wallBreach(tt.settings)
		switch {
		case tt.refused == "" && got != "":
			t.Errorf("%s %v: refused (%q), want allowed", tt.policy, tt.settings, got)
		case tt.refused != "" && !strings.Contains(got, "changing "+tt.refused+" is not allowed in this session (statement policy \""+tt.policy+"\")"):
			t.Errorf("%s %v: %q, want %s refused", tt.policy, tt.settings, got, tt.refused)
		}
	}
}

// BenchmarkInspect is the policy's share of one pgbench -S statement:
// its text differs each time (the account number), as under pgbench.
func BenchmarkInspect(b *testing.B) {
	s := policySession(b, "reader")
	ctx := context.Background()
	texts := make([]string, 1024)
	for i := range texts {
		texts[i] = fmt.Sprintf("SELECT abalance FROM pgbench_accounts WHERE aid = %d;", 1+i*977)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if v := s.inspect(ctx, pgwire.Query{SQL: texts[i%len(texts)]}); !v.Allow {
			b.Fatal(v.Message)
		}
		i++
	}
}

// TestInspectCopiesNoLists: deciding a string of one statement takes its
// kinds, relations and functions from the classifier's answer, which is
// the caller's own, without copying them: beyond classifying it, inspect
// allocates the statement's detail and its rule, and nothing per list.
// A statement that repeats a relation still has it once in the detail.
func TestInspectCopiesNoLists(t *testing.T) {
	s := policySession(t, "reader")
	ctx := context.Background()
	const sql = "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE lower(c.name) = 'x'"
	classify := testing.AllocsPerRun(100, func() {
		if _, err := s.p.classifier.Classify(sql); err != nil {
			t.Fatal(err)
		}
	})
	inspect := testing.AllocsPerRun(100, func() {
		if v := s.inspect(ctx, pgwire.Query{SQL: sql}); !v.Allow {
			t.Fatal(v.Message)
		}
	})
	if extra := inspect - classify; extra > 2 {
		t.Errorf("inspect allocates %.0f times beyond classifying, want 2 (its detail and its rule)", extra)
	}
	v := s.inspect(ctx, pgwire.Query{SQL: "SELECT * FROM orders, orders AS again WHERE orders.id = again.id"})
	if d := v.Detail.(*statementDetail); !slices.Equal(d.Relations, []string{"orders"}) {
		t.Errorf("relations %q, want orders once", d.Relations)
	}
}

func TestUnion(t *testing.T) {
	tests := []struct{ a, b, want []string }{
		{nil, nil, nil},
		{nil, []string{"x"}, []string{"x"}},
		{nil, []string{"x", "y", "x"}, []string{"x", "y"}},
		{[]string{"x"}, []string{"y", "x"}, []string{"x", "y"}},
	}
	for _, tt := range tests {
		b := slices.Clone(tt.b)
		got := union(tt.a, b)
		if !slices.Equal(got, tt.want) {
			t.Errorf("union(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
		// What is later appended to the union must not reach b.
		_ = append(got, "z")
		if len(b) > 0 && cap(b) > len(b) && b[:cap(b)][len(b)] == "z" {
			t.Errorf("appending to union(%q, %q) wrote into its argument", tt.a, tt.b)
		}
	}
}
