package lineage

import (
	"context"
	"strings"
	"testing"
)

// render writes outputs compactly: name=table.column for Direct (schema
// left out when public), name=~a+b for Derived, name=clean, name=?, and
// a leading ... for a spread.
func render(outs []Output) string {
	var parts []string
	for _, o := range outs {
		var v string
		switch o.Kind {
		case Direct:
			v = short(o.Column)
		case Derived:
			var src []string
			for _, c := range o.Sources {
				src = append(src, short(c))
			}
			v = "~" + strings.Join(src, "+")
		case Clean:
			v = "clean"
		case Unknown:
			v = "?"
		}
		if o.Spread {
			v = "..." + v
		}
		parts = append(parts, o.Name+"="+v)
	}
	return strings.Join(parts, " ")
}

func short(c Column) string {
	return strings.TrimPrefix(c.String(), "public.")
}

func renderProbes(ps []Probe) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.Clause+":"+short(p.Column))
	}
	return strings.Join(parts, " ")
}

type lineageCase struct {
	name string
	sql  string
	// outs is render's form of the outputs.
	outs string
	// probes is renderProbes' form; checked when not empty.
	probes string
	// refuse is a substring of Result.Refuse; "" means not refused.
	refuse string
	// opts changes the default options (search_path public, testMasked,
	// allow_functions safe_fn, deny_probing off).
	opts func(*Options)
}

func denyProbing(o *Options) { o.DenyProbing = true }

func analyzeCase(t *testing.T, c lineageCase) *Result {
	t.Helper()
	opts := Options{
		Catalog:        newFakeCatalog(),
		SearchPath:     []string{"public"},
		Masked:         testMasked,
		AllowFunctions: []string{"safe_fn"},
	}
	if c.opts != nil {
		c.opts(&opts)
	}
	r, err := Analyze(context.Background(), c.sql, opts)
	if err != nil {
		t.Fatalf("Analyze(%q): %v", c.sql, err)
	}
	return r
}

func runCases(t *testing.T, cases []lineageCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := analyzeCase(t, c)
			if got := render(r.Outputs); got != c.outs {
				t.Errorf("%s\noutputs: %s\nwant:    %s", c.sql, got, c.outs)
			}
			if c.probes != "" {
				if got := renderProbes(r.Probes); got != c.probes {
					t.Errorf("%s\nprobes: %s\nwant:   %s", c.sql, got, c.probes)
				}
			}
			switch {
			case c.refuse == "" && r.Refuse != "":
				t.Errorf("%s\nrefused: %s", c.sql, r.Refuse)
			case c.refuse != "" && !strings.Contains(r.Refuse, c.refuse):
				t.Errorf("%s\nrefuse = %q, want it to contain %q", c.sql, r.Refuse, c.refuse)
			}
		})
	}
}
