package bastion

import (
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// errRevoked is why a revoked session ends. pgwire shows its Message to a
// database client as a FATAL error with SQLSTATE 57P01 (admin_shutdown,
// what PostgreSQL sends when an administrator ends a backend); the rest of
// the session records it as the reason.
var errRevoked = &pgwire.Error{Code: "57P01", Message: "gatehouse: session ended: certificate revoked"}

// revokeGrace is how long a session the bastion ends (revoked, expired)
// gives its channels to tell their clients why, after their context is
// cancelled and before the connection is closed under them.
const revokeGrace = 2 * time.Second

// EnforceRevocation ends every authenticated session whose certificate
// Config.IsRevoked now reports revoked, and returns how many it found.
// Call it whenever the revocation list changes. Each session ends in the
// background, on a goroutine of its connection, within revokeGrace: its
// channels' contexts are cancelled (a PostgreSQL client reads
// errRevoked's message), then the SSH connection is closed.
func (s *Server) EnforceRevocation() int {
	n := 0
	for _, cs := range s.live.all() {
		if cred := cs.credential(); cred != nil && s.cfg.IsRevoked(cred.cert) && cs.inBackground(cs.revoke) {
			n++
		}
	}
	return n
}

// revoke ends an authenticated session whose certificate was revoked.
func (cs *connState) revoke() {
	cred := cs.credential()
	if cred == nil {
		return
	}
	cs.terminate(termination{
		event: event.TypeSessionRevoked,
		data:  event.SessionRevoked{Reason: "certificate revoked", KeyFacts: factsOf(cred.cert)},
		cause: errRevoked,
	})
}

// termination is why the bastion ends a session that the client and the
// connection would otherwise keep: the event that records it (none for a
// drain: session.end's reason says it), and the
// cause its channels end with (a PostgreSQL client reads its Message as a
// FATAL error).
type termination struct {
	event event.Type
	data  any
	cause *pgwire.Error
}

// terminate ends an authenticated session: it records why, cancels the
// channels, gives them revokeGrace to tell their clients, and closes the
// connection. It runs once per connection; later calls, and calls once
// the session is ending anyway, return at once. It runs on the handshake
// goroutine or on one of the connection's (inBackground), which finish
// waits for, so session.end still comes last.
func (cs *connState) terminate(t termination) {
	cs.mu.Lock()
	// Already terminated, or already ending (finish has begun).
	skip := cs.terminated || cs.ended
	cs.terminated = true
	// No handler may begin from now on, so waiting for those in flight
	// (below) cannot race a new one.
	cs.ended = true
	cs.mu.Unlock()
	if skip {
		return
	}
	cs.log.Warn("ending the session", "event", t.event, "cause", t.cause.Message)
	if t.event != "" {
		_ = cs.record(t.event, t.data)
	}
	cs.cancel(t.cause)
	idle := make(chan struct{})
	var waiter sync.WaitGroup
	waiter.Go(func() {
		cs.active.Wait()
		close(idle)
	})
	// The handlers end with the connection; finish waits for them too.
	defer waiter.Wait()
	timer := time.NewTimer(revokeGrace)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
		cs.log.Warn("the session's channels did not end within the grace period; closing the connection under them", "grace", revokeGrace)
	}
	cs.conn.closeWith(t.cause)
}
