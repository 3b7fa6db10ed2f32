package pgwire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The relay's readers. pgproto3's Backend and Frontend read into an 8 KiB
// buffer that each keeps for its whole life, and read into it while they
// wait: 16 KiB a session, idle or not (docs/benchmarks.md, "Idle sessions,
// attributed"). msgReader waits in a small buffer of its own instead, big
// enough for most of an agent's statements and of their replies, so that
// such a message still costs one read; only a message, or a burst of
// messages, larger than that borrows a pooled buffer, given back once its
// bytes are consumed.
const (
	// smallReadBuffer is the buffer a reader keeps for the session.
	smallReadBuffer = 512
	// minPooledBuffer is the smallest borrowed buffer: PostgreSQL's own
	// send buffer (PQ_SEND_BUFFER_SIZE, pqcomm.c), so a streamed result
	// costs the reads it did with pgproto3.
	minPooledBuffer = 8 << 10
	// pooledClasses is how many sizes are pooled, doubling from
	// minPooledBuffer (8 KiB … 1 MiB); a larger buffer is the garbage
	// collector's once given back.
	pooledClasses = 8
)

// readPools holds the borrowed buffers, one pool per size class.
var readPools [pooledClasses]sync.Pool

// sizeClass is the class of the smallest pooled buffer holding n bytes,
// or -1 when none does.
func sizeClass(n int) int {
	if n <= minPooledBuffer {
		return 0
	}
	c := bits.Len(uint(n-1)) - bits.Len(uint(minPooledBuffer-1))
	if c >= pooledClasses {
		return -1
	}
	return c
}

// borrow returns a buffer of at least n bytes.
func borrow(n int) *[]byte {
	c := sizeClass(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if b, ok := readPools[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, minPooledBuffer<<c)
	return &b
}

// giveBack returns a borrowed buffer to its pool.
func giveBack(b *[]byte) {
	if c := sizeClass(len(*b)); c >= 0 && len(*b) == minPooledBuffer<<c {
		readPools[c].Put(b)
	}
}

// msgReader splits a byte stream into protocol messages (PostgreSQL
// protocol §55.7: a type byte, then a length that counts itself). The
// slices it returns are valid until its next call, like pgproto3's.
type msgReader struct {
	r       io.Reader
	maxBody int // 0: no limit

	small  [smallReadBuffer]byte
	buf    []byte  // small[:] or *pooled
	pooled *[]byte // the borrowed buffer, while one is
	rp, wp int     // buf[rp:wp] is read and not yet consumed
	// burst says the last read filled the buffer: more is likely waiting,
	// and goes into a borrowed buffer rather than in small pieces.
	burst bool
}

func (r *msgReader) init(rd io.Reader, maxBody int) {
	r.r, r.maxBody = rd, maxBody
	r.buf = r.small[:]
}

// buffered is how many bytes were read and not yet consumed.
func (r *msgReader) buffered() int { return r.wp - r.rp }

// borrowing says whether the reader holds a pooled buffer.
func (r *msgReader) borrowing() bool { return r.pooled != nil }

// header reads a message's type and the length of its body, refusing a
// length below 4 and a body over maxBody with pgproto3's own errors.
func (r *msgReader) header() (byte, int, error) {
	h, err := r.next(5)
	if err != nil {
		return 0, 0, err
	}
	n := int(int32(binary.BigEndian.Uint32(h[1:])))
	if n < 4 {
		return 0, 0, fmt.Errorf("invalid message length: %d", n)
	}
	if r.maxBody > 0 && n-4 > r.maxBody {
		return 0, 0, &pgproto3.ExceededMaxBodyLenErr{MaxExpectedBodyLen: r.maxBody, ActualBodyLen: n - 4}
	}
	return h[0], n - 4, nil
}

// next returns the next n bytes.
func (r *msgReader) next(n int) ([]byte, error) {
	if r.wp-r.rp < n {
		if err := r.fill(n); err != nil {
			return nil, err
		}
	}
	b := r.buf[r.rp : r.rp+n : r.rp+n]
	r.rp += n
	return b, nil
}

// fill reads until n bytes are buffered, as many as fit in one read.
func (r *msgReader) fill(n int) error {
	r.choose(n)
	have := r.wp - r.rp
	if len(r.buf)-r.rp < n {
		r.wp = copy(r.buf, r.buf[r.rp:r.wp])
		r.rp = 0
	}
	m, err := io.ReadAtLeast(r.r, r.buf[r.wp:], n-have)
	r.wp += m
	r.burst = r.wp == len(r.buf)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF // as pgproto3 says it
	}
	return err
}

// choose picks the buffer the read for n bytes goes into. With nothing
// buffered the read may wait for the peer for ever, so it goes into the
// small buffer whenever n fits there: an idle reader holds no borrowed
// buffer. A borrowed one serves a message larger than the small buffer,
// and the rest of a burst, which is on its way.
func (r *msgReader) choose(n int) {
	have := r.wp - r.rp
	switch {
	case have == 0 && n <= smallReadBuffer:
		r.release()
	case n > len(r.buf) || have > 0 && r.burst && r.pooled == nil:
		r.grow(n)
	}
}

// grow moves what is buffered into a borrowed buffer of at least n bytes.
func (r *msgReader) grow(n int) {
	b := borrow(max(n, minPooledBuffer))
	r.wp = copy(*b, r.buf[r.rp:r.wp])
	r.rp = 0
	if r.pooled != nil {
		giveBack(r.pooled)
	}
	r.pooled, r.buf = b, *b
}

// release gives the borrowed buffer back; nothing is buffered.
func (r *msgReader) release() {
	r.rp, r.wp = 0, 0
	if r.pooled == nil {
		return
	}
	giveBack(r.pooled)
	r.pooled, r.buf = nil, r.small[:]
}
