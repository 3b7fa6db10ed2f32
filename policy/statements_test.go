package policy

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

func statementsConfig() *Config {
	return &Config{Statements: map[string]StatementPolicy{
		"readonly": {
			Allow:         []sqlkind.Kind{"select", "explain", "show", "set", "transaction"},
			DenyFunctions: []string{"pg_read_file", "pg_read_binary_file", "pg_ls_dir", "lo_export", "lo_import", "dblink"},
			DenyRelations: []string{"public.customers", "secrets"},
		},
		"admin": {
			Allow: []sqlkind.Kind{"all"},
			Deny:  []sqlkind.Kind{"drop_database", "alter_system"},
		},
		"writer":         {Allow: []sqlkind.Kind{"select", "insert", "update", "other"}, DenyFunctions: []string{"pg_catalog.lo_export"}},
		"nothing":        {},
		"denyall":        {Allow: []sqlkind.Kind{"all"}, Deny: []sqlkind.Kind{"all"}},
		"allow-and-deny": {Allow: []sqlkind.Kind{"select", "delete"}, Deny: []sqlkind.Kind{"delete"}},
	}}
}

func TestDecideStatement(t *testing.T) {
	c := statementsConfig()
	tests := []struct {
		name, policy                string
		kinds, relations, functions string // space-separated
		allow                       bool
		rule, reason                string // reason: "" not checked
	}{
		{"readonly select", "readonly", "select", "orders", "count", true, "statements.readonly.allow", ""},
		{"readonly several kinds", "readonly", "explain select", "", "", true, "statements.readonly.allow", ""},
		{"readonly delete", "readonly", "delete", "orders", "", false, "statements.readonly.allow: delete not listed", `delete not allowed by statement policy "readonly"`},
		{"readonly delete in cte", "readonly", "select delete", "orders", "", false, "statements.readonly.allow: delete not listed", ""},
		{"readonly explain analyze update", "readonly", "explain update", "", "", false, "statements.readonly.allow: update not listed", ""},
		{"readonly set_role", "readonly", "select set_role", "", "set_config", false, "statements.readonly.allow: set_role not listed", `set_role not allowed by statement policy "readonly"`},
		{"readonly other", "readonly", "other", "", "", false, "statements.readonly.allow: other not listed", ""},
		{"no kinds is other", "readonly", "", "", "", false, "statements.readonly.allow: other not listed", ""},
		{"readonly pg_read_file", "readonly", "select", "", "pg_read_file", false, "statements.readonly.deny_functions: pg_read_file", `function pg_read_file not allowed by statement policy "readonly"`},
		{"qualified call, bare entry", "readonly", "select", "", "pg_catalog.pg_read_file", false, "statements.readonly.deny_functions: pg_read_file", ""},
		{"other schema, bare entry", "readonly", "select", "", "evil.dblink", false, "statements.readonly.deny_functions: dblink", ""},
		{"case ignored", "readonly", "select", "", "LO_EXPORT", false, "statements.readonly.deny_functions: lo_export", ""},
		{"prefix is not the name", "readonly", "select", "", "dblink_exec_wrapper pg_read_file_safe", true, "statements.readonly.allow", ""},
		{"qualified entry, bare call", "writer", "select", "", "lo_export", false, "statements.writer.deny_functions: pg_catalog.lo_export", ""},
		{"qualified entry, same schema", "writer", "select", "", "pg_catalog.lo_export", false, "statements.writer.deny_functions: pg_catalog.lo_export", ""},
		{"qualified entry, other schema", "writer", "select", "", "mine.lo_export", true, "statements.writer.allow", ""},
		{"relation bare in sql", "readonly", "select", "orders customers", "", false, "statements.readonly.deny_relations: public.customers", `relation customers not allowed by statement policy "readonly"`},
		{"relation qualified in sql", "readonly", "select", "public.customers", "", false, "statements.readonly.deny_relations: public.customers", ""},
		{"relation other schema", "readonly", "select", "archive.customers", "", true, "statements.readonly.allow", ""},
		{"relation with catalog", "readonly", "select", "shop.public.customers", "", false, "statements.readonly.deny_relations: public.customers", ""},
		{"bare entry any schema", "readonly", "select", "vault.secrets", "", false, "statements.readonly.deny_relations: secrets", ""},
		{"relation case ignored", "readonly", "select", "Public.Customers", "", false, "statements.readonly.deny_relations: public.customers", ""},
		{"kinds before functions", "readonly", "delete", "customers", "pg_read_file", false, "statements.readonly.allow: delete not listed", ""},
		{"functions before relations", "readonly", "select", "customers", "pg_read_file", false, "statements.readonly.deny_functions: pg_read_file", ""},
		{"admin anything", "admin", "ddl grant set_role other", "customers", "pg_read_file", true, "statements.admin.allow", ""},
		{"admin drop database", "admin", "drop_database", "", "", false, "statements.admin.deny: drop_database", `drop_database not allowed by statement policy "admin"`},
		{"admin alter system", "admin", "alter_system", "", "", false, "statements.admin.deny: alter_system", ""},
		{"deny wins over allow", "allow-and-deny", "delete", "", "", false, "statements.allow-and-deny.deny: delete", ""},
		{"deny all", "denyall", "select", "", "", false, "statements.denyall.deny: all", `select not allowed by statement policy "denyall"`},
		{"other explicitly allowed", "writer", "other", "", "", true, "statements.writer.allow", ""},
		{"empty policy allows nothing", "nothing", "select", "", "", false, "statements.nothing.allow: select not listed", ""},
		{"unset allows everything", "", "drop_database alter_system other", "customers", "pg_read_file", true, "statements: unset", ""},
		{"unknown policy", "readwrite", "select", "", "", false, "statements.readwrite: no such policy", `statement policy "readwrite" is not configured`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := c.DecideStatement(tt.policy, kinds(tt.kinds), strings.Fields(tt.relations), strings.Fields(tt.functions))
			if d.Allow != tt.allow || d.Rule != tt.rule {
				t.Errorf("got %+v, want allow=%v rule %q", d, tt.allow, tt.rule)
			}
			if tt.reason != "" && d.Reason != tt.reason {
				t.Errorf("reason %q, want %q", d.Reason, tt.reason)
			}
			if !d.Allow && d.Reason == "" {
				t.Error("a denial without a reason for the client")
			}
		})
	}
}

