package bastion

import (
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
// background, within revokeGrace: its channels' contexts are cancelled
// (a PostgreSQL client reads errRevoked's message), then the SSH
// connection is closed.
func (s *Server) EnforceRevocation() int {
	s.mu.Lock()
	var hit []*connState
	for _, cs := range s.byAddr {
		if cred := cs.credential(); cred != nil && s.cfg.IsRevoked(cred.cert) {
			hit = append(hit, cs)
		}
	}
	s.mu.Unlock()
	for _, cs := range hit {
		go cs.revoke()
	}
	return len(hit)
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
// connection would otherwise keep: the event that records it, and the
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
// the session is ending anyway, return at once. finish waits for it, so
// session.end still comes last.
func (cs *connState) terminate(t termination) {
	cs.mu.Lock()
	// Already terminated, or already ending (finish has begun).
	skip := cs.terminated || cs.ended
	cs.terminated = true
	// No handler may begin from now on, so waiting for those in flight
	// (below) cannot race a new one.
	cs.ended = true
	if !skip {
		cs.terminating.Add(1)
	}
	cs.mu.Unlock()
	if skip {
		return
	}
	defer cs.terminating.Done()
	cs.log.Warn("ending the session", "event", t.event, "cause", t.cause.Message)
	_ = cs.record(t.event, t.data)
	cs.cancel(t.cause)
	idle := make(chan struct{})
	go func() {
		cs.active.Wait()
		close(idle)
	}()
	timer := time.NewTimer(revokeGrace)
	defer timer.Stop()
	select {
	case <-idle:
	case <-timer.C:
		cs.log.Warn("the session's channels did not end within the grace period; closing the connection under them", "grace", revokeGrace)
	}
	cs.conn.closeWith(t.cause)
}
