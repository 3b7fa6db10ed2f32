package lineage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
)

// analyzer holds what is learnt while tracing one statement.
type analyzer struct {
	// ctx is the Analyze call's, for the catalog's lookups: an analyzer
	// is that call's own state and does not outlive it.
	ctx         context.Context
	opts        Options
	viewDepth   int
	views       map[Name][]col
	funcOutside map[string]bool // qualified name and search_path → may reach a function not built in
	funcSets    map[string]bool // the same → may return a set
	readsMasked bool
	probes      []Probe
	// probeUnknown: an untraceable value sits in a probing position.
	probeUnknown bool
	// storedUnknown: an untraceable value is stored by the statement.
	storedUnknown bool
	functions     []string
	castTargets   []string // names of the types cast to (TypeCast)
	refusals      []string
	err           error
	// steps counts the work done, so a statement built to make tracing
	// explode (nested recursive WITH queries) ends as Unknown instead.
	steps int
}

// maxSteps bounds the expressions and queries traced for one statement.
const maxSteps = 200_000

// exhausted counts one step and says whether the budget is spent; a
// statement that spends it reads, as far as anyone knows, masked data.
func (a *analyzer) exhausted() bool {
	a.steps++
	if a.steps > maxSteps {
		a.readsMasked = true
		return true
	}
	return false
}

func newAnalyzer(ctx context.Context, opts Options) *analyzer {
	if opts.MaxViewDepth == 0 {
		opts.MaxViewDepth = 16
	}
	return &analyzer{ctx: ctx, opts: opts, views: map[Name][]col{}, funcOutside: map[string]bool{}, funcSets: map[string]bool{}}
}

// fail keeps the first catalog error; Analyze returns it instead of a
// result, since a statement half traced is not traced.
func (a *analyzer) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

func (a *analyzer) refuse(format string, args ...any) {
	a.refusals = append(a.refusals, fmt.Sprintf(format, args...))
}

// maskedColumn finds the Masked key that masks the column of rel: its
// own, or an ancestor's column of the same name.
func (a *analyzer) maskedColumn(rel Relation, name string) (Column, bool) {
	for _, n := range slices.Concat([]Name{{rel.Schema, rel.Name}}, rel.Ancestors) {
		if _, ok := a.opts.Masked[maskedKey(n.Schema, n.Table, name)]; ok {
			return Column{Schema: n.Schema, Table: n.Table, Name: name}, true
		}
	}
	return Column{}, false
}

func (a *analyzer) probe(o origin, clause string) {
	for _, c := range o.masked {
		p := Probe{Column: c, Clause: clause}
		if !slices.Contains(a.probes, p) {
			a.probes = append(a.probes, p)
		}
	}
	a.probeUnknown = a.probeUnknown || o.unknown
}

// store notes that the statement writes a value of origin o into the
// column target: masked values written where they are not masked could
// be read back unmasked by the next statement.
func (a *analyzer) store(o origin, target string, targetMasked bool) {
	a.storedUnknown = a.storedUnknown || o.unknown
	if len(o.masked) == 0 || targetMasked {
		return
	}
	a.refuse("the statement stores values of masked column %s in %s, which is not masked; "+
		"store them only in masked columns, or read them through the proxy instead",
		o.masked[0], target)
}

// sink notes that the statement passes a value of origin o to fn, a
// function that makes its arguments visible elsewhere (sinkFunctions).
func (a *analyzer) sink(o origin, fn string) {
	a.storedUnknown = a.storedUnknown || o.unknown
	if len(o.masked) == 0 {
		return
	}
	a.refuse("the statement passes values of masked column %s to %s(), which shows its arguments elsewhere "+
		"(settings, locks, notifications, large objects, messages) where they are not masked", o.masked[0], fn)
}

func (a *analyzer) result(cols []col) *Result {
	r := &Result{Probes: a.probes, Functions: a.functions, ReadsMasked: a.readsMasked}
	for _, c := range cols {
		out := c.o.output(c.name)
		out.Spread = c.spread
		r.Outputs = append(r.Outputs, out)
	}
	if len(a.opts.Masked) > 0 {
		r.Refuse = a.verdict(r)
	}
	return r
}

// verdict is why the statement must be refused while masking applies,
// or "": what it runs or stores out of sight first, then what it probes,
// then what it returns that cannot be traced.
func (a *analyzer) verdict(r *Result) string {
	for _, f := range r.Functions {
		if !allowedFunction(a.opts.AllowFunctions, f) {
			return fmt.Sprintf("function %s is outside pg_catalog (or was created there after initdb) and could read masked columns "+
				"out of sight; "+
				"add it to the masking policy's allow_functions if it is safe", f)
		}
	}
	if len(a.refusals) > 0 {
		return a.refusals[0]
	}
	if a.opts.DenyProbing && len(r.Probes) > 0 {
		p := r.Probes[0]
		return fmt.Sprintf("%s uses masked column %s, which would let repeated queries guess its values "+
			"(deny_probing); filter, join and sort on unmasked columns instead", p.Clause, p.Column)
	}
	if a.readsMasked {
		return a.untraced(r)
	}
	return ""
}

// untraced is why a statement that reads masked columns is refused for
// what it cannot trace, or "".
func (a *analyzer) untraced(r *Result) string {
	if a.opts.DenyProbing && a.probeUnknown {
		return "a filter, join or sort uses a value whose origin cannot be traced, and the statement reads " +
			"masked columns (deny_probing); simplify the statement"
	}
	if a.storedUnknown {
		return "the statement stores values whose origin cannot be traced, and it reads masked columns; " +
			"simplify the statement"
	}
	for i, out := range r.Outputs {
		if out.Kind == Unknown {
			name := cmp.Or(out.Name, "*")
			return fmt.Sprintf("output column %d (%s) cannot be traced to its source columns, and the statement "+
				"reads masked columns; select the columns by name", i+1, name)
		}
	}
	return ""
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
