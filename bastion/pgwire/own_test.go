package pgwire

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// askResult is what one Query.Ask returned.
type askResult struct {
	rows [][]string
	tx   byte
	err  error
}

// TestAsk: Inspect may run SQL of its own on the client's upstream session
// between statements: it sees the rows and the transaction status, the
// client sees nothing of it (not even its error), and in the middle of a
// pipeline it is refused with ErrNotIdle rather than run inside it.
func TestAsk(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	cfg := baseConfig(t, f)
	var asked []askResult
	cfg.Inspect = func(ctx context.Context, q Query) Verdict {
		if strings.Contains(q.SQL, "ask") {
			own := "SELECT own"
			if strings.Contains(q.SQL, "bad") {
				own = "BOGUS"
			}
			rows, tx, err := q.Ask(ctx, own)
			asked = append(asked, askResult{rows, tx, err})
		}
		return Verdict{Allow: true}
	}
	c := startSession(t, context.Background(), cfg)
	simple := []string{"T", "D:1", "D:2", "C:SELECT 2"}
	steps := []struct {
		sql  string
		want []string
	}{
		{"SELECT ask", append(slices.Clone(simple), "Z:I")},
		{"SELECT ask bad", append(slices.Clone(simple), "Z:I")},
		{"BEGIN", []string{"C:BEGIN", "Z:T"}},
		{"SELECT ask", append(slices.Clone(simple), "Z:T")},
	}
	for _, st := range steps {
		c.send(&pgproto3.Query{String: st.sql})
		if got := c.untilReady(); !slices.Equal(got, st.want) {
			t.Fatalf("%q: got %q, want %q", st.sql, got, st.want)
		}
	}
	if len(asked) != 3 || !slices.EqualFunc(asked[0].rows, [][]string{{"1"}}, slices.Equal) || asked[0].tx != 'I' || asked[0].err != nil ||
		asked[1].err == nil || asked[2].tx != 'T' || asked[2].err != nil {
		t.Fatalf("Ask returned %+v", asked)
	}
	// In a pipeline: the earlier Parse is not answered yet.
	c.send(&pgproto3.Query{String: "ROLLBACK"})
	c.untilReady()
	c.send(&pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Bind{}, &pgproto3.Execute{},
		&pgproto3.Parse{Name: "x", Query: "SELECT ask"}, &pgproto3.Sync{})
	c.untilReady()
	if last := asked[len(asked)-1]; len(asked) != 4 || !errors.Is(last.err, ErrNotIdle) {
		t.Fatalf("Ask in a pipeline returned %+v", asked)
	}
	// Between two of the client's extended-protocol messages, all
	// answered but with no Sync yet: the client's implicit transaction is
	// open, and a Sync of gatehouse's would end it.
	c.send(&pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Flush{})
	c.until(func(m pgproto3.BackendMessage) bool { _, ok := m.(*pgproto3.ParseComplete); return ok })
	c.send(&pgproto3.Parse{Name: "y", Query: "SELECT ask"}, &pgproto3.Sync{})
	c.untilReady()
	if last := asked[len(asked)-1]; len(asked) != 5 || !errors.Is(last.err, ErrNotIdle) {
		t.Fatalf("Ask in the middle of a round returned %+v", asked)
	}
	// The own query runs under names of its own, never as a simple Query,
	// which would destroy the client's unnamed statement and portal.
	for _, m := range f.messages() {
		if strings.Contains(m, "SELECT own") && !strings.HasPrefix(m, "P:gatehouse_") {
			t.Errorf("own query sent as %q", m)
		}
	}
}

// TestBindRefused: a Bind the Bind hook denies reaches the database naming
// a statement that does not exist, the client gets the refusal in its
// place, the rest of the pipeline is skipped to Sync, and Observe records
// the refusal.
func TestBindRefused(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	var events eventLog
	cfg := baseConfig(t, f)
	cfg.Observe = events.observe
	cfg.Bind = func(ctx context.Context, statement string, ask AskFunc) Verdict {
		if statement == "bad" {
			return Verdict{Message: "gatehouse: bound under another path"}
		}
		return Verdict{Allow: true}
	}
	c := startSession(t, context.Background(), cfg)
	c.send(&pgproto3.Parse{Name: "bad", Query: "SELECT 1"}, &pgproto3.Parse{Name: "good", Query: "SELECT 1"}, &pgproto3.Sync{})
	c.untilReady()
	c.send(&pgproto3.Bind{PreparedStatement: "good"}, &pgproto3.Execute{},
		&pgproto3.Bind{PreparedStatement: "bad"}, &pgproto3.Execute{}, &pgproto3.Sync{})
	got := c.untilReady()
	want := []string{"2", "D:1", "C:SELECT 1", "E:ERROR:42501:gatehouse: bound under another path", "Z:I"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if slices.Contains(f.messages(), "B::bad") || !slices.Contains(f.messages(), "B::"+refusedSQL) {
		t.Errorf("upstream log %q: the refused Bind went through", f.messages())
	}
	var denied bool
	for _, ev := range events.all() {
		denied = denied || ev.Outcome == OutcomeDenied && ev.StatementName == "bad"
	}
	if !denied {
		t.Errorf("events %+v: no denied Bind", events.all())
	}
}
