package audit

import (
	"maps"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// The kinds of an exposure row.
const (
	ExposureMasked  = "masked"  // a column masked, with the values masked
	ExposureRefused = "refused" // a statement a masking rule refused
)

// ExposureStatement is what Exposure takes of one db.statement.
type ExposureStatement struct {
	Session, Time, Identity, Target string
	Seq                             uint64
	Masked                          []string // the statement's entries, "column: function (source)"
	Rows                            int64
	Decision, Rule, Text            string
}

// ExposureRow is a masked column (Kind masked: Statements and Values
// summed over the statements it was masked in) or a statement a masking
// rule refused (Kind refused: Session, Seq, Text).
type ExposureRow struct {
	Kind       string `json:"kind"`
	Target     string `json:"target"`
	Column     string `json:"column"`   // the masked source column, or the result column when none is named
	Function   string `json:"function"` // the mask function
	Statements int    `json:"statements"`
	Values     int64  `json:"values"` // rows the column was masked in
	Identities string `json:"identities"`
	Session    string `json:"session"`
	Seq        uint64 `json:"seq"`
	Time       string `json:"time"`
	Identity   string `json:"identity"`
	Rule       string `json:"rule"`
	Text       string `json:"text"`
}

// Exposure sums the masked columns of statements, and keeps the
// statements masking rules refused (probes under deny_probing, computed
// outputs under on_derived: deny, ...).
type Exposure struct {
	masked  map[[3]string]*ExposureRow
	who     map[[3]string]map[string]bool
	refused []ExposureRow
}

// Add takes one statement.
func (x *Exposure) Add(s ExposureStatement) {
	if x.masked == nil {
		x.masked, x.who = map[[3]string]*ExposureRow{}, map[[3]string]map[string]bool{}
	}
	for _, m := range s.Masked {
		col, fn := MaskedColumn(m)
		if col == "" {
			continue
		}
		k := [3]string{s.Target, col, fn}
		e := x.masked[k]
		if e == nil {
			e = &ExposureRow{Kind: ExposureMasked, Target: s.Target, Column: col, Function: fn}
			x.masked[k], x.who[k] = e, map[string]bool{}
		}
		e.Statements++
		e.Values += s.Rows
		x.who[k][s.Identity] = true
	}
	if s.Decision != string(event.Allow) && strings.HasPrefix(s.Rule, "masking.") {
		x.refused = append(x.refused, ExposureRow{Kind: ExposureRefused, Target: s.Target, Session: s.Session, Seq: s.Seq,
			Time: s.Time, Identity: s.Identity, Rule: s.Rule, Text: s.Text})
	}
}

// Rows are the masked columns sorted by target, column and function,
// then the refused statements in the order added.
func (x *Exposure) Rows() []ExposureRow {
	var out []ExposureRow
	for k, e := range x.masked {
		e.Identities = strings.Join(slices.Sorted(maps.Keys(x.who[k])), ", ")
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b ExposureRow) int {
		return strings.Compare(a.Target+"\x00"+a.Column+"\x00"+a.Function, b.Target+"\x00"+b.Column+"\x00"+b.Function)
	})
	return append(out, x.refused...)
}

// MaskedColumn reads one db.statement masked entry, "column: function
// (source)", as the source column (the result column when no source is
// named) and the function.
func MaskedColumn(m string) (column, function string) {
	name, rest, ok := strings.Cut(m, ": ")
	if !ok {
		return strings.TrimSpace(m), ""
	}
	function, source, _ := strings.Cut(rest, " (")
	if source = strings.TrimSuffix(source, ")"); source != "" {
		return source, function
	}
	return name, function
}
