package pgwire

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// holdingConfig is baseConfig whose Inspect gives "SELECT n FROM t" the
// Hold hold.
func holdingConfig(t *testing.T, f *fakeUpstream, hold func() error) Config {
	cfg := baseConfig(t, f)
	cfg.Inspect = func(ctx context.Context, q Query) Verdict {
		v := policyDenyingDelete(ctx, q)
		if v.Allow && q.SQL == "SELECT n FROM t" {
			v.Hold = hold
		}
		return v
	}
	return cfg
}

// TestHoldWithholdsResults: a held string reaches the database at once,
// but its results reach the client only once Hold returns; the next
// string, without a Hold, is not held.
func TestHoldWithholdsResults(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	release := make(chan struct{})
	var released atomic.Bool
	waiting := make(chan struct{}, 8)
	c := startSession(t, context.Background(), holdingConfig(t, f, func() error {
		waiting <- struct{}{}
		<-release
		return nil
	}))

	c.send(&pgproto3.Query{String: "SELECT n FROM t"})
	type first struct {
		msg      string
		released bool
		err      error
	}
	firstc := make(chan first, 1)
	go func() {
		msg, err := c.receive()
		if err != nil {
			firstc <- first{err: err}
			return
		}
		firstc <- first{msg: summarize(msg), released: released.Load()}
	}()
	f.waitFor(t, "Q:SELECT n FROM t") // forwarded while held
	// The reply came back and waits for the Hold.
	select {
	case <-waiting:
	case got := <-firstc:
		t.Fatalf("the client got %q (err %v) and Hold was never called", got.msg, got.err)
	case <-time.After(5 * time.Second):
		t.Fatal("Hold was never called")
	}
	released.Store(true)
	close(release)
	got := <-firstc
	if got.err != nil || !got.released {
		t.Fatalf("first message to the client %q (err %v) arrived before the Hold returned", got.msg, got.err)
	}
	rest := c.untilReady()
	if want := []string{"D:1", "D:2", "C:SELECT 2", "Z:I"}; got.msg != "T" || !slices.Equal(rest, want) {
		t.Fatalf("got %q then %q, want T then %q", got.msg, rest, want)
	}

	c.send(&pgproto3.Query{String: "SELECT 1"})
	if got := c.untilReady(); !slices.Equal(got, []string{"T", "D:1", "D:2", "C:SELECT 2", "Z:I"}) {
		t.Fatalf("unheld statement: %q", got)
	}
	c.send(&pgproto3.Terminate{})
	if err := c.result(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestHoldStartsBeforeTheDatabaseAnswers: the Hold runs once the string
// has gone to the database, not when its answer comes back, so that the
// record's fsync and the database's work overlap.
func TestHoldStartsBeforeTheDatabaseAnswers(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	held := make(chan struct{})
	var once sync.Once
	var answeredFirst atomic.Bool
	f.onQuery = func(q string, _ *pgproto3.Backend, _ net.Conn) bool {
		if q == "SELECT n FROM t" {
			select {
			case <-held:
			case <-time.After(2 * time.Second):
				answeredFirst.Store(true)
			}
		}
		return false // the fake's usual answer
	}
	c := startSession(t, context.Background(), holdingConfig(t, f, func() error {
		once.Do(func() { close(held) })
		return nil
	}))
	c.send(&pgproto3.Query{String: "SELECT n FROM t"})
	if got := c.untilReady(); !slices.Equal(got, []string{"T", "D:1", "D:2", "C:SELECT 2", "Z:I"}) {
		t.Fatalf("held statement: %q", got)
	}
	if answeredFirst.Load() {
		t.Error("the Hold ran only after the database answered")
	}
	c.send(&pgproto3.Terminate{})
	if err := c.result(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// TestHoldFailureWithholdsResults: when Hold fails, the client gets none
// of the results, only a FATAL saying why, and the session ends.
func TestHoldFailureWithholdsResults(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	c := startSession(t, context.Background(), holdingConfig(t, f, func() error {
		return errors.New("fsync: input/output error")
	}))
	c.send(&pgproto3.Query{String: "SELECT n FROM t"})
	got := c.untilEOF()
	if want := []string{"E:FATAL:XX000:" + msgUnrecorded}; !slices.Equal(got, want) {
		t.Fatalf("client got %q\nwant %q", got, want)
	}
	if err := c.result(); err == nil || !strings.Contains(err.Error(), reasonUnrecorded) {
		t.Fatalf("Serve: %v, want %q", err, reasonUnrecorded)
	}
}
