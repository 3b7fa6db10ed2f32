package pgwire

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// CancelRegistry maps the cancel keys gatehouse gives clients (in its own
// BackendKeyData) to the upstream sessions they cancel. A client's
// CancelRequest arrives on a new connection, so one registry is shared by
// all the sessions of a bastion. The zero value is ready to use; it is safe
// for concurrent use.
//
// The client is shown the upstream backend's real process id, which
// pg_stat_activity, pg_terminate_backend and pools' health checks use, with
// a random secret of gatehouse's own: the upstream's secret never leaves
// gatehouse, so a cancel can only go through it. Sessions on different
// servers may have the same process id; the secret tells them apart.
type CancelRegistry struct {
	mu       sync.Mutex
	sessions map[uint32][]cancelEntry // by process id
}

type cancelEntry struct {
	secret [4]byte
	cancel func(context.Context) error
	target any // the session's Config.CancelTarget
}

// CancelAttempt is a CancelRequest as Config.OnCancel is told of it.
type CancelAttempt struct {
	// ProcessID is the process id of the key the client sent: the
	// database backend's it claims to cancel (with a secret of
	// gatehouse's, which decides whether it is Matched).
	ProcessID uint32
	// Matched is true when the key names a live session of the registry:
	// the request will be forwarded to its database session.
	Matched bool
	// Target is that session's Config.CancelTarget; nil when not Matched.
	Target any
}

// register gives the session of the upstream backend pid a fresh random
// secret and returns the BackendKeyData to show its client, and the
// function that forgets it. Protocol 3.0 keys are a 4-byte process id and
// a 4-byte secret.
func (r *CancelRegistry) register(pid uint32, cancel func(context.Context) error, target any) (*pgproto3.BackendKeyData, func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions == nil {
		r.sessions = map[uint32][]cancelEntry{}
	}
	e := cancelEntry{cancel: cancel, target: target}
	for taken := true; taken; {
		rand.Read(e.secret[:])
		taken = r.find(pid, e.secret[:]) >= 0
	}
	r.sessions[pid] = append(r.sessions[pid], e)
	key := &pgproto3.BackendKeyData{ProcessID: pid, SecretKey: e.secret[:]}
	return key, func() { r.forget(pid, e.secret) }
}

func (r *CancelRegistry) forget(pid uint32, secret [4]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i := r.find(pid, secret[:]); i >= 0 {
		r.sessions[pid] = slices.Delete(r.sessions[pid], i, i+1)
	}
	if len(r.sessions[pid]) == 0 {
		delete(r.sessions, pid)
	}
}

// find returns the index of pid's entry with secret, or -1. Every entry
// of pid is compared, in constant time, so the time taken says nothing of
// how much of a guessed secret was right.
func (r *CancelRegistry) find(pid uint32, secret []byte) int {
	found := -1
	for i, e := range r.sessions[pid] {
		if subtle.ConstantTimeCompare(e.secret[:], secret) == 1 {
			found = i
		}
	}
	return found
}

// lookup returns the entry of a client's key; ok is false when the key
// names no live session.
func (r *CancelRegistry) lookup(pid uint32, secret []byte) (e cancelEntry, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.find(pid, secret)
	if i < 0 {
		return cancelEntry{}, false
	}
	return r.sessions[pid][i], true
}

// upstreamCancel sends PostgreSQL's CancelRequest for one upstream backend,
// over a new connection made like the session's own (protocol §55.2.8).
type upstreamCancel struct {
	network, address string
	dial             pgconn.DialFunc
	tlsConfig        *tls.Config // nil: the session's connection is not TLS
	directTLS        bool        // sslnegotiation=direct
	pid              uint32
	secret           []byte
}

func newUpstreamCancel(hc *pgconn.HijackedConn) *upstreamCancel {
	c := &upstreamCancel{
		dial:      hc.Config.DialFunc,
		tlsConfig: hc.TLSConfig,
		directTLS: hc.Config.SSLNegotiation == "direct",
		pid:       hc.PID,
		secret:    hc.SecretKey,
	}
	// The address actually reached, not the configured one, which may list
	// fallbacks; for a unix socket the peer name is relative, so the config's.
	if a := hc.Conn.RemoteAddr(); a != nil && a.Network() != "unix" {
		c.network, c.address = a.Network(), a.String()
	} else {
		c.network, c.address = pgconn.NetworkAddress(hc.Config.Host, hc.Config.Port)
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{}).DialContext
	}
	return c
}

func (c *upstreamCancel) cancel(ctx context.Context) error {
	conn, err := c.dial(ctx, c.network, c.address)
	if err != nil {
		return fmt.Errorf("cancel: dial: %w", err)
	}
	defer conn.Close()
	stop := closeOnExpiry(ctx, cancelTimeout, conn)
	defer stop()
	if c.tlsConfig != nil {
		// Encrypted like the session, so the key does not cross the network
		// in the clear (as libpq 17 does).
		if conn, err = c.startTLS(ctx, conn); err != nil {
			return fmt.Errorf("cancel: %w", err)
		}
	}
	msg, err := (&pgproto3.CancelRequest{ProcessID: c.pid, SecretKey: c.secret}).Encode(nil)
	if err != nil {
		return fmt.Errorf("cancel: %w", err)
	}
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("cancel: write: %w", err)
	}
	// The server closes the connection once it has acted on the request;
	// waiting for that keeps the cancel from racing the session's next query.
	_, _ = conn.Read(make([]byte, 1))
	return nil
}

func (c *upstreamCancel) startTLS(ctx context.Context, conn net.Conn) (net.Conn, error) {
	if !c.directTLS {
		req, _ := (&pgproto3.SSLRequest{}).Encode(nil)
		if _, err := conn.Write(req); err != nil {
			return nil, err
		}
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil {
			return nil, err
		}
		if b[0] != 'S' {
			return nil, errors.New("server refused TLS")
		}
	}
	tc := tls.Client(conn, c.tlsConfig.Clone())
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return tc, nil
}
