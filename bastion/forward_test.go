package bastion

import (
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/recorder/event"
	gossh "golang.org/x/crypto/ssh"
)

func TestForwardRelaysToTarget(t *testing.T) {
	f := newFixture(t)
	signer := f.goodCert("orders:readonly", "orders:admin", "billing:readonly")
	client := f.login(signer)

	conn, err := client.Dial("tcp", net.JoinHostPort("orders", strconv.Itoa(f.port("orders"))))
	if err != nil {
		t.Fatalf("dial orders through the bastion: %v", err)
	}
	msg := "SELECT 1; -- through the bastion"
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	// The half-close travels to the target, whose half-close comes back
	// after the echo: ReadAll ends only if both directions pass EOF.
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != msg {
		t.Fatalf("read %q, %v; want the echo %q", got, err, msg)
	}
	conn.Close()
	client.Close()

	evs := f.events()
	wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthSuccess, event.TypeChannelOpen, event.TypeChannelClose, event.TypeSessionEnd)

	start := one(t, evs, event.TypeSessionStart)
	wantField(t, start, "client_version", "SSH-2.0-Go")
	wantField(t, start, "server_addr", f.addr)

	auth := one(t, evs, event.TypeAuthSuccess)
	cert := signer.PublicKey().(*gossh.Certificate)
	wantField(t, auth, "name", "alice@example.com")
	wantField(t, auth, "key_id", "alice@example.com")
	wantField(t, auth, "serial", 42)
	wantField(t, auth, "user", "whoever")
	wantField(t, auth, "key_fingerprint", gossh.FingerprintSHA256(cert.Key))
	wantField(t, auth, "ca_fingerprint", gossh.FingerprintSHA256(f.userCA.PublicKey()))
	wantField(t, auth, "principals", []any{"orders:readonly", "orders:admin", "billing:readonly"})
	if _, ok := auth["valid_before"]; !ok {
		t.Errorf("auth.success lacks valid_before: %v", auth)
	}
	id := auth["identity"].(map[string]any)
	wantField(t, id, "email", "alice@example.com")
	wantField(t, id, "iss", "https://idp.test")

	open := one(t, evs, event.TypeChannelOpen)
	wantField(t, open, "channel", 1)
	wantField(t, open, "target", "orders")
	wantField(t, open, "roles", []any{"readonly", "admin"})
	wantField(t, open, "port", f.port("orders"))

	closed := one(t, evs, event.TypeChannelClose)
	wantField(t, closed, "channel", 1)
	wantField(t, closed, "bytes_to_target", len(msg))
	wantField(t, closed, "bytes_from_target", len(msg))
	wantField(t, closed, "error", "")

	end := one(t, evs, event.TypeSessionEnd)
	wantField(t, end, "channels", 1)
	wantField(t, end, "reason", "client disconnected")

	if d := f.dials(); !slices.Equal(d, []string{f.targets["orders"]}) {
		t.Errorf("dialled %v, want only the orders target", d)
	}
}

