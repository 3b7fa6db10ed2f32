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

// export writes every row the filters select, after recording the export.
func (c *Console) export(w http.ResponseWriter, q query, a event.Auditor, rows []row) {
	rec := event.ConsoleExport{Auditor: a, Path: "/sessions", Format: q.format, Filters: q.recordedFilters(false), Rows: len(rows)}
	if !c.record(w, event.TypeConsoleExport, rec) {
		return
	}
	h := w.Header()
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="sessions.%s"`, q.format))
	var err error
	if q.format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		err = writeCSV(w, q, rows)
	} else {
		h.Set("Content-Type", "application/x-ndjson; charset=utf-8")
		err = writeJSONL(w, q, rows)
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
func writeCSV(w http.ResponseWriter, q query, rows []row) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{cell("# gatehouse sessions; filters: " + filterText(q) + "; " + strconv.Itoa(len(rows)) + " sessions")})
	cw.Write(csvHeader)
	for _, r := range rows {
		cw.Write([]string{cell(r.Session), r.Start, r.End, cell(r.Duration), cell(r.Identity), cell(r.Agent), cell(r.Targets),
			strconv.Itoa(r.Channels), strconv.Itoa(r.Statements), strconv.Itoa(r.Denied), strconv.Itoa(r.Refusals),
			cell(r.EndReason), cell(r.Chain), cell(r.Verification)})
	}
	cw.Flush()
	return cw.Error()
}

// filterText is the filters as name=value pairs (quoted), in filterNames
// order; "none" without any.
func filterText(q query) string {
	var parts []string
	for _, name := range filterNames {
		if v := q.values.Get(name); v != "" {
			parts = append(parts, name+"="+strconv.Quote(v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// cell makes text safe for a spreadsheet: controls visible
// (recorder.Printable), and a cell that a spreadsheet would take for a
// formula (it starts with =, +, -, @, a tab or a carriage return) prefixed
// with an apostrophe, which shows it as text (OWASP, CSV injection).
func cell(s string) string {
	s = recorder.Printable(s)
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// writeJSONL writes a line with the filters and the total, then one JSON
// object per row, text exactly as recorded.
func writeJSONL(w http.ResponseWriter, q query, rows []row) error {
	enc := json.NewEncoder(w)
	filters := map[string]string{}
	for _, name := range filterNames {
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
