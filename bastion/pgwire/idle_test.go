package pgwire

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestIdleSessionGoroutines: an idle session holds two goroutines of its
// own: Serve's, which copies the database's messages to the client, and
// the one that reads the client. None sits waiting for the other two.
func TestIdleSessionGoroutines(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	c := startSession(t, context.Background(), baseConfig(t, f))
	c.send(&pgproto3.Query{String: "SELECT 1"})
	c.untilReady()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := sessionGoroutines()
		if n == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("an idle session holds %d goroutines, want 2", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sessionGoroutines counts the goroutines running a session's code.
func sessionGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "bastion/pgwire.(*session).") {
			n++
		}
	}
	return n
}

// TestCancelWithClientNotReading: a session whose context ends while its
// client reads nothing, a result stuck on its way to it, still ends:
// the client is closed after clientWriteGrace, and Serve returns.
func TestCancelWithClientNotReading(t *testing.T) {
	checkLeaks(t)
	f := newFakeUpstream(t)
	f.onQuery = func(q string, be *pgproto3.Backend, conn net.Conn) bool {
		be.Send(oneColumn())
		row := &pgproto3.DataRow{Values: [][]byte{[]byte(strings.Repeat("x", 1<<10))}}
		for range 1 << 10 {
			be.Send(row)
		}
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1024")})
		be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
		return true
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	c := startSession(t, ctx, baseConfig(t, f))
	c.send(&pgproto3.Query{String: "SELECT big"})
	time.Sleep(100 * time.Millisecond) // the result is stuck in the pipe
	start := time.Now()
	cancel(errors.New("test: session ended"))
	select {
	case <-c.done:
		c.done <- nil
	case <-time.After(clientWriteGrace + 5*time.Second):
		t.Fatal("Serve did not return with a client that does not read")
	}
	if d := time.Since(start); d < clientWriteGrace-time.Second {
		t.Errorf("Serve returned after %v: the client was not given clientWriteGrace (%v)", d, clientWriteGrace)
	}
}
