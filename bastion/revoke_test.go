package bastion

import (
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gatehouse-dev/gatehouse/recorder"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// TestRevocationEndsLiveSession: once IsRevoked reports a live session's
// certificate, EnforceRevocation ends the session (its channel first, then
// the connection), records why, and the certificate no longer logs in.
func TestRevocationEndsLiveSession(t *testing.T) {
	var revoked atomic.Bool
	f := newFixture(t, func(_ *fixture, c *Config) {
		c.IsRevoked = func(c *gossh.Certificate) bool { return revoked.Load() && c.Serial == testIdentity.Serial }
	})
	cert := f.goodCert()
	client := f.login(cert)
	defer client.Close()
	bystander := f.login(f.cert(f.userCA, func(c *gossh.Certificate) { c.Serial = 7 }, nil))
	defer bystander.Close()
	ch := f.openEchoing(client, "orders")

	revoked.Store(true)
	if n := f.srv.EnforceRevocation(); n != 1 {
		t.Fatalf("EnforceRevocation found %d sessions, want 1", n)
	}
	waitEnded(t, client, "revoked session")
	if _, err := io.ReadAll(ch); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("channel read after revocation: %v", err)
	}
	if ch, err := openDirect(bystander, "orders", f.port("orders")); err != nil {
		t.Fatalf("a session with another certificate was affected: %v", err)
	} else {
		ch.Close()
	}
	bystander.Close()

	_, banners, err := f.connect(func(cfg *gossh.ClientConfig) { cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(cert)} })
	if err == nil {
		t.Fatal("a revoked certificate logged in again")
	}
	if !strings.Contains(strings.Join(banners, ""), "revoked") {
		t.Errorf("banners %q do not say the certificate is revoked", banners)
	}
	f.stop()
	sessions := f.sessions()
	if len(sessions) != 3 {
		t.Fatalf("%d sessions, want 3", len(sessions))
	}
	evs := withEvent(t, sessions, event.TypeSessionRevoked)
	wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthSuccess, event.TypeChannelOpen, event.TypeSessionRevoked, event.TypeChannelClose, event.TypeSessionEnd)
	rev := one(t, evs, event.TypeSessionRevoked)
	wantField(t, rev, "reason", "certificate revoked")
	wantField(t, rev, "serial", testIdentity.Serial)
	wantField(t, one(t, evs, event.TypeChannelClose), "error", "certificate revoked")
	wantField(t, one(t, evs, event.TypeSessionEnd), "reason", "gatehouse: session ended: certificate revoked")
	wantField(t, one(t, withEvent(t, sessions, event.TypeAuthFailure), event.TypeAuthFailure), "reason", "revoked")
}

// withEvent is the one session that recorded an event of type typ.
func withEvent(t *testing.T, sessions [][]recorder.Event, typ event.Type) []recorder.Event {
	t.Helper()
	var found []recorder.Event
	for _, evs := range sessions {
		if len(only(t, evs, typ)) > 0 {
			if found != nil {
				t.Fatalf("more than one session recorded %s", typ)
			}
			found = evs
		}
	}
	if found == nil {
		t.Fatalf("no session recorded %s", typ)
	}
	return found
}

// TestRevocationDuringAuthentication: a certificate revoked between its
// verification and the end of authentication (when EnforceRevocation
// cannot see the session yet) is caught by the check that follows.
func TestRevocationDuringAuthentication(t *testing.T) {
	var calls atomic.Int32
	f := newFixture(t, func(_ *fixture, c *Config) {
		// publicKeyHandler and verifiedKey ask first; the list changes
		// before authenticated asks.
		c.IsRevoked = func(*gossh.Certificate) bool { return calls.Add(1) > 2 }
	})
	client, _, err := f.connect(func(cfg *gossh.ClientConfig) { cfg.Auth = []gossh.AuthMethod{gossh.PublicKeys(f.goodCert())} })
	if err == nil {
		done := make(chan error, 1)
		go func() { done <- client.Wait() }()
		select {
		case <-done:
		case <-time.After(revokeGrace + 3*time.Second):
			t.Fatal("session revoked during authentication still open")
		}
		client.Close()
	}
	evs := f.events()
	wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthSuccess, event.TypeSessionRevoked, event.TypeSessionEnd)
}

// sessions returns the events of every recorded session, oldest first,
// once each has ended.
func (f *fixture) sessions() [][]recorder.Event {
	f.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, err := f.store.List(recorder.KindSession)
		if err != nil {
			f.t.Fatal(err)
		}
		var out [][]recorder.Event
		for _, id := range ids {
			lines, err := f.store.Lines(recorder.KindSession, id)
			if err != nil {
				f.t.Fatal(err)
			}
			evs, err := recorder.VerifyChain(lines)
			if err != nil || len(evs) == 0 || evs[len(evs)-1].Type != event.TypeSessionEnd {
				break
			}
			out = append(out, evs)
		}
		if len(out) == len(ids) {
			return out
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d of %d sessions ended", len(out), len(ids))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