func TestDecideStatementNilConfig(t *testing.T) {
	var c *Config
	if d := c.DecideStatement("readonly", []sqlkind.Kind{"select"}, nil, nil); d.Allow {
		t.Errorf("nil config allowed a named policy: %+v", d)
	}
	if d := c.DecideStatement("", []sqlkind.Kind{"select"}, nil, nil); !d.Allow {
		t.Errorf("nil config refused with no policy: %+v", d)
	}
}

// TestDecideStatementSample judges with the sample configuration's own
// policies, as read from YAML.
func TestDecideStatementSample(t *testing.T) {
	cfg, err := Parse([]byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if d := cfg.DecideStatement("readonly", []sqlkind.Kind{"select"}, []string{"public.customers"}, nil); !d.Allow {
		t.Errorf("readonly select: %+v", d)
	}
	if d := cfg.DecideStatement("admin", []sqlkind.Kind{"drop_database"}, nil, nil); d.Allow {
		t.Errorf("admin drop_database: %+v", d)
	}
}

func TestNameMatches(t *testing.T) {
	tests := []struct {
		entry, name string
		want        bool
	}{
		{"pg_read_file", "pg_read_file", true},
		{"pg_read_file", "pg_catalog.pg_read_file", true},
		{"pg_catalog.pg_read_file", "pg_read_file", true},
		{"pg_catalog.pg_read_file", "public.pg_read_file", false},
		{"public.customers", "customers", true},
		{"public.customers", "db.public.customers", true},
		{"db.public.customers", "other.public.customers", false},
		{"customers", "customer", false},
		{"customers", "", false},
		{"", "customers", false},
		{"PUBLIC.Customers", "public.customers", true},
		{"a..b", "x.b", false},
		{"a..b", ".b", true},
		{"x.", "y.", false},
		{"x.", ".", false},
		{"x.", "x.", true},
		{".", "a.", false},
		{".", ".", true},
		{"customers", "public.", false},
	}
	for _, tt := range tests {
		if got := nameMatches(tt.entry, tt.name); got != tt.want {
			t.Errorf("nameMatches(%q, %q) = %v, want %v", tt.entry, tt.name, got, tt.want)
		}
		if got := splitNameMatches(tt.entry, tt.name); got != tt.want {
			t.Errorf("the table is wrong: splitting, %q and %q match: %v", tt.entry, tt.name, got)
		}
	}
}

// splitNameMatches is nameMatches as it was first written, by splitting
// both names: the reference the walk from the ends must agree with.
func splitNameMatches(entry, name string) bool {
	e := strings.Split(entry, ".")
	n := strings.Split(name, ".")
	k := min(len(e), len(n))
	for i := 1; i <= k; i++ {
		if !strings.EqualFold(e[len(e)-i], n[len(n)-i]) {
			return false
		}
	}
	return k > 0 && entry != "" && name != ""
}

// FuzzNameMatches holds nameMatches to the splitting reference.
func FuzzNameMatches(f *testing.F) {
	for _, seed := range [][2]string{{"public.customers", "customers"}, {"a..b", ".b"}, {"x.", "."}, {"", "a"}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, entry, name string) {
		if got, want := nameMatches(entry, name), splitNameMatches(entry, name); got != want {
			t.Fatalf("nameMatches(%q, %q) = %v, splitting gives %v", entry, name, got, want)
		}
	})
}

