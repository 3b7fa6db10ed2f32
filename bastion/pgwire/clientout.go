package pgwire

import (
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// maxKeptOutput is the largest output buffer kept from one flush to the
// next; a larger one (a huge row) is dropped so that one result does not
// hold its memory for the rest of the session.
const maxKeptOutput = 1 << 20

// clientOutput is what upstreamToClient has encoded for the client and not
// yet written. pgproto3's Backend replaces its buffer with a 1 KiB one
// whenever a flush wrote more, so a result streamed in 64 KiB flushes grew
// a new buffer from 1 KiB at every flush (allocations, and the garbage
// collector's work, per row); this buffer is kept.
type clientOutput struct {
	w   io.Writer
	buf []byte
}

// send encodes m after what is waiting. An encoding error (a message too
// large for the protocol) leaves the buffer as it was.
func (o *clientOutput) send(m pgproto3.BackendMessage) error {
	b, err := m.Encode(o.buf)
	if err != nil {
		return err
	}
	o.buf = b
	return nil
}

// flush writes what is waiting.
func (o *clientOutput) flush() error {
	_, err := o.w.Write(o.buf)
	o.buf = o.buf[:0]
	if cap(o.buf) > maxKeptOutput {
		o.buf = nil
	}
	return err
}
