package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// exposureFilterNames are the filters /exposure takes, in the order
// exports name them.
var exposureFilterNames = []string{"kind", "column", "target", "identity", "since", "until"}

// The kinds of an exposure row.
const (
	exposureMasked  = "masked"  // a column masked, with the values masked
	exposureRefused = "refused" // a statement a masking rule refused
)

// exposureFilter selects exposure rows; an empty field selects all.
// Column matches a substring, case-insensitively, target whole; identity
// is the sessions' (recorder.Filter).
type exposureFilter struct {
	kind, column, target string
}

func exposureFilterOf(in url.Values, q *query) (exposureFilter, error) {
	q.filter.Identity = in.Get("identity")
	f := exposureFilter{kind: in.Get("kind"), column: in.Get("column"), target: in.Get("target")}
	if f.kind != "" && f.kind != exposureMasked && f.kind != exposureRefused {
		return f, errors.New("kind is masked or refused")
	}
	return f, nil
}

// listExposure is /exposure: each masked column of each target with the
// values masked (rows of results it was masked in), then every statement
// a masking rule refused (probes under deny_probing, computed outputs
// under on_derived: deny, ...), in the sessions the viewer may see.
func (c *Console) listExposure(w http.ResponseWriter, r *http.Request, v viewer) {
	q, f, err := parseFiltered(r, "/exposure", exposureFilterNames, c.parseTime, exposureFilterOf)
	if !c.listAllowed(w, r, v, err, f.target) {
		return
	}
	sf := statementFilter{target: f.target}
	found, err := c.findStatements(q.filter, sf, v)
	if err != nil {
		c.unreadable(w, "exposure", err)
		return
	}
	serveList(c, w, q, v, exposureOf(found, f), exposureTable, "exposure.html")
}

// exposureRow is a masked column (Kind masked: Statements and Values
// summed) or a refused statement (Kind refused: Session, Seq, Text).
type exposureRow struct {
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

// exposureOf is the masked columns of found, sorted by target and
// column, then the statements refused by masking rules, in found's order.
func exposureOf(found []foundStatement, f exposureFilter) []exposureRow {
	masked := map[[3]string]*exposureRow{}
	var refused []exposureRow
	for _, s := range found {
		for _, m := range strings.Split(s.Masked, "; ") {
			col, fn := maskedColumn(m)
			if col == "" || (f.column != "" && !containsFold(col, f.column)) {
				continue
			}
			k := [3]string{s.Target, col, fn}
			e := masked[k]
			if e == nil {
				e = &exposureRow{Kind: exposureMasked, Target: s.Target, Column: col, Function: fn}
				masked[k] = e
			}
			e.Statements++
			e.Values += s.Rows
			if !slices.Contains(strings.Split(e.Identities, ", "), s.Identity) {
				e.Identities = strings.TrimPrefix(e.Identities+", "+s.Identity, ", ")
			}
		}
		if s.Decision != string(event.Allow) && strings.HasPrefix(s.Rule, "masking.") &&
			(f.column == "" || containsFold(s.full, f.column)) {
			refused = append(refused, exposureRow{Kind: exposureRefused, Target: s.Target, Session: s.Session, Seq: s.Seq, Time: s.Time,
				Identity: s.Identity, Rule: s.Rule, Text: s.full})
		}
	}
	var out []exposureRow
	if f.kind != exposureRefused {
		for _, e := range masked {
			who := strings.Split(e.Identities, ", ")
			slices.Sort(who)
			e.Identities = strings.Join(who, ", ")
			out = append(out, *e)
		}
		slices.SortFunc(out, func(a, b exposureRow) int {
			return strings.Compare(a.Target+"\x00"+a.Column+"\x00"+a.Function, b.Target+"\x00"+b.Column+"\x00"+b.Function)
		})
	}
	if f.kind != exposureMasked {
		out = append(out, refused...)
	}
	return out
}

// maskedColumn reads one db.statement masked entry, "column: function
// (source)", as the source column (the result column when no source is
// named) and the function.
func maskedColumn(m string) (column, function string) {
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

// exposureCSVHeader names the columns of an exposure CSV export.
var exposureCSVHeader = []string{"kind", "target", "column", "function", "statements", "values", "identities", "session", "seq",
	"time", "identity", "rule", "text"}

// exposureTable is the exposure rows as the exports write them: the
// CSV's text cut as on the page, the JSON Lines' whole as recorded.
func exposureTable(rows []exposureRow) table {
	t := table{noun: "exposure", header: exposureCSVHeader}
	for _, r := range rows {
		seq := ""
		if r.Seq != 0 {
			seq = strconv.FormatUint(r.Seq, 10)
		}
		t.csv = append(t.csv, []string{r.Kind, cell(r.Target), cell(r.Column), cell(r.Function), strconv.Itoa(r.Statements),
			strconv.FormatInt(r.Values, 10), cell(r.Identities), cell(r.Session), seq, r.Time, cell(r.Identity), cell(r.Rule),
			cell(r.Shown())})
		t.json = append(t.json, r)
	}
	return t
}

// Shown is the text as pages and CSV show it: cut at maxShownText.
func (r exposureRow) Shown() string {
	if len(r.Text) > maxShownText {
		return cutText(r.Text, maxShownText) + "…"
	}
	return r.Text
}
