// Package relay copies bytes both ways between two connections until both
// directions are done or a context ends. End of input on one side is passed
// on to the other as a half-close, so request/response protocols that
// signal "no more requests" by shutting down their write side keep working
// through the relay.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Stats counts the bytes that crossed the relay in each direction.
type Stats struct {
	AToB int64 // read from a and written to b
	BToA int64 // read from b and written to a
}

// closeWriter is the optional half-close ability of *net.TCPConn,
// *net.UnixConn, *tls.Conn and ssh.Channel.
type closeWriter interface{ CloseWrite() error }

// Relay copies a→b and b→a concurrently and returns when both directions
// have finished. It owns a and b: both are closed before it returns.
//
// When one side reaches end of input, the other side's write half is
// closed (CloseWrite) and the opposite direction keeps flowing. A side
// without CloseWrite cannot be half-closed, so end of input from the other
// side ends the whole relay instead.
//
// A read or write error ends the relay and is returned, wrapped with its
// direction; end of input and errors caused by the relay closing a side
// itself are not errors. When ctx is cancelled both sides are closed and
// Relay returns context.Cause(ctx). Stats are valid in every case.
func Relay(ctx context.Context, a, b io.ReadWriteCloser) (Stats, error) {
	r := &relay{a: a, b: b}
	errc := make(chan error, 2) // one slot per copier: neither ever blocks on send
	go r.copyAToB(errc)
	go r.copyBToA(errc)

	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		r.byContext.Store(true)
		r.closeBoth()
		close(cancelled)
	})

	var first error
	for range 2 {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	if !stop() {
		<-cancelled // the cancellation ran or is running: let it finish
	}
	r.closeBoth()
	if first == nil && r.byContext.Load() {
		first = context.Cause(ctx)
	}
	return r.stats, first
}

type relay struct {
	a, b  io.ReadWriteCloser
	stats Stats // each field written by one copier, read after both finished

	closeOnce sync.Once
	closing   atomic.Bool // set before the relay closes a and b itself
	byContext atomic.Bool // the closing was caused by ctx
}

func (r *relay) copyAToB(errc chan<- error) {
	errc <- r.copy(r.b, r.a, &r.stats.AToB, "a to b")
}

func (r *relay) copyBToA(errc chan<- error) {
	errc <- r.copy(r.a, r.b, &r.stats.BToA, "b to a")
}

// copy moves src to dst until src ends, then half-closes dst.
func (r *relay) copy(dst, src io.ReadWriteCloser, n *int64, dir string) error {
	written, err := io.Copy(dst, src)
	*n = written
	switch {
	case r.closing.Load():
		// We closed the connections (cancellation, or the other direction
		// failed): whatever this copy saw is a consequence, not a cause.
		return nil
	case err == nil:
		r.passEOF(dst)
		return nil
	case errors.Is(err, io.EOF):
		// An ssh.Channel returns io.EOF from Write once the peer has
		// closed it: the peer is gone, which is an end, not a failure.
		return nil
	default:
		r.closeBoth() // unblock the other copier
		return fmt.Errorf("relay: copy %s: %w", dir, err)
	}
}

// passEOF tells dst's peer that no more data is coming. The CloseWrite
// error is dropped: it fails only when dst is already closed, which the
// other copier observes on its own.
func (r *relay) passEOF(dst io.ReadWriteCloser) {
	if cw, ok := dst.(closeWriter); ok {
		_ = cw.CloseWrite()
		return
	}
	r.closeBoth()
}

func (r *relay) closeBoth() {
	r.closeOnce.Do(func() {
		r.closing.Store(true)
		_ = r.a.Close()
		_ = r.b.Close()
	})
}