// TestSessionEndAfterChannelClose: a client that vanishes with channels
// open still gets each channel.close recorded before session.end.
func TestSessionEndAfterChannelClose(t *testing.T) {
	f := newFixture(t)
	client := f.login(f.goodCert("orders:readonly", "billing:readonly"))
	for _, target := range []string{"orders", "billing", "orders"} {
		ch, err := openDirect(client, target, f.port(target))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(ch, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	client.Close() // channels still open

	evs := f.events()
	if got := len(only(t, evs, event.TypeChannelClose)); got != 3 {
		t.Fatalf("%d channel.close events, want 3: %v", got, types(evs))
	}
	if evs[len(evs)-1].Type != event.TypeSessionEnd {
		t.Fatalf("last event %s, want session.end", evs[len(evs)-1].Type)
	}
	wantField(t, one(t, evs, event.TypeSessionEnd), "channels", 3)
}

func TestChannelRefusals(t *testing.T) {
	type testCase struct {
		name       string
		principals []string
		edit       func(*gossh.Certificate) // changes the certificate before signing
		host       string
		port       func(f *fixture) int
		code       gossh.RejectionReason
		message    string // in the client's rejection
		reason     string // in channel.refused
	}
	ordersPort := func(f *fixture) int { return f.port("orders") }
	cases := []testCase{
		{
			name: "unknown target", host: "payments", port: ordersPort, code: gossh.Prohibited,
			message: `gatehouse: unknown target "payments"; name a target your certificate grants (orders:readonly)`,
			reason:  "unknown target",
		},
		{
			name: "IPv4 address", host: "10.0.0.5", port: ordersPort, code: gossh.Prohibited,
			message: `gatehouse: "10.0.0.5" is an address; addresses are not allowed, name a target instead (your certificate grants: orders:readonly), e.g. ssh -N -L`,
			reason:  "destination is an address",
		},
		{
			name: "IPv6 address", host: "::1", port: ordersPort, code: gossh.Prohibited,
			message: `addresses are not allowed`, reason: "destination is an address",
		},
		{
			name: "host name", host: "db.internal", port: ordersPort, code: gossh.Prohibited,
			message: `addresses are not allowed`, reason: "destination is an address",
		},
		{
			name: "target address itself", host: "127.0.0.1", port: ordersPort, code: gossh.Prohibited,
			message: `addresses are not allowed`, reason: "destination is an address",
		},
		{
			name: "wrong port", host: "orders", port: func(*fixture) int { return 22 }, code: gossh.Prohibited,
			message: `gatehouse: target "orders" is reached on port`, reason: "port 22 is not the target's port",
		},
		{
			name: "principal for another target", principals: []string{"billing:readonly"},
			host: "orders", port: ordersPort, code: gossh.Prohibited,
			message: `gatehouse: no grant for target "orders" (your certificate grants: billing:readonly)`,
			reason:  `no grant for target "orders"`,
		},
		{
			// sshd opens no forwarding for a certificate without the
			// extension; neither does gatehouse.
			name: "certificate without permit-port-forwarding",
			edit: func(c *gossh.Certificate) { delete(c.Extensions, permitPortForwarding) },
			host: "orders", port: ordersPort, code: gossh.Prohibited,
			message: "gatehouse: your certificate does not permit port forwarding (it has no permit-port-forwarding extension)",
			reason:  "certificate does not permit port forwarding",
		},
		{
			name: "role the policy does not define", principals: []string{"orders:superuser"},
			host: "orders", port: ordersPort, code: gossh.Prohibited,
			message: `gatehouse: no grant for target "orders" (your certificate grants: orders:superuser)`,
			reason:  `no grant for target "orders"`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			cert := f.goodCert(tc.principals...)
			if tc.edit != nil {
				cert = f.cert(f.userCA, tc.edit, nil)
			}
			client := f.login(cert)
			_, err := openDirect(client, tc.host, tc.port(f))
			var oce *gossh.OpenChannelError
			if !errors.As(err, &oce) {
				t.Fatalf("open channel: %v, want a rejection", err)
			}
			if oce.Reason != tc.code || !strings.Contains(oce.Message, tc.message) {
				t.Errorf("rejected with %v %q, want %v containing %q", oce.Reason, oce.Message, tc.code, tc.message)
			}
			client.Close()

			evs := f.events()
			wantTypes(t, evs, event.TypeSessionStart, event.TypeAuthSuccess, event.TypeChannelRefused, event.TypeSessionEnd)
			ev := one(t, evs, event.TypeChannelRefused)
			wantField(t, ev, "type", "direct-tcpip")
			wantField(t, ev, "host", tc.host)
			wantField(t, ev, "port", tc.port(f))
			wantField(t, ev, "origin", "127.0.0.1:50000")
			wantField(t, ev, "reason", tc.reason)
			wantField(t, one(t, evs, event.TypeSessionEnd), "channels", 0)
			if d := f.dials(); len(d) > 0 {
				t.Errorf("dialled %v for a refused channel", d)
			}
		})
	}
}

func TestUnreachableTarget(t *testing.T) {
	f := newFixture(t)
	// Point orders at a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	f.pol.Targets["orders"].Address = dead
	port := f.pol.Targets["orders"].Port()

	client := f.login(f.goodCert())
	_, err = openDirect(client, "orders", port)
	var oce *gossh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != gossh.ConnectionFailed || oce.Message != `gatehouse: target "orders" is unreachable` {
		t.Fatalf("open channel: %v, want connection failed for an unreachable target", err)
	}
	client.Close()
	ev := one(t, f.events(), event.TypeChannelRefused)
	wantField(t, ev, "reason", "dial target: ")
}

// TestCertificateRecheckedAtChannelOpen: every channel is new access, so
// a certificate that expired or was revoked after authentication opens
// nothing more.
func TestCertificateRecheckedAtChannelOpen(t *testing.T) {
	t.Run("expired", func(t *testing.T) {
		clock := newClock()
		f := newFixture(t, func(_ *fixture, c *Config) { c.Clock = clock.now })
		client := f.login(f.goodCert())
		clock.advance(2 * time.Hour) // past ValidBefore and the skew
		_, err := openDirect(client, "orders", f.port("orders"))
		var oce *gossh.OpenChannelError
		if !errors.As(err, &oce) || !strings.Contains(oce.Message, "certificate expired at") {
			t.Fatalf("open channel: %v, want refusal for an expired certificate", err)
		}
		client.Close()
		wantField(t, one(t, f.events(), event.TypeChannelRefused), "reason", "certificate expired at")
	})
	t.Run("revoked", func(t *testing.T) {
		var revoked atomic.Bool
		f := newFixture(t, func(_ *fixture, c *Config) {
			c.IsRevoked = func(*gossh.Certificate) bool { return revoked.Load() }
		})
		client := f.login(f.goodCert())
		revoked.Store(true)
		_, err := openDirect(client, "orders", f.port("orders"))
		var oce *gossh.OpenChannelError
		if !errors.As(err, &oce) || !strings.Contains(oce.Message, "certificate serial 42 is revoked") {
			t.Fatalf("open channel: %v, want refusal for a revoked certificate", err)
		}
		client.Close()
		wantField(t, one(t, f.events(), event.TypeChannelRefused), "reason", "revoked")
	})
}
