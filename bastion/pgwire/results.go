package pgwire

import (
	"regexp"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Result is one set of result rows about to reach the client, for
// Upstream.Results: a simple query's (each statement of the string that
// returns rows), or an Execute's portal.
type Result struct {
	// Fields as the database described them, with the format codes the
	// rows are in.
	Fields []pgproto3.FieldDescription
	// Detail is the Verdict.Detail of the SQL string that produced the
	// rows: the simple Query's, or the Parse's of the portal's statement;
	// nil when gatehouse did not see it (a portal it did not see bound).
	Detail any
	// Statement is which statement of a simple Query string the rows are
	// from, counted from 0; 0 for an Execute.
	Statement int
	// Copy: the rows are COPY TO STDOUT data (CopyData, one row each),
	// Columns of them; Fields is empty.
	Copy    bool
	Columns int
}

// RowRewrite rewrites a result's rows: one entry per field, nil for a field
// that passes unchanged. A nil RowRewrite passes every row unchanged.
type RowRewrite struct {
	Columns []ColumnRewrite
	// Notes say what was done, for StatementEvent.Rewritten (for example
	// which columns were masked and by which rule). Never values.
	Notes []string
	// CopyRow rewrites one CopyData message of a COPY TO: it appends the
	// new data to dst and returns it.
	CopyRow func(dst, data []byte) []byte
}

// ColumnRewrite rewrites one non-NULL value of its column. It appends the
// new value to dst and returns it, or returns null to send SQL NULL.
type ColumnRewrite func(dst, value []byte) (out []byte, null bool)

// active reports whether the rewrite changes anything.
func (rw *RowRewrite) active() bool {
	if rw == nil {
		return false
	}
	if rw.CopyRow != nil {
		return true
	}
	for _, c := range rw.Columns {
		if c != nil {
			return true
		}
	}
	return false
}

// rowRewriter applies rewrites to DataRows. Its buffers are reused from row
// to row: a rewritten DataRow is valid only until the next one, which is
// enough because the relay encodes each message before it reads the next.
type rowRewriter struct {
	buf    []byte
	ends   []int // where each rewritten value ends in buf; -1 unchanged, -2 NULL
	values [][]byte
	row    pgproto3.DataRow
}

const (
	valueUnchanged = -1
	valueNull      = -2
)

// rewrite returns m with rw applied. A row whose field count differs from
// the description is answered all NULL rather than passed through: the
// rewrite cannot tell which value is which (fail closed).
func (w *rowRewriter) rewrite(rw *RowRewrite, m *pgproto3.DataRow) *pgproto3.DataRow {
	if len(m.Values) != len(rw.Columns) {
		return w.allNull(m)
	}
	w.buf, w.ends = w.buf[:0], w.ends[:0]
	for i, v := range m.Values {
		fn := rw.Columns[i]
		if fn == nil || v == nil {
			w.ends = append(w.ends, valueUnchanged)
			continue
		}
		out, null := fn(w.buf, v)
		if null {
			w.ends = append(w.ends, valueNull)
			continue
		}
		w.buf = out
		w.ends = append(w.ends, len(w.buf))
	}
	// Sliced only now: buf may have moved while it grew.
	w.values = w.values[:0]
	start := 0
	for i, end := range w.ends {
		switch end {
		case valueUnchanged:
			w.values = append(w.values, m.Values[i])
		case valueNull:
			w.values = append(w.values, nil)
		default:
			w.values = append(w.values, w.buf[start:end:end])
			start = end
		}
	}
	w.row.Values = w.values
	return &w.row
}

// allNull returns m with every value NULL.
func (w *rowRewriter) allNull(m *pgproto3.DataRow) *pgproto3.DataRow {
	w.values = w.values[:0]
	for range m.Values {
		w.values = append(w.values, nil)
	}
	w.row.Values = w.values
	return &w.row
}

// redactedDetail replaces the fields of a database error that quote data.
const redactedDetail = "(redacted by gatehouse: masking applies to this session)"

// quoted matches what PostgreSQL's messages quote: values, as in
// `invalid input syntax for type integer: "ada@example.com"`, and names.
var quoted = regexp.MustCompile(`"(?:[^"]|"")*"`)

// redactError returns a copy of m without what could echo a value: quoted
// text in the message and hint becomes "****", and the detail, context
// (Where) and internal query, where PostgreSQL shows rows and keys
// ("Key (email)=(...) already exists", "Failing row contains (...)"), are
// replaced. The SQLSTATE, severity, position and names of the schema
// objects involved stay, so the error still says what went wrong.
func redactError(m *pgproto3.ErrorResponse) *pgproto3.ErrorResponse {
	out := *m
	out.Message = quoted.ReplaceAllLiteralString(m.Message, `"****"`)
	out.Hint = quoted.ReplaceAllLiteralString(m.Hint, `"****"`)
	for _, f := range []*string{&out.Detail, &out.Where, &out.InternalQuery} {
		if *f != "" {
			*f = redactedDetail
		}
	}
	out.UnknownFields = nil
	return &out
}
