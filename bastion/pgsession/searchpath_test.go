package pgsession

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/policy/sqlclass"
	"github.com/gatehouse-dev/gatehouse/policy/sqlkind"
)

// TestPathChanges: which statements may leave another search_path in
// force once they have run (setsPath), and which may end a transaction,
// undoing a SET made in it (endsTx).
func TestPathChanges(t *testing.T) {
	c := sqlclass.NewClassifier(0)
	tests := []struct {
		sql        string
		sets, ends bool
	}{
		{"SELECT email FROM people", false, false},
		{"SET search_path = shadow", true, false},
		{"SET LOCAL search_path TO public", true, false},
		{"SET SCHEMA 'public'", true, false},
		{"RESET search_path", true, false},
		{"RESET ALL", true, false},
		{"DISCARD ALL", true, false},
		{"SELECT set_config('search_path', 'x', false)", true, false},
		{"SELECT set_config('search_' || 'path', 'x', false)", true, false},
		{"CREATE SCHEMA app_owner", true, false},
		{"DO $$ BEGIN PERFORM 1; END $$", true, false},
		{"EXECUTE q", true, false},
		{"SET statement_timeout = 5", false, false},
		{"BEGIN", false, false},
		{"START TRANSACTION", false, false},
		{"SAVEPOINT a", false, false},
		{"RELEASE SAVEPOINT a", false, false},
		{"COMMIT", false, true},
		{"END", false, true},
		{"ROLLBACK", false, true},
		{"ABORT", false, true},
		{"ROLLBACK TO SAVEPOINT a", false, true},
		{"/* x */ BEGIN", false, true}, // not read: counts as ending
	}
	for _, tt := range tests {
		stmts, err := c.Classify(tt.sql)
		if err != nil || len(stmts) != 1 {
			t.Fatalf("%s: %v", tt.sql, err)
		}
		if got := setsPath(stmts[0]); got != tt.sets {
			t.Errorf("setsPath(%s) = %v", tt.sql, got)
		}
		if got := endsTx(stmts[0]); got != tt.ends {
			t.Errorf("endsTx(%s) = %v", tt.sql, got)
		}
	}
}

// fakeAsk answers learnPathSQL as a session would.
type fakeAsk struct {
	path  []string
	tx    byte
	err   error
	calls int
}

func (f *fakeAsk) ask(ctx context.Context, sql string) ([][]string, byte, error) {
	f.calls++
	if sql != learnPathSQL {
		return nil, 0, fmt.Errorf("unexpected %q", sql)
	}
	rows := [][]string{}
	for _, s := range f.path {
		rows = append(rows, []string{s})
	}
	return rows, f.tx, f.err
}

// TestSessionPathFollows: the path is read from the session when unknown
// and not again until something may have changed it; a ROLLBACK matters
// only when the path was read inside the transaction; in a pipeline (or
// on any failure) the path stays unknown and the statement is refused.
func TestSessionPathFollows(t *testing.T) {
	c := sqlclass.NewClassifier(0)
	stmt := func(sql string) sqlclass.Statement {
		stmts, err := c.Classify(sql)
		if err != nil {
			t.Fatal(err)
		}
		return stmts[0]
	}
	ctx := context.Background()
	var p sessionPath
	p.changed()
	f := &fakeAsk{path: []string{"public"}, tx: 'I'}
	if path, err := p.current(ctx, f.ask); err != nil || !slices.Equal(path, []string{"public"}) || f.calls != 1 {
		t.Fatalf("first read: %v %v (%d calls)", path, err, f.calls)
	}
	p.ran(stmt("COMMIT")) // read outside a transaction: nothing to undo
	if _, err := p.current(ctx, f.ask); err != nil || f.calls != 1 {
		t.Fatalf("read again after a COMMIT that could not undo it (%d calls, %v)", f.calls, err)
	}
	p.ran(stmt("SET search_path = shadow"))
	f.path, f.tx = []string{"shadow"}, 'T'
	if path, _ := p.current(ctx, f.ask); !slices.Equal(path, []string{"shadow"}) || f.calls != 2 {
		t.Fatalf("after SET: %v (%d calls)", path, f.calls)
	}
	p.ran(stmt("ROLLBACK")) // read inside the transaction: it may undo the SET
	f.path, f.tx = []string{"public"}, 'I'
	if path, _ := p.current(ctx, f.ask); !slices.Equal(path, []string{"public"}) || f.calls != 3 {
		t.Fatalf("after ROLLBACK: %v (%d calls)", path, f.calls)
	}
	for _, failure := range []error{pgwire.ErrNotIdle, errors.New("current transaction is aborted")} {
		p.ran(stmt("RESET search_path"))
		f.err = failure
		if path, err := p.current(ctx, f.ask); err == nil || path != nil {
			t.Fatalf("with %v: path %v, err %v", failure, path, err)
		}
		if _, err := p.current(ctx, nil); err == nil {
			t.Fatal("an unknown path with nothing to ask was taken as known")
		}
	}
}

