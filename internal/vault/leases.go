package vault

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Leases leases dynamic credentials (e.g. database/creds/ROLE), renews each
// while it is held and revokes it when released. Close revokes whatever is
// still held, for a bastion that is shutting down.
type Leases struct {
	Client *Client
	// RevokeTimeout bounds a revocation, which runs even when the
	// session's context has ended; 0: 10s.
	RevokeTimeout time.Duration

	mu     sync.Mutex
	held   map[*Lease]struct{}
	closed bool
}

// Lease is one lease of credentials. Release it exactly once.
type Lease struct {
	ID       string
	Username string
	Password string

	leases *Leases
	stop   context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Acquire reads credentials at path (GET /v1/PATH) and starts renewing
// their lease. The renewal goroutine ends at Release or Close, not with
// ctx, which only bounds the read.
func (l *Leases) Acquire(ctx context.Context, path string) (*Lease, error) {
	op := "lease credentials from " + path
	s, err := l.Client.api.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, explain(op, l.Client.cfg.Address, err)
	}
	if s == nil || s.LeaseID == "" {
		return nil, &Error{Op: op, Err: fmt.Errorf("no lease at %s", path), Fix: "credentials.vault must name a dynamic secret such as database/creds/ROLE"}
	}
	user, _ := s.Data["username"].(string)
	pass, _ := s.Data["password"].(string)
	lease := &Lease{ID: s.LeaseID, Username: user, Password: pass, leases: l, done: make(chan struct{})}
	if user == "" || pass == "" {
		l.revoke(lease.ID)
		return nil, &Error{Op: op, Err: fmt.Errorf("no username and password in %s", path), Fix: "credentials.vault must name a database secrets engine role: database/creds/ROLE"}
	}
	renewCtx, stop := context.WithCancel(context.Background())
	lease.stop = stop
	if !l.hold(lease) {
		stop()
		l.revoke(lease.ID)
		return nil, fmt.Errorf("vault: %s: the bastion is shutting down", op)
	}
	go lease.renew(renewCtx, time.Duration(s.LeaseDuration)*time.Second, s.Renewable)
	return lease, nil
}

func (l *Leases) hold(lease *Lease) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if l.held == nil {
		l.held = map[*Lease]struct{}{}
	}
	l.held[lease] = struct{}{}
	return true
}

// Release stops renewing and revokes the lease, so the database role is
// dropped now rather than when the lease would have expired.
func (lease *Lease) Release() {
	lease.once.Do(func() {
		lease.stop()
		<-lease.done
		l := lease.leases
		l.mu.Lock()
		delete(l.held, lease)
		l.mu.Unlock()
		l.revoke(lease.ID)
	})
}

// Close releases every lease still held and refuses new ones.
func (l *Leases) Close() {
	l.mu.Lock()
	l.closed = true
	held := make([]*Lease, 0, len(l.held))
	for lease := range l.held {
		held = append(held, lease)
	}
	l.mu.Unlock()
	for _, lease := range held {
		lease.Release()
	}
}

func (l *Leases) revoke(id string) {
	timeout := l.RevokeTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.Client.api.Sys().RevokeWithContext(ctx, id); err != nil {
		l.Client.log.Error("vault lease not revoked; it ends at its TTL", "lease_id", id,
			"error", explain("revoke lease "+id, l.Client.cfg.Address, err))
	}
}

// renew keeps the lease alive at two thirds of each lifetime Vault grants,
// asking for the lifetime it first had. A refused renewal is logged; the
// credentials then last until the lease's max_ttl.
func (lease *Lease) renew(ctx context.Context, ttl time.Duration, renewable bool) {
	defer close(lease.done)
	increment := int(ttl / time.Second)
	for renewable && ttl > 0 {
		t := time.NewTimer(renewalDelay(ttl))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		s, err := lease.leases.Client.api.Sys().RenewWithContext(ctx, lease.ID, increment)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			lease.leases.Client.log.Error("vault lease renewal failed", "lease_id", lease.ID,
				"error", explain("renew lease "+lease.ID, lease.leases.Client.cfg.Address, err))
			ttl = retryDelay * 3 / 2 // try again after retryDelay
		case s != nil:
			ttl, renewable = time.Duration(s.LeaseDuration)*time.Second, s.Renewable
		}
	}
	<-ctx.Done()
}
