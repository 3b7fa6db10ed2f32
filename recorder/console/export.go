package console

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// table is a list's rows as the exports write them.
type table struct {
	noun   string     // what a row is, plural: "sessions"
	header []string   // the CSV's column names
	csv    [][]string // the CSV's cells, already made cell-safe
	json   []any      // the JSON Lines' objects, text exact
}

// sessionsTable is the sessions list as the exports write it.
func sessionsTable(rows []row) table {
	t := table{noun: "sessions", header: csvHeader}
	for _, r := range rows {
		t.csv = append(t.csv, []string{cell(r.Session), r.Start, r.End, cell(r.Duration), cell(r.Identity), cell(r.Agent), cell(r.Targets),
			strconv.Itoa(r.Channels), strconv.Itoa(r.Statements), strconv.Itoa(r.Denied), strconv.Itoa(r.Refusals),
			cell(r.EndReason), cell(r.Chain), cell(r.Verification)})
		t.json = append(t.json, r)
	}
	return t
}

// export writes every row the filters select, after recording the export.
func (c *Console) export(w http.ResponseWriter, q query, a event.Auditor, t table) {
	rec := event.ConsoleExport{Auditor: a, Path: q.path, Format: q.format, Filters: q.recordedFilters(false), Rows: len(t.json)}
	if !c.record(w, event.TypeConsoleExport, rec) {
		return
	}
	h := w.Header()
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, t.noun, q.format))
	var err error
	if q.format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		err = writeCSV(w, q, t)
	} else {
		h.Set("Content-Type", "application/x-ndjson; charset=utf-8")
		err = writeJSONL(w, q, t.json)
	}
	if err != nil {
		c.cfg.Logger.Warn("console: writing an export failed", "format", q.format, "error", err)
	}
}

// csvHeader names the columns of a CSV export, in row's order.
var csvHeader = []string{"session", "start", "end", "duration", "identity", "agent", "targets", "channels", "statements",
	"denied", "refusals", "end_reason", "chain", "verification"}

// writeCSV writes a line with the filters, the column names, then one
// line per row. Text is Printable and formula-safe.
func writeCSV(w http.ResponseWriter, q query, t table) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{cell("# gatehouse " + t.noun + "; filters: " + filterText(q) + "; " + strconv.Itoa(len(t.csv)) + " " + t.noun)})
	cw.Write(t.header)
	for _, cells := range t.csv {
		cw.Write(cells)
	}
	cw.Flush()
	return cw.Error()
}

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

// writeJSONL writes a line with the filters and the total, then one JSON
// object per row, text exactly as recorded.
func writeJSONL(w http.ResponseWriter, q query, rows []any) error {
	enc := json.NewEncoder(w)
	filters := map[string]string{}
	for _, name := range q.names {
		if v := q.values.Get(name); v != "" {
			filters[name] = v
		}
	}
	if err := enc.Encode(struct {
		Filters map[string]string `json:"filters"`
		Total   int               `json:"total"`
	}{filters, len(rows)}); err != nil {
		return err
	}
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
