package bastion

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/sourcelimit"
)

// Why a connection was closed by the bastion rather than by the client.
var (
	errShutdown         = errors.New("server shutdown")
	errHandshakeTimeout = errors.New("handshake timeout")
	errIdleTimeout      = errors.New("idle timeout")
)

// timedConn is the TCP connection under the SSH server. It closes the
// connection if authentication has not succeeded within the handshake
// timeout, and it notices when gliderlabs/ssh's idle deadline (reset on
// every read and write) is what ended it. Whoever closes it first says
// why, and that cause is what the session's end records.
type timedConn struct {
	net.Conn
	handshake *time.Timer

	// limiter admitted the connection for source; it is told when the
	// connection authenticates or closes without having done so.
	limiter *sourcelimit.Limiter
	source  netip.Prefix

	mu       sync.Mutex
	cause    error      // first reason given for closing
	cs       *connState // set by connCallback
	closed   bool
	authDone bool // authenticated has run
}

func newTimedConn(c net.Conn, handshakeTimeout time.Duration, limiter *sourcelimit.Limiter, source netip.Prefix) *timedConn {
	tc := &timedConn{Conn: c, limiter: limiter, source: source}
	tc.handshake = time.AfterFunc(handshakeTimeout, func() { tc.closeWith(errHandshakeTimeout) })
	return tc
}

func (c *timedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.noteDeadline(err)
	return n, err
}

func (c *timedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.noteDeadline(err)
	return n, err
}

func (c *timedConn) noteDeadline(err error) {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		c.closeWith(errIdleTimeout)
	}
}

// authenticated stops the handshake timer and gives the source its
// attempt back.
func (c *timedConn) authenticated() {
	c.handshake.Stop()
	c.mu.Lock()
	first := !c.authDone && !c.closed
	c.authDone = true
	c.mu.Unlock()
	if first {
		c.limiter.Succeeded(c.source)
	}
}

// closeWith closes the connection and, unless a cause was given already,
// records why. The connection's context is cancelled with the cause before
// the socket closes, so the cause is what everything downstream sees.
func (c *timedConn) closeWith(cause error) {
	c.mu.Lock()
	if c.cause == nil {
		c.cause = cause
	}
	cs := c.cs
	c.mu.Unlock()
	if cs != nil {
		cs.cancel(cause)
	}
	c.Close()
}

func (c *timedConn) Close() error {
	c.handshake.Stop()
	c.mu.Lock()
	already := c.closed
	c.closed = true
	unauthenticated := !c.authDone
	c.mu.Unlock()
	if already {
		return nil
	}
	if unauthenticated {
		c.limiter.Failed()
	}
	return c.Conn.Close()
}

// attach links the connection to its session state. A cause given before
// (a shutdown racing the connection's start) is passed on.
func (c *timedConn) attach(cs *connState) {
	c.mu.Lock()
	c.cs = cs
	cause := c.cause
	c.mu.Unlock()
	if cause != nil {
		cs.cancel(cause)
	}
}

func (c *timedConn) state() *connState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cs
}
