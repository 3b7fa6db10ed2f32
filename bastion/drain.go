package bastion

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// errDrained is why the bastion ends a session still live when a drain's
// timeout ends (Drain). A PostgreSQL client reads its Message as a FATAL
// error with SQLSTATE 57P01 (admin_shutdown, what PostgreSQL sends when
// it shuts down); the session records it as session.end's reason.
var errDrained = &pgwire.Error{Code: "57P01", Message: "gatehouse: session ended: server draining"}

// Drain starts a graceful stop: every Serve stops accepting connections
// at once, and returns once the connections it accepted have ended, or,
// after ssh.drain_timeout, once it has ended the rest with errDrained.
// Cancelling Serve's context still ends everything at once. Drain may be
// called more than once, from any goroutine.
func (s *Server) Drain() {
	s.drainOnce.Do(func() { close(s.draining) })
}

// isDraining reports whether Drain was called.
func (s *Server) isDraining() bool {
	select {
	case <-s.draining:
		return true
	default:
		return false
	}
}

// drainConns lets the connections of a draining Serve run until they
// have all ended (idle is closed), for at most the drain timeout, and
// then ends those left with errDrained and waits for them. It returns
// early once done is closed (Serve's context: stop at once).
func (s *Server) drainConns(conns *connSet, idle, done <-chan struct{}) {
	s.log.Info("draining: no new connections; live sessions go on until they end or the drain timeout", "sessions", len(conns.all()), "timeout", s.drainTimeout)
	timer := time.NewTimer(s.drainTimeout)
	defer timer.Stop()
	select {
	case <-idle:
		return
	case <-done:
		return
	case <-timer.C:
	}
	ended := 0
	for _, tc := range conns.all() {
		if endDrained(tc) {
			ended++
		}
	}
	s.log.Warn("drain timeout: ending the sessions still live", "sessions", ended, "timeout", s.drainTimeout)
	select {
	case <-idle:
	case <-done:
	}
}

// endDrained ends one connection at the end of a drain: an authenticated
// session like a revoked one (its channels are told why, within
// revokeGrace), any other connection by closing it. It reports whether
// the connection was still there to end.
func endDrained(tc *timedConn) bool {
	cs := tc.state()
	if cs != nil && cs.credential() != nil {
		return cs.inBackground(func() { cs.terminate(termination{cause: errDrained}) })
	}
	tc.closeWith(errDrained)
	return true
}
