package bastion

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// evSessionRevoked records that the bastion ended a session because its
// certificate was revoked while it was open.
const evSessionRevoked = "session.revoked"

type sessionRevoked struct {
	Reason string `json:"reason"`
	keyFacts
}

// errRevoked is why a revoked session ends. pgwire shows its Message to a
// database client as a FATAL error with SQLSTATE 57P01 (admin_shutdown,
// what PostgreSQL sends when an administrator ends a backend); the rest of
// the session records it as the reason.
var errRevoked = &pgwire.Error{Code: "57P01", Message: "gatehouse: session ended: certificate revoked"}

// revokeGrace is how long a revoked session's channels have to tell their
// clients why, after their context is cancelled and before the
// connection is closed under them.
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

// revoke ends an authenticated session whose certificate was revoked. It
// runs once per connection; later calls return at once.
func (cs *connState) revoke() {
	cred := cs.credential()
	if cred == nil {
		return
	}
	cs.mu.Lock()
	// Already revoked, or already ending (finish has begun): nothing to do.
	skip := cs.revoked || cs.ended
	cs.revoked = true
	// No handler may begin from now on, so waiting for those in flight
	// (below) cannot race a new one.
	cs.ended = true
	cs.mu.Unlock()
	if skip {
		return
	}
	cs.log.Warn("certificate revoked; ending the session", "key_id", cred.cert.KeyId, "serial", cred.cert.Serial)
	_ = cs.record(evSessionRevoked, sessionRevoked{Reason: "certificate revoked", keyFacts: factsOf(cred.cert)})
	cs.cancel(errRevoked)
	idle := make(chan struct{})
	go func() {
		cs.active.Wait()
		close(idle)
	}()
	t := time.NewTimer(revokeGrace)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
		cs.log.Warn("revoked session's channels did not end within the grace period; closing the connection under them", "grace", revokeGrace)
	}
	cs.conn.closeWith(errRevoked)
}
