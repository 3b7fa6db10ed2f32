package pgwire

import (
	"bytes"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestOutputKeepsItsBuffer: streaming rows reuses one buffer from flush to
// flush (no allocation per flush), and the buffer is let go once the
// exchange is over; what is written is every message, in order.
func TestOutputKeepsItsBuffer(t *testing.T) {
	var sent bytes.Buffer
	o := output{w: &sent}
	row := &pgproto3.DataRow{Values: [][]byte{bytes.Repeat([]byte("x"), 100)}}
	stream := func() {
		for range 300 { // ≈ 32 KiB
			if err := o.send(row); err != nil {
				t.Fatal(err)
			}
		}
		if err := o.flush(false); err != nil {
			t.Fatal(err)
		}
	}
	stream()
	if allocs := testing.AllocsPerRun(20, func() { sent.Reset(); stream() }); allocs != 0 {
		t.Errorf("%v allocations per streamed flush, want 0", allocs)
	}
	if cap(o.buf) <= maxIdleOutput {
		t.Fatalf("buffer of %d bytes: the test needs one larger than %d", cap(o.buf), maxIdleOutput)
	}
	sent.Reset()
	if err := o.send(&pgproto3.ReadyForQuery{TxStatus: 'I'}); err != nil {
		t.Fatal(err)
	}
	if err := o.flush(true); err != nil {
		t.Fatal(err)
	}
	if o.buf != nil {
		t.Errorf("an idle session keeps a buffer of %d bytes", cap(o.buf))
	}
	msg, err := pgproto3.NewFrontend(&sent, io.Discard).Receive()
	if rfq, ok := msg.(*pgproto3.ReadyForQuery); err != nil || !ok || rfq.TxStatus != 'I' {
		t.Fatalf("sent %v, %v", msg, err)
	}
}
