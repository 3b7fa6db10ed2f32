package console

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// table is how the exports write a list's rows.
type table[R any] struct {
	noun   string           // what a row is, plural: "sessions"
	header []string         // the CSV's column names
	csv    func(R) []string // a row's CSV cells, already made cell-safe
	json   func(R) any      // a row's JSON Lines object, text exact
}

// sessionsTable is the sessions list as the exports write it.
var sessionsTable = table[row]{noun: "sessions", header: csvHeader, json: func(r row) any { return r }, csv: func(r row) []string {
	return []string{cell(r.Session), r.Start, r.End, cell(r.Duration), cell(r.Identity), cell(r.Agent), cell(r.Targets),
		strconv.Itoa(r.Channels), strconv.Itoa(r.Statements), strconv.Itoa(r.Denied), strconv.Itoa(r.Refusals),
		cell(r.EndReason), cell(r.Chain), cell(r.Verification)}
}}

// rowSource reads a list's rows in order, passing each to each as it is
// read, and stops at each's first error. Reading it again gives the same
// rows: an export counts them first, for its first line.
type rowSource[R any] func(each func(R) error) error

// sliceSource is rows as a rowSource.
func sliceSource[R any](rows []R) rowSource[R] {
	return func(each func(R) error) error {
		for _, r := range rows {
			if err := each(r); err != nil {
				return err
			}
		}
		return nil
	}
}

// flushEvery is how many rows an export writes between flushes to the
// client.
const flushEvery = 64

// export counts the rows src reads, records the export, then writes them
// as src reads them again, never holding more than one. A failure before
// the first byte answers 502; after it, the export ends with a line
// "# export incomplete: ERROR" and the connection is aborted, so that no
// reader takes it for a whole one.
func export[R any](c *Console, w http.ResponseWriter, q query, a event.Auditor, t table[R], src rowSource[R]) {
	total := 0
	if err := src(func(R) error { total++; return nil }); err != nil {
		c.unreadable(w, t.noun, err)
		return
	}
	rec := event.ConsoleExport{Auditor: a, Path: q.path, Format: q.format, Filters: q.recordedFilters(false), Rows: total}
	if !c.record(w, event.TypeConsoleExport, rec) {
		return
	}
	h := w.Header()
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, t.noun, q.format))
	out := exportWriter[R]{w: w, t: t}
	if q.format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		out.csv = csv.NewWriter(w)
	} else {
		h.Set("Content-Type", "application/x-ndjson; charset=utf-8")
		out.json = json.NewEncoder(w)
	}
	err := out.head(q, total)
	n := 0
	if err == nil {
		err = src(func(r R) error {
			if n++; n > total {
				return fmt.Errorf("console: more rows than the %d counted", total)
			}
			return out.row(r)
		})
	}
	if err == nil && n != total {
		err = fmt.Errorf("console: %d rows, not the %d counted", n, total)
	}
	if err = errors.Join(err, out.flush()); err != nil {
		c.exportFailed(w, q, out, err)
	}
}

// exportFailed ends an export that failed after it began: what was
// written stays, then a last line says it is incomplete, and the
// connection is aborted (no clean end of the body).
func (c *Console) exportFailed(w http.ResponseWriter, q query, out interface{ flush() error }, err error) {
	c.cfg.Logger.Error("console: an export failed after it began; it ends marked incomplete", "path", q.path, "format", q.format, "error", err)
	out.flush()
	fmt.Fprintf(w, "# export incomplete: %s\n", recorder.Printable(err.Error()))
	http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

// exportWriter writes an export's lines in one format: csv or json is set.
type exportWriter[R any] struct {
	w    http.ResponseWriter
	t    table[R]
	csv  *csv.Writer
	json *json.Encoder
	rows int
}

// head writes the first line: the filters and the count; and the CSV's
// column names.
func (e *exportWriter[R]) head(q query, total int) error {
	if e.csv != nil {
		e.csv.Write([]string{cell("# gatehouse " + e.t.noun + "; filters: " + filterText(q) + "; " + strconv.Itoa(total) + " " + e.t.noun)})
		return e.csv.Write(e.t.header)
	}
	filters := map[string]string{}
	for _, name := range q.names {
		if v := q.values.Get(name); v != "" {
			filters[name] = v
		}
	}
	return e.json.Encode(struct {
		Filters map[string]string `json:"filters"`
		Total   int               `json:"total"`
	}{filters, total})
}

// row writes one row, flushing to the client every flushEvery rows.
func (e *exportWriter[R]) row(r R) error {
	var err error
	if e.csv != nil {
		err = e.csv.Write(e.t.csv(r))
	} else {
		err = e.json.Encode(e.t.json(r))
	}
	if e.rows++; err == nil && e.rows%flushEvery == 0 {
		err = e.flush()
	}
	return err
}

// flush sends what is buffered to the client.
func (e exportWriter[R]) flush() error {
	var err error
	if e.csv != nil {
		e.csv.Flush()
		err = e.csv.Error()
	}
	if ferr := http.NewResponseController(e.w).Flush(); !errors.Is(ferr, http.ErrNotSupported) {
		err = errors.Join(err, ferr)
	}
	return err
}

// csvHeader names the columns of a CSV export, in row's order.
var csvHeader = []string{"session", "start", "end", "duration", "identity", "agent", "targets", "channels", "statements",
	"denied", "refusals", "end_reason", "chain", "verification"}

// filterText is the filters as name=value pairs (quoted), in q.names
// order; "none" without any.
func filterText(q query) string {
	var parts []string
	for _, name := range q.names {
		if v := q.values.Get(name); v != "" {
			parts = append(parts, name+"="+strconv.Quote(v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// cell is recorder.CSVCell, short for the many cells above.
func cell(s string) string { return recorder.CSVCell(s) }
