package pgwire

import (
	"encoding/binary"
	"errors"
	"math"

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
	// for rows of a cursor or of a statement prepared in SQL, the Source
	// of its NameEffect. Nil when gatehouse does not know exactly what
	// the server holds under the name (see NameOp).
	Detail any
	// Statement is which statement of Detail's string the rows are from,
	// counted from 0; 0 for an Execute, a FETCH or an EXECUTE.
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
// new value to dst and returns the extended slice (dst's bytes kept: dst is
// the message being encoded), or returns null to send SQL NULL.
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

// rowRewriter applies rewrites to DataRows. The rewrite happens while the
// row is encoded for the client (rewrittenRow), straight into the relay's
// output buffer: no copy of the row is built in between. The message it
// returns is valid only until the next row, which is enough because the
// relay encodes each message before it reads the next.
type rowRewriter struct {
	row    rewrittenRow
	values [][]byte
	nulls  pgproto3.DataRow
}

// rewrite returns m with rw applied. A row whose field count differs from
// the description is answered all NULL rather than passed through: the
// rewrite cannot tell which value is which (fail closed).
func (w *rowRewriter) rewrite(rw *RowRewrite, m *pgproto3.DataRow) pgproto3.BackendMessage {
	if len(m.Values) != len(rw.Columns) {
		return w.allNull(m)
	}
	w.row = rewrittenRow{rw: rw, src: m}
	return &w.row
}

// allNull returns m with every value NULL.
func (w *rowRewriter) allNull(m *pgproto3.DataRow) *pgproto3.DataRow {
	w.values = w.values[:0]
	for range m.Values {
		w.values = append(w.values, nil)
	}
	w.nulls.Values = w.values
	return &w.nulls
}

// rewrittenRow is a DataRow whose values are rewritten as it is encoded.
// It is only ever sent, never received.
type rewrittenRow struct {
	rw  *RowRewrite // one column rewrite per value of src
	src *pgproto3.DataRow
}

func (*rewrittenRow) Backend() {}

func (*rewrittenRow) Decode([]byte) error {
	return errors.New("pgwire: a rewritten row is not decoded")
}

// Encode appends the DataRow with each value rewritten by its column's
// ColumnRewrite, which appends the new value right after its length.
func (r *rewrittenRow) Encode(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = append(dst, 'D', 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(r.src.Values)))
	for i, v := range r.src.Values {
		fn := r.rw.Columns[i]
		if v == nil {
			dst = binary.BigEndian.AppendUint32(dst, sqlNull)
			continue
		}
		if fn == nil {
			dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
			dst = append(dst, v...)
			continue
		}
		at := len(dst)
		out, null := fn(append(dst, 0, 0, 0, 0), v)
		if null {
			dst = binary.BigEndian.AppendUint32(dst[:at], sqlNull)
			continue
		}
		dst = out
		binary.BigEndian.PutUint32(dst[at:], uint32(len(dst)-at-4))
	}
	if len(dst)-start-1 > math.MaxInt32 {
		return nil, errors.New("pgwire: a rewritten row is too large")
	}
	binary.BigEndian.PutUint32(dst[start+1:], uint32(len(dst)-start-1))
	return dst, nil
}

// sqlNull is a NULL value's length on the wire (-1).
const sqlNull = 0xFFFFFFFF