// TestAllowedStatementAllocatesOnlyItsRule: DecideStatement runs for every
// statement; an allowed one costs one allocation, the rule it returns,
// whatever deny_relations and deny_functions hold (the strings of a
// denial are built only for one).
func TestAllowedStatementAllocatesOnlyItsRule(t *testing.T) {
	cfg := &Config{Statements: map[string]StatementPolicy{"reader": {
		Allow:         []sqlkind.Kind{sqlkind.Select},
		DenyRelations: []string{"public.secrets", "audit.log"},
		DenyFunctions: []string{"pg_catalog.pg_read_file", "dblink"},
	}}}
	kinds, rels, fns := []sqlkind.Kind{sqlkind.Select}, []string{"public.pgbench_accounts"}, []string{"lower"}
	allocs := testing.AllocsPerRun(100, func() {
		if d := cfg.DecideStatement("reader", kinds, rels, fns); !d.Allow {
			t.Fatalf("refused: %+v", d)
		}
	})
	if allocs > 1 {
		t.Errorf("an allowed statement allocates %.0f times, want 1", allocs)
	}
}

func BenchmarkDecideStatement(b *testing.B) {
	cfg := &Config{Statements: map[string]StatementPolicy{"reader": {
		Allow: []sqlkind.Kind{sqlkind.Select}, DenyRelations: []string{"public.secrets"}, DenyFunctions: []string{"pg_catalog.pg_read_file"},
	}}}
	kinds, rels := []sqlkind.Kind{sqlkind.Select}, []string{"public.pgbench_accounts"}
	b.ReportAllocs()
	for b.Loop() {
		if d := cfg.DecideStatement("reader", kinds, rels, nil); !d.Allow {
			b.Fatal(d.Reason)
		}
	}
}

func kinds(s string) []sqlkind.Kind {
	var out []sqlkind.Kind
	for _, k := range strings.Fields(s) {
		out = append(out, sqlkind.Kind(k))
	}
	return out
}
