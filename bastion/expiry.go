package bastion

import (
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// watchExpiry arranges for the session to end when cred's certificate
// expires, on a goroutine of the connection's (inBackground). The certificate was checked as current a moment ago, and
// checkShape refuses any without an end.
func (cs *connState) watchExpiry(cred *credential) {
	until, ok := validBefore(cred.cert)
	if !ok {
		return
	}
	stop := cs.srv.cfg.afterFunc(until.Sub(cs.srv.cfg.Clock()), func() {
		cs.inBackground(func() { cs.expire(cred, until) })
	})
	cs.mu.Lock()
	cs.stopExpiry = stop
	cs.mu.Unlock()
}

// expire ends the session of an expired certificate: every channel and
// database session with it, a PostgreSQL client reading a FATAL that says
// when and what to run.
func (cs *connState) expire(cred *credential, until time.Time) {
	cs.terminate(termination{
		event: event.TypeSessionExpired,
		data:  event.SessionExpired{Reason: "certificate expired", ValidBefore: until, KeyFacts: factsOf(cred.cert)},
		cause: &pgwire.Error{Code: "57P01", Message: expiredMessage(cred, until)},
	})
}

// expiredMessage tells the client its session ended and how to get a
// certificate that lets it connect again.
func expiredMessage(cred *credential, until time.Time) string {
	fix := "run `gatehouse login` for a new certificate, then connect again"
	if agent := cred.identity.Agent; agent != "" {
		fix = fmt.Sprintf("ask for a new agent certificate (`gatehouse agent-cert --agent %s ...`), then connect again", agent)
	}
	return fmt.Sprintf("gatehouse: session ended: certificate expired at %s; %s", until.UTC().Format(time.RFC3339), fix)
}
