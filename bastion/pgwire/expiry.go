package pgwire

import (
	"context"
	"io"
	"sync"
	"time"
)

// closeOnExpiry closes c when ctx ends or d passes, whichever comes first,
// unless the returned stop is called before. A blocked Read or Write on c
// then returns, which is how a client that stalls a handshake, or stops
// reading, is kept from holding a session open: the client side of Serve
// needs nothing but Close to be interrupted (an SSH channel has no
// deadlines). stop reports whether c was closed, and returns only once the
// closing is over, so no goroutine of it outlives the caller.
func closeOnExpiry(ctx context.Context, d time.Duration, c io.Closer) (stop func() (expired bool)) {
	var (
		mu       sync.Mutex
		stopped  bool
		expired  bool
		inflight sync.WaitGroup
	)
	fire := func() {
		defer inflight.Done()
		mu.Lock()
		defer mu.Unlock()
		if !stopped && !expired {
			expired = true
			c.Close()
		}
	}
	inflight.Add(2) // one for each way to fire; a way that is stopped never runs
	t := time.AfterFunc(d, fire)
	stopCtx := context.AfterFunc(ctx, fire)
	return func() bool {
		if t.Stop() {
			inflight.Done()
		}
		if stopCtx() {
			inflight.Done()
		}
		mu.Lock()
		stopped = true
		mu.Unlock()
		inflight.Wait()
		return expired
	}
}
