package pgwire

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// BenchmarkRelayStatement is one simple-query round trip through Serve:
// the client's Query over a net.Pipe, Inspect, the fake upstream's
// RowDescription, two DataRows, CommandComplete and ReadyForQuery back,
// with Observe told of the statement. The fake's own work and the pipe's
// are in it too, the same in every variant; what differs between
// variants is gatehouse's. /masked has Results rewrite the first column.
func BenchmarkRelayStatement(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchRelayStatement(b, nil) })
	b.Run("unmasked-results", func(b *testing.B) {
		benchRelayStatement(b, func(Result) *RowRewrite { return nil })
	})
	b.Run("masked", func(b *testing.B) {
		benchRelayStatement(b, func(Result) *RowRewrite { return benchMask })
	})
}

func benchRelayStatement(b *testing.B, results func(Result) *RowRewrite) {
	f := newFakeUpstream(b)
	f.quiet = true
	cfg := baseConfig(b, f)
	cfg.Observe = func(StatementEvent) {}
	if results != nil {
		cfg.Authorize = func(ctx context.Context, s Startup) (*Upstream, error) {
			return &Upstream{Config: f.config(b), Results: results}, nil
		}
	}
	c := serveClient(b, context.Background(), cfg)
	c.send(startup("app_ro"))
	c.untilReady()
	q := &pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = 42"}
	b.ReportAllocs()
	for b.Loop() {
		c.fe.Send(q)
		if err := c.fe.Flush(); err != nil {
			b.Fatal(err)
		}
		for {
			msg, err := c.fe.Receive()
			if err != nil {
				b.Fatal(err)
			}
			if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
				break
			}
		}
	}
}

// benchMask rewrites the first column to "x" + value.
var benchMask = &RowRewrite{
	Columns: []ColumnRewrite{func(dst, v []byte) ([]byte, bool) { return append(append(dst, 'x'), v...), false }},
	Notes:   []string{"n: masked"},
}
