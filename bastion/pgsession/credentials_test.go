package pgsession

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bastion/pgwire"
	"github.com/gatehouse-dev/gatehouse/policy"
)

const vaultPolicy = `
data_dir: /nonexistent
vault: {address: "https://vault.internal:8200", token_env: VAULT_TOKEN}
targets:
  orders:
    protocol: postgres
    address: db.internal:5432
    roles:
      readonly:
        credentials: {vault: database/creds/orders-ro}
`

// fakeSource leases like Vault's database engine, counting releases.
type fakeSource struct {
	err      error
	paths    []string
	released int
}

func (f *fakeSource) lease(_ context.Context, path string) (*LeasedCredential, error) {
	f.paths = append(f.paths, path)
	if f.err != nil {
		return nil, f.err
	}
	return &LeasedCredential{User: "v-token-ro-1", Password: "s3cret", LeaseID: "database/creds/orders-ro/abc",
		Release: func() { f.released++ }}, nil
}

type unreachable struct{}

func (unreachable) Error() string     { return "vault: dial tcp: connection refused" }
func (unreachable) Unreachable() bool { return true }

func vaultSession(t *testing.T, src CredentialSource) *pgSession {
	cfg, err := policy.Parse([]byte(vaultPolicy))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Policy: cfg, Credentials: src})
	if err != nil {
		t.Fatal(err)
	}
	return &pgSession{p: p, log: slog.New(slog.NewTextHandler(io.Discard, nil)), target: "orders", spec: cfg.Targets["orders"], roles: []string{"readonly"}}
}

func TestAuthorizeLeasesCredentials(t *testing.T) {
	src := &fakeSource{}
	s := vaultSession(t, src.lease)
	up, err := s.authorize(context.Background(), pgwire.Startup{User: "readonly", Database: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if up.Config.User != "v-token-ro-1" || up.Config.Password != "s3cret" {
		t.Errorf("upstream as %q/%q, want the leased credentials", up.Config.User, up.Config.Password)
	}
	if len(src.paths) != 1 || src.paths[0] != "database/creds/orders-ro" || s.leaseID() != "database/creds/orders-ro/abc" {
		t.Errorf("leased %v, lease id %q", src.paths, s.leaseID())
	}
	s.releaseCredentials()
	s.releaseCredentials()
	if src.released != 1 || s.leaseID() != "" {
		t.Errorf("released %d times, want once", src.released)
	}
}

func TestAuthorizeRefusedWithoutCredentials(t *testing.T) {
	for _, tc := range []struct {
		name    string
		src     CredentialSource
		code    string
		message string
	}{
		{"vault unreachable", (&fakeSource{err: unreachable{}}).lease, "08001", "cannot reach Vault"},
		{"vault refuses", (&fakeSource{err: errors.New(`vault: lease credentials from database/creds/orders-ro: unknown role: orders-ro (Vault has no role "orders-ro")`)}).lease, "28000", "Vault refused"},
		{"no source wired", nil, "28000", "Vault refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := vaultSession(t, tc.src).authorize(context.Background(), pgwire.Startup{User: "readonly", Database: "orders"})
			var pe *pgwire.Error
			if !errors.As(err, &pe) || pe.Code != tc.code || !strings.Contains(pe.Message, tc.message) {
				t.Fatalf("err = %#v, want %s %q", err, tc.code, tc.message)
			}
			if strings.Contains(pe.Message, "database/creds") {
				t.Errorf("the client is shown Vault paths: %q", pe.Message)
			}
		})
	}
}
