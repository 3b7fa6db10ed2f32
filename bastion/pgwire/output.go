package pgwire

import (
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Output buffers kept between flushes: up to maxKeptOutput while a result
// or COPY streams (a larger one, grown by a huge row, is dropped), and up
// to maxIdleOutput once the exchange is over, so that an idle session
// holds little whatever it read before.
const (
	maxKeptOutput = 1 << 20
	maxIdleOutput = 16 << 10
)

// output is what a copier has encoded for its peer and not yet written.
// pgproto3's Backend and Frontend replace their buffers with a 1 KiB one
// whenever a flush wrote more, so a result streamed to the client (or COPY
// data to the database) in 64 KiB flushes grew a new buffer from 1 KiB at
// every flush: allocations, and the garbage collector's work, per row.
// This buffer is kept.
type output struct {
	w   io.Writer
	buf []byte
}

// send encodes m after what is waiting. An encoding error (a message too
// large for the protocol) leaves the buffer as it was.
func (o *output) send(m pgproto3.Message) error {
	b, err := m.Encode(o.buf)
	if err != nil {
		return err
	}
	o.buf = b
	return nil
}

// flush writes what is waiting. idle says the exchange is over (the peer
// now waits for the other side), when a large buffer is let go.
func (o *output) flush(idle bool) error {
	_, err := o.w.Write(o.buf)
	o.buf = o.buf[:0]
	if c := cap(o.buf); c > maxKeptOutput || idle && c > maxIdleOutput {
		o.buf = nil
	}
	return err
}

// discard drops what is waiting, unsent.
func (o *output) discard() {
	o.buf = o.buf[:0]
}
