package pgsession

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
)

// CredentialSource leases dynamic database credentials for one session
// from the path a role's credentials.vault names (e.g.
// database/creds/orders-ro). cmd/gatehouse wires in Vault's database
// secrets engine; the bastion knows only this function.
type CredentialSource func(ctx context.Context, path string) (*LeasedCredential, error)

// LeasedCredential is a user and password that live as long as their
// lease. The source keeps the lease renewed until Release, which ends it
// (for Vault, revokes it, dropping the database role).
type LeasedCredential struct {
	User     string
	Password string
	LeaseID  string // recorded in db.session.start; the password never is
	Release  func()
}

// UnavailableError is what a CredentialSource returns when its service did
// not answer, so the client hears "try again" rather than "ask the
// operator to fix the configuration".
type UnavailableError interface {
	error
	Unreachable() bool
}

// leaseCredentials puts a leased user and password into cfg when the
// role's credentials come from Vault. The lease is the session's until
// releaseCredentials.
func (s *pgSession) leaseCredentials(ctx context.Context, cr policy.Credentials, cfg *pgconn.Config) error {
	if cr.Vault == "" {
		return nil
	}
	s.releaseCredentials() // one lease per session, even if asked twice
	source := s.p.cfg.Credentials
	if source == nil {
		return s.credentialsRefused(cr.Vault, errors.New("no credential source is configured (cmd/gatehouse wires Vault in when a Vault connection is configured)"))
	}
	lease, err := source(ctx, cr.Vault)
	if err != nil {
		return s.credentialsRefused(cr.Vault, err)
	}
	s.lease = lease
	cfg.User, cfg.Password = lease.User, lease.Password
	return nil
}

// releaseCredentials ends the session's lease, if it has one.
func (s *pgSession) releaseCredentials() {
	if s.lease != nil {
		s.lease.Release()
		s.lease = nil
	}
}

// leaseID is the session's lease, for the recording.
func (s *pgSession) leaseID() string {
	if s.lease == nil {
		return ""
	}
	return s.lease.LeaseID
}

// credentialsRefused logs why no credentials could be leased (the cause
// names Vault paths and what to change there) and tells the client
// whether to retry or to ask the operator.
func (s *pgSession) credentialsRefused(path string, err error) error {
	s.log.Error("postgres credentials from vault", "target", s.target, "role", s.role, "path", path, "error", err)
	var un UnavailableError
	if errors.As(err, &un) && un.Unreachable() {
		return &pgwire.Error{Code: "08001", Message: fmt.Sprintf(
			"gatehouse: cannot reach Vault for the credentials of %s:%s, so the session was refused; try again shortly, and tell the gatehouse operator if it persists", s.target, s.role)}
	}
	return &pgwire.Error{Code: "28000", Message: fmt.Sprintf(
		"gatehouse: Vault refused the credentials of %s:%s, so the session was refused; tell the gatehouse operator (the bastion's log says what to change in Vault)", s.target, s.role)}
}