// TestPreparedTexts: the unnamed statement is replaced by each Parse; a
// named one keeps every text it was given (a second Parse of the name may
// fail upstream and leave the first), up to maxDefinitions.
func TestPreparedTexts(t *testing.T) {
	var p sessionPath
	set := []sqlclass.Statement{{Kinds: []sqlkind.Kind{sqlkind.Set}, Settings: []string{"search_path"}}}
	if err := p.prepared("", "SET search_path = x", set, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.prepared("", "SELECT 1", nil, nil); err != nil || p.statements[""].sets || len(p.statements[""].texts) != 1 {
		t.Fatalf("unnamed: %+v, %v", p.statements[""], err)
	}
	for i := range maxDefinitions {
		if err := p.prepared("s", fmt.Sprintf("SELECT %d", i), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.prepared("s", "SELECT 1", set, nil); err != nil || !p.statements["s"].sets {
		t.Fatalf("a text already known: %v; sets %v", err, p.statements["s"].sets)
	}
	if err := p.prepared("s", "SELECT 'one more'", nil, nil); err == nil {
		t.Fatal("a name defined more than maxDefinitions times was accepted")
	}
	// Many names, or big texts: bounded in bytes, whatever the names.
	big := strings.Repeat("x", 1<<20)
	var err error
	for i := 0; err == nil; i++ {
		err = p.prepared(fmt.Sprint("n", i), big+fmt.Sprint(i), nil, nil)
		if i > maxPreparedBytes>>20 {
			t.Fatalf("%d MiB of prepared texts kept", i)
		}
	}
	if p.preparedBytes > maxPreparedBytes {
		t.Fatalf("%d bytes kept", p.preparedBytes)
	}
	// The unnamed statement replaced, again and again, stays counted once.
	before := p.preparedBytes
	for i := range 100 {
		if err := p.prepared("", fmt.Sprint("SELECT ", i%10), nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if p.preparedBytes > before+len("SELECT 1") {
		t.Fatalf("replacing the unnamed statement grew the count to %d", p.preparedBytes)
	}
}

// TestRunsUserCode: code the database runs out of gatehouse's sight may
// set the search_path: a function allow_functions lets through, and a
// write (triggers). Such statements leave the path to be read again.
func TestRunsUserCode(t *testing.T) {
	c := sqlclass.NewClassifier(0)
	m := &sessionMasking{policy: policy.MaskingPolicy{AllowFunctions: []string{"public.safe_fn"}}}
	m.path.userCode = m.runsUserCode
	tests := []struct {
		sql  string
		want bool
	}{
		{"SELECT upper(email) FROM people", false},
		{"SELECT safe_fn(1)", true},
		{"SELECT public.SAFE_FN(1)", true},
		{"INSERT INTO t VALUES (1)", true},
		{"UPDATE t SET a = 1", true},
		{"DELETE FROM t", true},
	}
	for _, tt := range tests {
		stmts, err := c.Classify(tt.sql)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.path.sets(stmts[0]); got != tt.want {
			t.Errorf("%s: sets the path %v, want %v", tt.sql, got, tt.want)
		}
	}
}
