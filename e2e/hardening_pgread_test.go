//go:build servers

package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// testHardeningPgread attacks the relay's own message reader
// (bastion/pgwire/msgreader.go), which waits for messages in a small
// buffer and borrows a larger one only while a message or a burst needs
// it: messages cut at every point, bursts far larger than its buffer, and
// a message over the client's limit, each through the real tunnel.
func testHardeningPgread(t *testing.T, w *world, p profile) {
	port, stop := w.startTunnel(t, w.sshConfig(p), "orders")
	defer stop()

	t.Run("a pipeline sent a byte at a time", func(t *testing.T) {
		s := newRawSession(t, port, "readonly")
		wire := encodeAll(t, parse("", "SELECT $1::text || 'b'"),
			&pgproto3.Bind{Parameters: [][]byte{[]byte("a")}}, execute(""), syncMsg)
		for _, b := range wire {
			if _, err := s.conn.Conn().Write([]byte{b}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond) // each byte its own read at gatehouse
		}
		if r := s.readRound(); len(r.rows) != 1 || r.rows[0] != "ab" || len(r.errors) != 0 {
			t.Fatalf("want the row ab: %s", r)
		}
	})

	t.Run("bursts larger than the reader's buffer, then idle", func(t *testing.T) {
		s := newRawSession(t, port, "readonly")
		var msgs []pgproto3.FrontendMessage
		for i := range 300 { // ≈ 6 KiB in one write, 300 replies back
			msgs = append(msgs, query(fmt.Sprintf("SELECT %d", i)))
		}
		r := s.round(msgs...)
		for i := 0; i < 300; i++ {
			if len(r.rows) != 1 || r.rows[0] != fmt.Sprint(i) {
				t.Fatalf("reply %d: %s", i, r)
			}
			if i < 299 {
				r = s.readRound()
			}
		}
		big := s.round(query("SELECT repeat('x', 200000)"), query("SELECT 'after'"))
		if len(big.rows) != 1 || len(big.rows[0]) != 200000 {
			t.Fatalf("want one row of 200,000 bytes: %d rows %v", len(big.rows), big.errors)
		}
		if r := s.readRound(); len(r.rows) != 1 || r.rows[0] != "after" {
			t.Fatalf("after the large row: %s", r)
		}
		time.Sleep(time.Second)
		if r := s.round(query("SELECT 'still here'")); len(r.rows) != 1 || r.rows[0] != "still here" {
			t.Fatalf("after idling: %s", r)
		}
	})

	t.Run("a message over the client's limit ends the session saying so", func(t *testing.T) {
		s := newRawSession(t, port, "readonly")
		const limit = 16 << 20 // pgwire.DefaultMaxMessageSize
		wire := encodeAll(t, query("SELECT '"+strings.Repeat("x", limit)+"'"))
		go s.conn.Conn().Write(wire) // gatehouse stops reading at the header
		r := s.readUntilError()
		want := fmt.Sprintf("54000 gatehouse: message of %d bytes exceeds the limit of %d bytes", len(wire)-5, limit)
		if !strings.HasPrefix(r, want) {
			t.Fatalf("got %q; want %q", r, want)
		}
	})
}

// encodeAll is msgs as a client sends them.
func encodeAll(t *testing.T, msgs ...pgproto3.FrontendMessage) []byte {
	t.Helper()
	var wire bytes.Buffer
	fe := pgproto3.NewFrontend(nil, &wire)
	for _, m := range msgs {
		fe.Send(m)
	}
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	return wire.Bytes()
}

// readRound reads one more round's replies, up to ReadyForQuery.
func (s *rawSession) readRound() reply { return s.round() }

// readUntilError reads until an ErrorResponse and returns its code and
// message.
func (s *rawSession) readUntilError() string {
	s.t.Helper()
	s.conn.Conn().SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		msg, err := s.fe.Receive()
		if err != nil {
			s.t.Fatalf("reading: %v", err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			return e.Code + " " + e.Message
		}
	}
}
