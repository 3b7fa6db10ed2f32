package vault

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func newLeases(t *testing.T, f *fakeVault) *Leases {
	l := &Leases{Client: f.client(t)}
	t.Cleanup(l.Close)
	return l
}

func TestLeaseAcquireAndRelease(t *testing.T) {
	f := newFakeVault(t).on("GET /v1/database/creds/ro", "db-creds-ok").on("POST /v1/sys/leases/revoke", "lease-revoke")
	lease, err := newLeases(t, f).Acquire(context.Background(), "database/creds/ro")
	if err != nil {
		t.Fatal(err)
	}
	if lease.ID != "database/creds/ro/l9WGDAVbE7rqUGsEJWYQyV4A" || lease.Username != "v-token-ro-tZC7eQkAqCeGjJ2ArPLm-1795661983" || lease.Password == "" {
		t.Fatalf("lease %+v", lease)
	}
	lease.Release()
	lease.Release() // a second release is a no-op
	var revokes []fakeRequest
	for _, r := range f.requests() {
		if r.Path == "/v1/sys/leases/revoke" {
			revokes = append(revokes, r)
		}
	}
	if len(revokes) != 1 || !jsonEqual(revokes[0].Body, capturedRequest(t, "lease-revoke")) {
		t.Fatalf("revocations %+v, want one like the capture", revokes)
	}
}

func TestLeaseRenewedWhileHeld(t *testing.T) {
	f := newFakeVault(t).on("GET /v1/database/creds/ro", "db-creds-short-lease").
		on("POST /v1/sys/leases/renew", "lease-renew").on("POST /v1/sys/leases/revoke", "lease-revoke")
	lease, err := newLeases(t, f).Acquire(context.Background(), "database/creds/ro")
	if err != nil {
		t.Fatal(err)
	}
	for r := range f.notify {
		if r.Path == "/v1/sys/leases/renew" {
			if r.Body["lease_id"] != lease.ID {
				t.Errorf("renewed %v, want %s", r.Body["lease_id"], lease.ID)
			}
			break
		}
	}
	lease.Release()
}

func TestCloseRevokesEveryLease(t *testing.T) {
	f := newFakeVault(t).on("GET /v1/database/creds/ro", "db-creds-ok").on("POST /v1/sys/leases/revoke", "lease-revoke")
	l := newLeases(t, f)
	for range 2 {
		if _, err := l.Acquire(context.Background(), "database/creds/ro"); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	n := 0
	for _, r := range f.requests() {
		if r.Path == "/v1/sys/leases/revoke" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d revocations at Close, want 2", n)
	}
	if _, err := l.Acquire(context.Background(), "database/creds/ro"); err == nil || !strings.Contains(err.Error(), "shutting down") {
		t.Errorf("Acquire after Close: %v", err)
	}
}

func TestLeaseRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, exchange, wantFix string
		unreachable             bool
	}{
		{"unknown database role", "db-creds-bad-role", `Vault has no role "nosuch"`, false},
		{"sealed", "db-creds-sealed", "unseal it", false},
		{"permission denied", "ssh-sign-bad-token", "token is expired or revoked", false},
		{"unreachable", "", "did not answer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			l := newLeases(t, f)
			if tc.unreachable {
				f.srv.Close()
			} else {
				f.on("GET /v1/database/creds/ro", tc.exchange)
			}
			_, err := l.Acquire(context.Background(), "database/creds/ro")
			var ve *Error
			if !errors.As(err, &ve) || !strings.Contains(ve.Fix, tc.wantFix) || ve.Unreachable() != tc.unreachable {
				t.Fatalf("err = %v, want a *vault.Error whose fix says %q", err, tc.wantFix)
			}
		})
	}
}

func TestAppRoleLoginAndTokenRenewal(t *testing.T) {
	f := newFakeVault(t).on("POST /v1/auth/approle/login", "approle-login").
		on("GET /v1/auth/token/lookup-self", "token-lookup-self").on("POST /v1/auth/token/renew-self", "token-renew-self")
	fixed := func(v string) func() (string, error) { return func() (string, error) { return v, nil } }
	c, err := New(context.Background(), Config{Address: f.srv.URL, AppRole: &AppRole{RoleID: fixed("rid"), SecretID: fixed("sid")}})
	if err != nil {
		t.Fatal(err)
	}
	login := f.requests()[0]
	if login.Body["role_id"] != "rid" || login.Body["secret_id"] != "sid" {
		t.Errorf("login sent %v", login.Body)
	}
	stop := c.KeepTokenAlive(context.Background())
	for r := range f.notify {
		if r.Path == "/v1/auth/token/renew-self" {
			if r.Token != "hvs.approle-token" {
				t.Errorf("renewed with token %q, want the AppRole one", r.Token)
			}
			break
		}
	}
	stop()
}
