package pgsession

import (
	"fmt"
	"sync"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
)

// codeTooManyConnections is PostgreSQL's too_many_connections, what the
// database itself answers when max_connections is reached.
const codeTooManyConnections = "53300"

// dbSessions counts the database sessions open through the bastion, for
// each target and for each certificate on it, so that one client (one SSH
// connection or many with the same certificate) cannot take every
// connection the database has. A session counts from its start-up being
// authorized until it ends.
type dbSessions struct {
	mu       sync.Mutex
	byTarget map[string]int
	byCert   map[certOnTarget]int
}

type certOnTarget struct{ target, cert string }

// certKey names a certificate for counting: its serial and its key, so
// that two certificates with the same serial (from two authorities, or
// for two keys) are told apart, and one certificate's SSH connections are
// not.
func certKey(cert *gossh.Certificate) string {
	if cert == nil {
		return ""
	}
	return fmt.Sprintf("%d %s", cert.Serial, gossh.FingerprintSHA256(cert.Key))
}

// acquire counts one more session of cert on target, or refuses it with
// the error the client gets (SQLSTATE 53300, naming the limit and its
// setting). release must be called once when the session ends.
func (d *dbSessions) acquire(target, cert string, total, perCert int) (release func(), err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byTarget == nil {
		d.byTarget, d.byCert = map[string]int{}, map[certOnTarget]int{}
	}
	key := certOnTarget{target, cert}
	switch {
	case d.byCert[key] >= perCert:
		return nil, &pgwire.Error{Code: codeTooManyConnections, Message: fmt.Sprintf(
			"gatehouse: too many database sessions to %s with this certificate: %d are open, the limit is %d (targets.%s.max_sessions_per_certificate); close one first",
			target, d.byCert[key], perCert, target)}
	case d.byTarget[target] >= total:
		return nil, &pgwire.Error{Code: codeTooManyConnections, Message: fmt.Sprintf(
			"gatehouse: too many database sessions to %s: %d are open through gatehouse, the limit is %d (targets.%s.max_sessions); try again later",
			target, d.byTarget[target], total, target)}
	}
	d.byTarget[target]++
	d.byCert[key]++
	var once sync.Once
	return func() { once.Do(func() { d.release(key) }) }, nil
}

func (d *dbSessions) release(key certOnTarget) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.byCert[key]--; d.byCert[key] <= 0 {
		delete(d.byCert, key)
	}
	if d.byTarget[key.target]--; d.byTarget[key.target] <= 0 {
		delete(d.byTarget, key.target)
	}
}
