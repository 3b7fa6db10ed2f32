package evidence

import (
	"strconv"

	"github.com/gatehouse-dev/gatehouse/recorder/audit"
)

// exposureRow is a row of audit.Exposure over the bundle's statements:
// a masked column with the statements and values masked, or a statement
// a masking rule refused. The JSON Lines take it as it is.
type exposureRow struct{ audit.ExposureRow }

var exposureHeader = []string{"kind", "target", "column", "function", "statements", "values", "identities", "session", "seq",
	"time", "identity", "rule", "text"}

func (r exposureRow) cells() []string {
	seq := ""
	if r.Seq != 0 {
		seq = strconv.FormatUint(r.Seq, 10)
	}
	return []string{r.Kind, cell(r.Target), cell(r.Column), cell(r.Function), strconv.Itoa(r.Statements),
		strconv.FormatInt(r.Values, 10), cell(r.Identities), cell(r.Session), seq, r.Time, cell(r.Identity), cell(r.Rule), cell(r.Text)}
}

func exposureRows(rows []audit.ExposureRow) []exposureRow {
	out := make([]exposureRow, len(rows))
	for i, r := range rows {
		out[i] = exposureRow{r}
	}
	return out
}

// refusedBy is the exposure row of a statement a masking rule refused,
// if s is one: audit.Exposure's own, without holding every refusal of
// the period in one.
func refusedBy(s audit.ExposureStatement) []audit.ExposureRow {
	var one audit.Exposure
	one.Add(s)
	return one.Rows()
}
