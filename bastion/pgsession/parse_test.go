package pgsession

import (
	"context"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// TestUnparsableAnsweredAsPostgreSQL: a string the parser rejects is
// refused (it never reaches the database) with what PostgreSQL would have
// said: 42601, the parser's message and its position; the record says it
// was unparsable.
func TestUnparsableAnsweredAsPostgreSQL(t *testing.T) {
	s := vaultSession(t, nil)
	tests := []struct {
		sql      string
		message  string
		position int
	}{
		{"SELEC 1", `syntax error at or near "SELEC"`, 1},
		{"SELECT 1 FROM", `syntax error at end of input`, 14},
		{"SELECT 'é' FRM t", `syntax error at or near "t"`, 16}, // characters, not bytes
	}
	for _, tt := range tests {
		v := s.inspect(context.Background(), pgwireQuery(tt.sql))
		if v.Allow || v.Code != "42601" || v.Message != tt.message || v.Position != tt.position {
			t.Errorf("%q: allow %v, code %q, message %q, position %d; want 42601 %q at %d",
				tt.sql, v.Allow, v.Code, v.Message, v.Position, tt.message, tt.position)
		}
		if d, _ := v.Detail.(*statementDetail); d == nil || d.Rule != "parse" {
			t.Errorf("%q: recorded rule %+v, want parse", tt.sql, v.Detail)
		}
	}
}

func pgwireQuery(sql string) pgwire.Query { return pgwire.Query{SQL: sql} }
