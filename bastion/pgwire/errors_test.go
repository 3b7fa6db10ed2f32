package pgwire

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestRedactError: the ways PostgreSQL shows a value in an error or a
// notice, quoted or not, in any field; none survives, and what stays says
// what went wrong.
func TestRedactError(t *testing.T) {
	tests := []struct {
		name     string
		in       pgproto3.ErrorResponse
		code     string
		severity string
	}{
		{"a quoted value", pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "22P02",
			Message: `invalid input syntax for type integer: "123-45-6789"`, Position: 8}, "22P02", "ERROR"},
		{"a bare number: chr(ssn::int)", pgproto3.ErrorResponse{Severity: "ERROR", Code: "54000",
			Message: "requested character too large for encoding: 123456789"}, "54000", "ERROR"},
		{"a notice: pg_cancel_backend(ssn::int)", pgproto3.ErrorResponse{Severity: "WARNUNG", SeverityUnlocalized: "WARNING",
			Code: "01000", Message: "PID 123456789 is not a PostgreSQL backend process"}, "01000", "WARNING"},
		{"a key in the detail", pgproto3.ErrorResponse{Severity: "ERROR", Code: "23505",
			Message: `duplicate key value violates unique constraint "people_ssn_key"`, Detail: "Key (ssn)=(123-45-6789) already exists.",
			SchemaName: "public", TableName: "people", ColumnName: "ssn", ConstraintName: "people_ssn_key"}, "23505", "ERROR"},
		{"every free-text field", pgproto3.ErrorResponse{Severity: "ERROR", Code: "XX000", Message: "123456789",
			Detail: "123456789", Hint: "123456789", Where: "123456789", InternalQuery: "SELECT 123456789", InternalPosition: 3,
			DataTypeName: "123456789", File: "123456789", Line: 1, Routine: "123456789",
			UnknownFields: map[byte]string{'Z': "123456789"}}, "XX000", "ERROR"},
		{"a SQLSTATE a RAISE chose", pgproto3.ErrorResponse{Severity: "ERROR", Code: "22Q89", Message: "x"}, "22000", "ERROR"},
		{"a SQLSTATE of no class", pgproto3.ErrorResponse{Severity: "ERROR", Code: "12345", Message: "x"}, "XX000", "ERROR"},
		{"a severity that is not PostgreSQL's", pgproto3.ErrorResponse{Severity: "123456789", Code: "22012", Message: "x"}, "22012", "ERROR"},
		{"FATAL stays FATAL", pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P01",
			Message: "terminating connection due to administrator command"}, "57P01", "FATAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			got := redactError(&in)
			want := pgproto3.ErrorResponse{Severity: tt.severity, SeverityUnlocalized: tt.severity, Code: tt.code,
				Message: sqlstateNames[tt.code] + redactedNote, Position: tt.in.Position}
			if !equalError(got, &want) {
				t.Fatalf("redacted to %+v, want %+v", got, want)
			}
			for _, s := range []string{"123", "ssn", "people"} {
				if strings.Contains(got.Message, s) {
					t.Fatalf("%q survived: %+v", s, got)
				}
			}
			if in.Message != tt.in.Message {
				t.Fatal("the original was changed")
			}
		})
	}
}

func equalError(a, b *pgproto3.ErrorResponse) bool {
	ea, _ := a.Encode(nil)
	eb, _ := b.Encode(nil)
	return string(ea) == string(eb)
}

// TestSQLStateClasses: every class PostgreSQL defines has its class code
// listed, so a code of a newer release falls back to its own class.
func TestSQLStateClasses(t *testing.T) {
	for code := range sqlstateNames {
		if _, ok := sqlstateNames[code[:2]+"000"]; !ok {
			t.Errorf("class of %s has no %s000", code, code[:2])
		}
	}
}

// FuzzRedactError: what the client gets depends only on the SQLSTATE,
// the severity and the position: the same error with every other field
// replaced by other bytes redacts to the same message, so no byte of a
// value in them can reach the client.
func FuzzRedactError(f *testing.F) {
	f.Add("22P02", "ERROR", `invalid input syntax for type integer: "1"`, "d", "h", "w", "q", "c", int32(3))
	f.Add("54000", "ERROR", "requested character too large for encoding: 100000007", "", "", "", "", "", int32(0))
	f.Add("01000", "WARNING", "PID 100000007 is not a PostgreSQL backend process", "", "", "", "", "", int32(0))
	f.Fuzz(func(t *testing.T, code, sev, msg, detail, hint, where, query, col string, pos int32) {
		m := &pgproto3.ErrorResponse{Severity: sev, SeverityUnlocalized: sev, Code: code, Message: msg, Detail: detail,
			Hint: hint, Where: where, InternalQuery: query, ColumnName: col, TableName: col, SchemaName: col,
			ConstraintName: col, DataTypeName: col, Routine: col, File: col, Position: pos}
		other := &pgproto3.ErrorResponse{Severity: sev, SeverityUnlocalized: sev, Code: code, Message: "other",
			Position: pos, UnknownFields: map[byte]string{'Z': msg}}
		got := redactError(m)
		if !equalError(got, redactError(other)) {
			t.Fatalf("the redaction depends on more than code, severity and position: %+v", got)
		}
		if _, ok := sqlstateNames[got.Code]; !ok {
			t.Fatalf("SQLSTATE %q is not PostgreSQL's", got.Code)
		}
	})
}
