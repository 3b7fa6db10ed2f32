package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder/audit"
)

// exposureFilterNames are the filters /exposure takes, in the order
// exports name them.
var exposureFilterNames = []string{"kind", "column", "target", "identity", "since", "until"}

// exposureFilter selects exposure rows; an empty field selects all.
// Column matches a substring, case-insensitively, target whole; identity
// is the sessions' (recorder.Filter).
type exposureFilter struct {
	kind, column, target string
}

func exposureFilterOf(in url.Values, q *query) (exposureFilter, error) {
	q.filter.Identity = in.Get("identity")
	f := exposureFilter{kind: in.Get("kind"), column: in.Get("column"), target: in.Get("target")}
	if f.kind != "" && f.kind != audit.ExposureMasked && f.kind != audit.ExposureRefused {
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

// exposureRow is a row of audit.Exposure, with the text as pages show it.
type exposureRow struct{ audit.ExposureRow }

// exposureOf is the masked columns of found, sorted by target and
// column, then the statements refused by masking rules, in found's order,
// as f selects them.
func exposureOf(found []foundStatement, f exposureFilter) []exposureRow {
	var x audit.Exposure
	for _, s := range found {
		x.Add(audit.ExposureStatement{Session: s.Session, Seq: s.Seq, Time: s.Time, Identity: s.Identity, Target: s.Target,
			Masked: strings.Split(s.Masked, "; "), Rows: s.Rows, Decision: s.Decision, Rule: s.Rule, Text: s.full})
	}
	var out []exposureRow
	for _, r := range x.Rows() {
		text := r.Column
		if r.Kind == audit.ExposureRefused {
			text = r.Text
		}
		if (f.kind == "" || f.kind == r.Kind) && (f.column == "" || containsFold(text, f.column)) {
			out = append(out, exposureRow{r})
		}
	}
	return out
}

// exposureCSVHeader names the columns of an exposure CSV export.
var exposureCSVHeader = []string{"kind", "target", "column", "function", "statements", "values", "identities", "session", "seq",
	"time", "identity", "rule", "text"}

// exposureTable is the exposure rows as the exports write them: the
// CSV's text cut as on the page, the JSON Lines' whole as recorded.
var exposureTable = table[exposureRow]{noun: "exposure", header: exposureCSVHeader, json: func(r exposureRow) any { return r },
	csv: func(r exposureRow) []string {
		seq := ""
		if r.Seq != 0 {
			seq = strconv.FormatUint(r.Seq, 10)
		}
		return []string{r.Kind, cell(r.Target), cell(r.Column), cell(r.Function), strconv.Itoa(r.Statements),
			strconv.FormatInt(r.Values, 10), cell(r.Identities), cell(r.Session), seq, r.Time, cell(r.Identity), cell(r.Rule),
			cell(r.Shown())}
	}}

// Shown is the text as pages and CSV show it: cut at maxShownText.
func (r exposureRow) Shown() string {
	if len(r.Text) > maxShownText {
		return cutText(r.Text, maxShownText) + "…"
	}
	return r.Text
}
