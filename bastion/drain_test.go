package bastion

import (
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/policy"
	"github.com/gatehouse-dev/gatehouse/recorder/event"
)

// withDrainTimeout sets ssh.drain_timeout.
func withDrainTimeout(d time.Duration) fixtureOption {
	return func(_ *fixture, c *Config) { c.Policy.SSH.DrainTimeout = policy.Duration(d) }
}

// served waits for Serve to return on its own (no cancellation), within
// d, checks it returned nil and that none of its goroutines is left.
func (f *fixture) waitServed(d time.Duration) {
	f.t.Helper()
	select {
	case err := <-f.served:
		close(f.served)
		if err != nil {
			f.t.Errorf("Serve: %v", err)
		}
		noBastionGoroutines(f.t)
	case <-time.After(d):
		f.t.Fatalf("Serve did not return within %v of the drain", d)
	}
}

// TestDrainLetsLiveSessionsFinish: after Drain no connection is accepted,
// a live session goes on working, and Serve returns once it ends, well
// before the drain timeout, with the session's own reason.
func TestDrainLetsLiveSessionsFinish(t *testing.T) {
	f := newFixture(t, withDrainTimeout(time.Minute))
	client := f.login(f.goodCert())
	ch := f.openEchoing(client, "orders")

	f.srv.Drain()
	f.srv.Drain() // twice is harmless
	waitRefused(t, f.addr)
	// The live session goes on: its channel echoes, and a new channel opens.
	if _, err := ch.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(ch, make([]byte, 4)); err != nil {
		t.Fatalf("a live channel stopped at the drain: %v", err)
	}
	f.openEchoing(client, "orders").Close()
	ch.Close()
	client.Close()

	f.waitServed(10 * time.Second)
	// (waitRefused's probes may have been accepted as the listener closed.)
	evs := withEvent(t, f.sessions(), event.TypeAuthSuccess)
	wantField(t, one(t, evs, event.TypeSessionEnd), "reason", "client disconnected")
	if n := len(only(t, evs, event.TypeChannelOpen)); n != 2 {
		t.Errorf("%d channels opened, want 2", n)
	}
}

// TestDrainTimeoutEndsSessions: sessions still live when the drain
// timeout ends are ended with the drain's reason, recorded, and the
// connection still in its handshake is closed too.
func TestDrainTimeoutEndsSessions(t *testing.T) {
	const timeout = 500 * time.Millisecond
	f := newFixture(t, withDrainTimeout(timeout))
	client := f.login(f.goodCert())
	defer client.Close()
	ch := f.openEchoing(client, "orders")
	raw, err := net.Dial("tcp", f.addr) // never says a word
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	waitLive(t, f.srv, 2)

	began := time.Now()
	f.srv.Drain()
	f.waitServed(timeout + revokeGrace + 5*time.Second)
	if took := time.Since(began); took < timeout {
		t.Errorf("sessions ended %v after the drain, before its timeout %v", took, timeout)
	}
	waitEnded(t, client, "drained session")
	if _, err := io.ReadAll(ch); err != nil && !errors.Is(err, io.EOF) {
		t.Logf("channel read after the drain: %v", err)
	}
	sessions := f.sessions()
	if len(sessions) != 2 {
		t.Fatalf("%d sessions, want 2", len(sessions))
	}
	for _, evs := range sessions {
		wantField(t, one(t, evs, event.TypeSessionEnd), "reason", "gatehouse: session ended: server draining")
	}
	authed := withEvent(t, sessions, event.TypeAuthSuccess)
	wantTypes(t, authed, event.TypeSessionStart, event.TypeAuthSuccess, event.TypeChannelOpen, event.TypeChannelClose, event.TypeSessionEnd)
	wantField(t, one(t, authed, event.TypeChannelClose), "error", "gatehouse: session ended: server draining")
}

// TestShutdownDuringDrain: cancelling Serve's context while it drains
// ends the sessions at once, as a shutdown.
func TestShutdownDuringDrain(t *testing.T) {
	f := newFixture(t, withDrainTimeout(time.Minute))
	client := f.login(f.goodCert())
	defer client.Close()
	f.openEchoing(client, "orders")
	f.srv.Drain()
	waitRefused(t, f.addr)
	began := time.Now()
	f.stop()
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("Serve took %v to stop during a drain", took)
	}
	wantField(t, one(t, withEvent(t, f.sessions(), event.TypeAuthSuccess), event.TypeSessionEnd), "reason", "server shutdown")
}

// waitRefused waits until addr refuses TCP connections.
func waitRefused(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections after Drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLive waits until n connections have their recording open.
func waitLive(t *testing.T, s *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.live.all()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d live connections, want %d", len(s.live.all()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRecordedSeesEveryEvent: Config.Recorded is told of each event a
// session records, with its payload. Events recorded on different
// goroutines (a channel closing while another is refused) may reach it in
// another order than the recording's, so the two are compared as sets.
func TestRecordedSeesEveryEvent(t *testing.T) {
	var mu sync.Mutex
	var seen []event.Type
	var reason string
	f := newFixture(t, func(_ *fixture, c *Config) {
		c.Recorded = func(typ event.Type, data any) {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, typ)
			if end, ok := data.(event.SessionEnd); ok {
				reason = end.Reason
			}
		}
	})
	client := f.login(f.goodCert())
	f.openEchoing(client, "orders").Close()
	if _, err := openDirect(client, "nowhere", 1); err == nil {
		t.Fatal("a channel to an unknown target opened")
	}
	client.Close()
	evs := f.events()
	f.stop()
	mu.Lock()
	defer mu.Unlock()
	if want := types(evs); !slices.Equal(slices.Sorted(slices.Values(seen)), slices.Sorted(slices.Values(want))) {
		t.Errorf("Recorded saw %v, the recording has %v", seen, want)
	}
	if reason != "client disconnected" {
		t.Errorf("Recorded's session.end reason %q", reason)
	}
}
